"""The package's imports: every module imports on its own, no two modules of gamo/ import each other (directly or
through others, at module level or inside a function), and none reads the folder's top-level configs/ or fixes.py
(their values reach the package through the resolved config and run.py's arguments)."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gamo"
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def imported(module: str) -> set[str]:
    """Every module name ``gamo/<module>.py`` imports anywhere in its body: sibling modules as ``gamo.<name>``."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names.add(node.module)
                names |= {f"{node.module}.{a.name}" for a in node.names if node.module == "gamo"}
            elif node.level == 1:  # from . import x / from .x import y
                names |= {f"gamo.{a.name}" for a in node.names} if node.module is None else {f"gamo.{node.module}"}
            else:
                raise AssertionError(f"gamo/{module}.py imports from outside the package: level {node.level}")
    return names


def graph() -> dict[str, set[str]]:
    return {m: {n.split(".")[1] for n in imported(m) if n.startswith("gamo.") and n.split(".")[1] in MODULES}
            for m in MODULES}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph (``a -> b -> a``), or None (depth-first search)."""
    state = {}

    def visit(m, path):
        state[m] = "open"
        for n in sorted(edges[m]):
            if state.get(n) == "open":
                return path[path.index(n):] + [n]
            if n not in state:
                found = visit(n, path + [n])
                if found:
                    return found
        state[m] = "done"
        return None

    for m in sorted(edges):
        if m not in state:
            found = visit(m, [m])
            if found:
                return found
    return None


def test_the_imports_of_the_package_form_no_cycle():
    edges = graph()
    assert edges["entry"] >= {"config", "pipeline"} and "pictures" in edges["gamo2pix"]  # the parser sees them
    assert "gamo2pix" in edges["pipeline"]  # imported inside a function: seen too
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges))


def test_the_cycle_check_finds_the_former_circle():
    """gamo2pix.py once imported save_grid from pipeline.py, which imports gamo2pix.py for the GAMO2pix stage."""
    edges = graph()
    edges["gamo2pix"] = edges["gamo2pix"] | {"pipeline"}
    cycle = find_cycle(edges)
    assert cycle[0] == cycle[-1] and sorted(cycle[:-1]) == ["gamo2pix", "pipeline"], cycle


@pytest.mark.parametrize("module", MODULES)
def test_no_module_of_the_package_reads_configs_or_fixes(module):
    tops = {name.split(".")[0] for name in imported(module)}
    assert not tops & {"configs", "fixes", "run"}, f"gamo/{module}.py imports {sorted(tops & {'configs', 'fixes'})}"


FRESH_IMPORTS = """
import importlib, sys
sys.path.insert(0, sys.argv[1])
for module in sys.argv[2:]:
    for name in [n for n in sys.modules if n == "gamo" or n.startswith("gamo.")]:
        del sys.modules[name]  # each module starts with no sibling loaded (Keras itself stays, for speed)
    importlib.import_module("gamo." + module)
    assert not {"configs", "fixes"} & set(sys.modules), module
    print("ok", module)
"""


def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    """A fresh interpreter started outside the folder, with the folder on the path the way run.py's folder is;
    before each module every module of the package is forgotten, so none imports thanks to another."""
    p = subprocess.run([sys.executable, "-c", FRESH_IMPORTS, str(ROOT), *MODULES], capture_output=True, text=True,
                       timeout=600, cwd="/")
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == [w for m in MODULES for w in ("ok", m)]
