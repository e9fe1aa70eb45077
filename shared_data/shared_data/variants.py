"""What a run is: the method's faithful behaviour, or named corrections of it.

Each method folder declares its opt-in corrections once, in a framework-free ``fixes.py``::

    FIXES = (
        Fix("ce_reduction", "sum", choices=("sum", "mean"), help="classifier CE over the batch",
            original="sums the CE over the batch (model.py L88)"),
        ...
    )

That one table generates the command-line flags (:func:`add_arguments`), the run's variant name and its
``faithful`` flag (:func:`resolve`), and the flag table of the method's README (:func:`markdown_table`). The
default of every fix is the released code's behaviour, so a run is faithful exactly when no fix differs from
its default.

>>> from shared_data.variants import Fix, resolve
>>> table = (Fix("cls_loss", "mse", choices=("mse", "ce"), help="M's loss"),
...          Fix("separate_optimizers", False, help="one Adam per player"))
>>> resolve({"cls_loss": "mse", "separate_optimizers": False}, table, base="gamo")
Variant(name='gamo', faithful=True, fixes={})
>>> resolve({"cls_loss": "ce", "separate_optimizers": True}, table, base="gamo").name
'gamo+cls-loss=ce+separate-optimizers'
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path

FIXES_START = "<!-- fixes:start (generated from fixes.py; do not edit) -->"
FIXES_END = "<!-- fixes:end -->"
_SECTION = re.compile(r"<!-- fixes:start[^>]*-->\n(.*?)" + re.escape(FIXES_END), re.S)


@dataclass(frozen=True)
class Fix:
    """One opt-in correction: its config key, the released code's value (``default``) and its flag."""

    key: str
    default: object
    help: str = ""
    original: str = ""
    choices: tuple | None = None
    type: type | None = None
    flag: str | None = None

    @property
    def is_switch(self) -> bool:
        return isinstance(self.default, bool)

    @property
    def option(self) -> str:
        if self.flag:
            return self.flag
        return "--" + self.key.replace("_", "-")

    def label(self, value) -> str:
        """The readable piece of a variant name: the flag's name, with ``=value`` unless it is a switch."""
        name = self.option[2:]
        if self.is_switch:
            return name
        return f"{name}={_fmt(value)}"


@dataclass(frozen=True)
class Variant:
    name: str
    faithful: bool
    fixes: dict = field(default_factory=dict)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _check_table(fixes) -> None:
    keys = [f.key for f in fixes]
    if len(set(keys)) != len(keys):
        raise ValueError(f"fix keys repeat: {keys}")


def add_arguments(parser: argparse.ArgumentParser, fixes, title: str | None = None) -> argparse._ArgumentGroup:
    """One argument group with a flag per fix; each flag's dest is the fix's key, its default the original's."""
    _check_table(fixes)
    g = parser.add_argument_group(title or "fixes (each off by default: the released code's behaviour; README)")
    for f in fixes:
        text = f.help + (f" (released code: {f.original})" if f.original else "")
        text = text.replace("%", "%%")
        if f.is_switch:
            action = "store_false" if f.default else "store_true"
            g.add_argument(f.option, dest=f.key, action=action, default=f.default, help=text)
        else:
            kwargs = dict(dest=f.key, default=f.default, help=text + f" [default: {_fmt(f.default)}]")
            if f.choices:
                kwargs["choices"] = f.choices
            if f.type:
                kwargs["type"] = f.type
            elif f.default is not None and not f.choices:
                kwargs["type"] = type(f.default)
            if kwargs.get("type") is float:  # a number flag: nan and inf are refused when parsed
                from .cli import finite_float

                kwargs["type"] = finite_float
            g.add_argument(f.option, **kwargs)
    return g


def values(source, fixes) -> dict:
    """Every fix key with its value in ``source`` (a dict or an argparse namespace), the default where absent."""
    get = source.get if isinstance(source, dict) else (lambda k, d: getattr(source, k, d))
    out = {}
    for f in fixes:
        v = get(f.key, f.default)
        out[f.key] = f.default if v is None and f.default is not None else v
    return out


def resolve(vals: dict, fixes, base: str) -> Variant:
    """The variant of a run whose fix values are ``vals``: ``base`` alone when faithful, else base+fix labels."""
    if not base or "+" in base:
        raise ValueError(f"a variant base names the model, without '+': {base!r}")
    active = {}
    labels = []
    for f in fixes:
        v = vals.get(f.key, f.default)
        if v != f.default:
            active[f.key] = v
            labels.append(f.label(v))
    return Variant("+".join([base] + labels), not active, active)


def markdown_table(fixes) -> str:
    """The README table of a method's fixes, in table order."""
    _check_table(fixes)
    lines = ["| flag | the released code (default) | what the flag changes |", "|---|---|---|"]
    for f in fixes:
        if f.is_switch:
            flag = f"`{f.option}`"
        else:
            arg = "{" + ",".join(map(_fmt, f.choices)) + "}" if f.choices else f.key.split("_")[-1].upper()
            flag = f"`{f.option} {arg}` (default `{_fmt(f.default)}`)"
        lines.append(f"| {flag} | {_cell(f.original)} | {_cell(f.help)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def load_table(path: str | Path):
    """Import a method's ``fixes.py`` by path (no framework is imported: the table is plain Python)."""
    import importlib.util

    path = Path(path)
    spec = importlib.util.spec_from_file_location(f"_fixes_{path.parent.name}", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("FIXES", "PAPER_METHOD", "variant_of"):
        if not hasattr(module, name):
            raise ValueError(f"{path} does not define {name}")
    return module


def readme_section(text: str) -> str | None:
    """The generated fixes table of a README, or None when the README has no such section."""
    m = _SECTION.search(text)
    return m.group(1) if m else None


def write_readme(readme: str | Path, fixes) -> bool:
    """Replace the README's generated fixes section; True when it changed."""
    from .records import atomic_write_bytes

    readme = Path(readme)
    text = readme.read_text()
    if readme_section(text) is None:
        raise ValueError(f"{readme} has no fixes section ({FIXES_START} ... {FIXES_END})")
    new = _SECTION.sub(lambda _: f"{FIXES_START}\n{markdown_table(fixes)}{FIXES_END}", text)
    if new != text:
        atomic_write_bytes(readme, new.encode())
    return new != text
