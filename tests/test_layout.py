"""The house's layout, checked: no import circles in archlab, no folder with more than 15 modules, the
dependency direction of shared/design.md (cli -> study -> {models, profile, report} -> results;
profile never imports models), and `archlab.profile` both a package path and callable."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "archlab"


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in ROOT.rglob("*.py")}


def _type_checking(node) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(path: Path) -> set[str]:
    """Every archlab module `path` imports, at the top or inside a function (lazy imports close
    circles too); a name imported from a package is an edge to the submodule when it is one."""
    name = _module(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    skip = {id(n) for t in ast.walk(ast.parse(path.read_text())) if _type_checking(t)
            for n in ast.walk(t)}
    for node in ast.walk(ast.parse(path.read_text())):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("archlab")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("archlab"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in MODULES else target)
    return {m for m in out if m in MODULES and m != name}


GRAPH = {m: _imports(p) for m, p in MODULES.items()}


def _cycle() -> list[str] | None:
    """One import circle, if there is any (depth-first search for a back edge)."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(GRAPH[m]):
            if state.get(n) == "open":
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        state[m] = "done"
        stack.pop()
        return None

    for m in sorted(GRAPH):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_no_import_circles():
    assert _cycle() is None, " -> ".join(_cycle())


def test_no_folder_holds_more_than_15_modules():
    for folder in [ROOT, *(p for p in ROOT.rglob("*") if p.is_dir() and p.name != "__pycache__")]:
        modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
        assert len(modules) <= 15, f"{folder} holds {len(modules)} modules"


@pytest.mark.parametrize("layer, never", [
    ("archlab.profile", ("archlab.models", "archlab.study", "archlab.report", "archlab.cli",
                         "archlab.api", "archlab.blocks")),
    ("archlab.models", ("archlab.profile", "archlab.study", "archlab.report", "archlab.cli")),
    ("archlab.blocks", ("archlab.models", "archlab.profile", "archlab.study", "archlab.report")),
    ("archlab.report", ("archlab.study", "archlab.cli", "archlab.models")),
    ("archlab.study", ("archlab.cli",)),
])
def test_dependencies_point_one_way(layer, never):
    for m, targets in GRAPH.items():
        if m == layer or m.startswith(layer + "."):
            wrong = [t for t in targets if t.startswith(never)]
            assert not wrong, f"{m} imports {wrong}"


def test_profile_is_a_package_path_and_callable():
    import archlab
    import archlab.profile.deploy.runtimes as runtimes

    assert runtimes.__name__ == "archlab.profile.deploy.runtimes"
    assert callable(archlab.profile) and archlab.profile.profile_module is not None
    report = archlab.profile("lite18", (3, 64, 64), conventions=["archlab"], latency=False)
    assert report.totals["macs"] > 0
