"""The package's shape: every module imports on its own, imports form no cycle, no module is long.

What counts as an import, for the cycle check: every ``import`` statement of a
``syndicate`` module that runs — at module level (class bodies included) and
inside functions.  A function-level ("lazy") import still runs, only later:
it keeps ``syndicate --help`` fast by putting off an SDK, but a cycle hidden
behind one is still a cycle (the first call made while one of the modules is
half-imported fails), so it counts.  Imports under ``if TYPE_CHECKING:`` never
run and only name types for mypy: they do not count.

``from a import b`` is an edge to the module ``a.b`` when there is one, else to
``a``.  Only the imports a file writes are edges: Python's importing of the
parent packages first (``a`` before ``a.b``) is not, since a package's
``__init__`` that imports its own pieces is not a cycle unless a piece imports
a name back from that ``__init__`` — which is an edge, and caught.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "syndicate"
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


# --- every module imports on its own ---------------------------------------------------------------

# One interpreter, fresh for the package: before each module, every syndicate module is dropped
# from sys.modules, so each import starts from nothing of ours (third-party libraries stay loaded:
# they are not what a missing import of ours would hide behind).
IMPORT_EACH_ALONE = """
import importlib, json, sys, traceback
failures = {}
for name in json.loads(sys.argv[1]):
    for loaded in [m for m in sys.modules if m == "syndicate" or m.startswith("syndicate.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failures[name] = traceback.format_exception_only(exc)[-1].strip()
print(json.dumps(failures))
"""


def test_every_module_imports_on_its_own():
    assert len(MODULES) > 50 and "syndicate.summary.credits" in MODULES  # the walk found the package
    done = subprocess.run([sys.executable, "-c", IMPORT_EACH_ALONE, json.dumps(sorted(MODULES))],
                          capture_output=True, text=True, cwd=ROOT, timeout=240)
    assert done.returncode == 0, done.stderr
    failures = json.loads(done.stdout.strip().splitlines()[-1])
    assert not failures, "modules that cannot be imported on their own:\n" + "\n".join(
        f"  {name}: {why}" for name, why in failures.items())


def test_the_import_check_catches_a_module_that_needs_another_imported_first(tmp_path):
    """The check above, on a package whose second module works only once the first was imported."""
    pkg = tmp_path / "syndicate"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "first.py").write_text("VALUE = 1\n")
    (pkg / "second.py").write_text("import syndicate\n\nVALUE = syndicate.first.VALUE\n")  # no import of it
    done = subprocess.run([sys.executable, "-S", "-c", IMPORT_EACH_ALONE,  # -S: not the installed package
                           json.dumps(["syndicate.first", "syndicate.second"])],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    failures = json.loads(done.stdout.strip().splitlines()[-1])
    assert list(failures) == ["syndicate.second"] and "first" in failures["syndicate.second"]


# --- no import cycle ---------------------------------------------------------------------------------


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(module: str, node: ast.Import | ast.ImportFrom, modules: set[str]) -> list[str]:
    """The syndicate modules ``node`` (in ``module``) imports."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: from the module's package, up level - 1
            package = module if MODULES.get(module, Path()).name == "__init__.py" else module.rpartition(".")[0]
            parts = package.split(".")
            package = ".".join(parts[: len(parts) - node.level + 1])
            base = f"{package}.{base}" if base else package
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
    return [name for name in names if name in modules and name != module]


def import_edges(sources: dict[str, str]) -> dict[str, dict[str, int]]:
    """module → {imported module: line of the first import that runs}, from the sources' ASTs."""
    modules = set(sources)
    edges: dict[str, dict[str, int]] = {name: {} for name in sources}

    def walk(module: str, node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child.test):
                for branch in child.orelse:  # the else of TYPE_CHECKING runs; its body never does
                    walk(module, branch)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in _imported(module, child, modules):
                    edges[module].setdefault(target, child.lineno)
            walk(module, child)

    for name, source in sources.items():
        walk(name, ast.parse(source))
    return edges


def find_cycle(edges: dict[str, dict[str, int]]) -> list[str] | None:
    """One import cycle as [a, b, …, a], or None."""
    state: dict[str, str] = {}  # "open" while on the path, "done" after
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for target in sorted(edges.get(module, {})):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[module] = "done"
        return None

    for module in sorted(edges):
        if module not in state and (found := visit(module)):
            return found
    return None


def describe(cycle: list[str], edges: dict[str, dict[str, int]]) -> str:
    """``a -> b -> a  (syndicate/a.py:3 imports b, …)``."""
    steps = [f"{MODULES[a].relative_to(ROOT) if a in MODULES else a}:{edges[a][b]} imports {b}"
             for a, b in zip(cycle, cycle[1:], strict=False)]
    return " -> ".join(cycle) + "  (" + ", ".join(steps) + ")"


def test_the_package_has_no_import_cycle():
    edges = import_edges({name: path.read_text(encoding="utf-8") for name, path in MODULES.items()})
    assert sum(map(len, edges.values())) > 100  # the graph was read, not empty
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + describe(cycle, edges)


def test_the_cycle_check_sees_lazy_imports_and_not_type_only_ones():
    sources = {
        "syndicate.a": "from syndicate import b\n",
        "syndicate.b": "def later():\n    from syndicate.c import X\n",
        "syndicate.c": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import syndicate.b\n",
    }
    assert find_cycle(import_edges(sources)) is None  # c's import of b is for types only
    sources["syndicate.c"] += "def run():\n    import syndicate.a\n"
    edges = import_edges(sources)
    assert find_cycle(edges) == ["syndicate.a", "syndicate.b", "syndicate.c", "syndicate.a"]
    assert edges["syndicate.b"] == {"syndicate.c": 2}


# --- no module is long -------------------------------------------------------------------------------


def test_no_module_is_longer_than_500_lines():
    long = {str(path.relative_to(ROOT)): n for path in MODULES.values()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by job): " + ", ".join(
        f"{name} ({n} lines)" for name, n in sorted(long.items()))
