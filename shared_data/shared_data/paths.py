"""Names that become paths: one check for every place a value from a record, a manifest, a plan or a flag is
joined onto a folder.

``safe_name(value, what)`` accepts a plain file or folder name (letters, digits, ``.``, ``_``, ``+``, ``-``;
no separator, not ``.`` or ``..``, not starting with ``..``) and returns it; ``inside(root, path)`` resolves
``path`` (symbolic links and ``..`` included) and returns it when it lies inside ``root``. Both raise
:class:`UnsafePathError` (a ``ValueError``) whose message names ``what`` and says what to do, so a caller
turns it into its one-line error::

    from shared_data.paths import safe_name
    tag = safe_name(args.tag, "--tag")          # before a flag's value becomes part of a folder name
"""
from __future__ import annotations

import os
import re
from pathlib import Path

_NAME = re.compile(r"[A-Za-z0-9._+-]+")


class UnsafePathError(ValueError):
    """A name or path that would lead outside the folder it belongs to."""


def safe_name(value, what: str) -> str:
    """``value`` when it is a plain name that stays in the folder it is joined onto; UnsafePathError otherwise."""
    if not isinstance(value, str) or not _NAME.fullmatch(value) or value.startswith(".."):
        raise UnsafePathError(f"{what} {value!r} is not a plain name: use only letters, digits, '.', '_', '+' and "
                              f"'-' (no path separator, not '.' or '..')")
    if value == ".":
        raise UnsafePathError(f"{what} {value!r} names the folder itself: give a plain name")
    return value


def inside(root: str | os.PathLike, path: str | os.PathLike, what: str = "path") -> Path:
    """``path`` resolved (relative paths from ``root``), when it lies inside ``root`` resolved; UnsafePathError
    naming ``what`` otherwise."""
    base = Path(root).resolve()
    target = (base / path).resolve()  # an absolute ``path`` replaces ``base`` here, and is checked the same way
    if target != base and base not in target.parents:
        raise UnsafePathError(f"{what} {str(path)!r} leads outside {root}: only files inside it may be named")
    return target
