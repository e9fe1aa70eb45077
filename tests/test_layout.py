"""Every method folder has the same shape, so that learning one teaches the next.

- ``run.py``: under 120 lines, built on ``shared_data.skeleton`` (one set of common flags, one stop/resume
  convention, one way errors become exit codes, results written in one place), no ``sys.path`` edit, and no
  exception recognised by its class name or message text;
- ``configs/<dataset>.py``: plain values, ``CONFIG`` and ``BUDGETS``, resolved by ``shared_data.config``;
- the method's package never imports the folder's top-level ``configs`` or ``fixes`` modules (they reach it as
  resolved values), and no module of the package imports another in a circle.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = sorted(p.parent for p in ROOT.glob("*_*/run.py"))
PACKAGES = {"gamo_keras": "gamo", "dgc_tf": "dgc", "caleg_tf": "caleg", "imsic_torch": "imsic", "dfg_torch": "dfg"}
MAX_RUN_PY_LINES = 120


def test_every_method_folder_is_checked():
    assert sorted(f.name for f in FOLDERS) == sorted(PACKAGES)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_run_py_is_a_short_declaration_on_the_skeleton(folder):
    run_py = folder / "run.py"
    text = run_py.read_text()
    assert len(text.splitlines()) < MAX_RUN_PY_LINES, f"{run_py}: {len(text.splitlines())} lines"
    tree = _tree(run_py)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "shared_data"
                for a in n.names}
    assert "skeleton" in imported, f"{run_py} does not import shared_data.skeleton"
    assert "skeleton.main(" in text and "skeleton.Method(" in text
    assert "sys.path" not in text, f"{run_py} edits sys.path"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_no_exception_is_recognised_by_its_name_or_message(folder):
    for path in [folder / "run.py", *sorted((folder / PACKAGES[folder.name]).glob("*.py"))]:
        tree = _tree(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "__name__" and isinstance(node.value, ast.Call) \
                    and getattr(node.value.func, "id", None) == "type":
                pytest.fail(f"{path}:{node.lineno}: type(...).__name__ (catch the exception's class instead)")
            if isinstance(node, ast.ExceptHandler) and node.body:
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Compare) and any(
                            isinstance(c, ast.Call) and getattr(c.func, "id", None) == "str"
                            and c.args and getattr(c.args[0], "id", None) == node.name
                            for c in [sub.left, *sub.comparators]) and any(
                            isinstance(op, (ast.In, ast.NotIn, ast.Eq)) for op in sub.ops):
                        pytest.fail(f"{path}:{sub.lineno}: an exception told apart by its message text")


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_configs_are_plain_values_per_dataset(folder):
    modules = sorted(p for p in (folder / "configs").glob("*.py") if p.name != "__init__.py")
    assert modules, f"{folder}/configs has no <dataset>.py"
    for path in modules:
        names = {t.id for n in _tree(path).body if isinstance(n, ast.Assign) for t in n.targets
                 if isinstance(t, ast.Name)}
        assert {"CONFIG", "BUDGETS"} <= names, f"{path}: defines {sorted(names)}, not CONFIG and BUDGETS"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_the_package_reaches_no_top_level_configs_or_fixes_and_has_no_import_circle(folder):
    package = PACKAGES[folder.name]
    modules = {p.stem: _tree(p) for p in sorted((folder / package).glob("*.py"))}
    edges = {}
    for name, tree in modules.items():
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                assert node.level or mod.split(".")[0] not in ("configs", "fixes"), \
                    f"{folder.name}/{package}/{name}.py imports the top-level {mod}"
                if node.level == 1 and not mod:  # from . import a, b
                    deps |= {a.name for a in node.names}
                elif node.level == 1 or mod.startswith(package + "."):
                    deps.add(mod.split(".")[-1])
            elif isinstance(node, ast.Import):
                for a in node.names:
                    assert a.name.split(".")[0] not in ("configs", "fixes"), \
                        f"{folder.name}/{package}/{name}.py imports the top-level {a.name}"
        edges[name] = {d for d in deps if d in modules and d != name}

    def reaches(start, goal, seen=()):
        return any(d == goal or (d not in seen and reaches(d, goal, (*seen, d))) for d in edges[start])

    circles = sorted(name for name in edges if reaches(name, name))
    assert not circles, f"{folder.name}/{package}: modules in an import circle: {circles}"
