"""The package's layout, read statically: no import circle between pipeline modules (none hidden
inside functions either), subpackage __init__.py files import nothing from their submodules, and
the development portal (portal/) is never imported by the library, and no circle between its rooms
either (a subpackage, or a module directly in pipeline/): data flows one way between stages.

Nothing here imports pipeline: every module is parsed with ast, so a circle that only bites in
some import order, or only when a function runs, is still seen.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO  # noqa: E402
PACKAGE = REPO / "pipeline"
DYNAMIC_IMPORTERS = {("importlib", "import_module"), ("builtins", "__import__")}


def module_name(path: Path, root: Path) -> str:
    """pipeline/build/run.py -> pipeline.build.run; pipeline/build/__init__.py -> pipeline.build."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules_of(root: Path) -> dict[str, Path]:
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def absolute_imports(tree: ast.AST, name: str, *, package: bool) -> list[tuple[str, int]]:
    """Every name imported anywhere in the module (top level, functions, TYPE_CHECKING blocks),
    made absolute: ``from .x import y`` gives ``base.x.y`` (the caller decides whether that is
    a module or a name inside ``base.x``). Each with its line number."""
    # The package a relative import starts from: the module's own package, or itself for an __init__.
    own_package = name if package else name.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = own_package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.append((base, node.lineno))
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*"]
    return found


def calls_dynamic_import(tree: ast.AST) -> bool:
    """Whether the module imports modules by name at run time (importlib.import_module, __import__)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name):
                if (function.value.id, function.attr) in DYNAMIC_IMPORTERS:
                    return True
            if isinstance(function, ast.Name) and function.id in {"import_module", "__import__"}:
                return True
    return False


def import_graph(root: Path) -> dict[str, dict[str, int]]:
    """{module: {imported pipeline module: line}} for every module under ``root``.

    An imported name that is not itself a module counts as an import of the module that
    defines it (``from .problems import ExitCode`` -> ``pipeline.problems``). A module that
    imports by name at run time (the source registry's plugin discovery) is taken to import
    every other module of its own package, since it may.
    """
    modules = modules_of(root)
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: dict[str, int] = {}
        for imported, line in absolute_imports(tree, name, package=is_package(path)):
            target = imported
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.setdefault(target, line)
        if calls_dynamic_import(tree):
            own_package = name if is_package(path) else name.rpartition(".")[0]
            for sibling in modules:
                if sibling != name and sibling.rpartition(".")[0] == own_package:
                    edges.setdefault(sibling, 0)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None. Depth-first, in sorted order (stable output)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, {})):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def describe(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    steps = []
    for here, there in zip(cycle, cycle[1:]):
        line = graph[here][there]
        steps.append(f"  {here} (line {line}) -> {there}" if line else f"  {here} (imports its package by name) -> {there}")
    return "import circle:\n" + "\n".join(steps)


def room_of(module: str) -> str:
    """The room a module belongs to: its subpackage (pipeline.build.run -> pipeline.build); a module directly
    in the package is a room of its own (pipeline.transform), and so is the package's own __init__."""
    return ".".join(module.split(".")[:2])


def package_graph(graph: dict[str, dict[str, int]]) -> dict[str, dict[str, tuple[str, int, str]]]:
    """{room: {imported room: (first importing module, its line, the module it imports)}} from the module graph.

    Two modules can each import the other's subpackage without any module-level circle (a.x -> b.y,
    b.z -> a.w): the stages then still depend on each other, which this graph shows.
    """
    rooms: dict[str, dict[str, tuple[str, int, str]]] = {}
    for module in sorted(graph):
        here = room_of(module)
        rooms.setdefault(here, {})
        for target, line in sorted(graph[module].items()):
            there = room_of(target)
            if there != here:
                rooms[here].setdefault(there, (module, line, target))
    return rooms


def describe_rooms(cycle: list[str], rooms: dict[str, dict[str, tuple[str, int, str]]]) -> str:
    steps = []
    for here, there in zip(cycle, cycle[1:]):
        module, line, target = rooms[here][there]
        how = f"line {line}" if line else "imports its package by name"
        steps.append(f"  {here} -> {there} ({module}, {how}: {target})")
    return "circle between subpackages:\n" + "\n".join(steps)


# --------------------------------------------------------------------------- the tests that can fail


def write_package(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


def test_the_checker_finds_a_circle_hidden_inside_a_function(tmp_path: Path) -> None:
    root = write_package(tmp_path, {
        "pkg/__init__.py": '"""doc"""\n',
        "pkg/a/__init__.py": "",
        "pkg/a/one.py": "from ..b.two import thing\n",
        "pkg/b/__init__.py": "",
        "pkg/b/two.py": "def later():\n    from pkg.a import one\n    return one\nthing = 1\n",
        "pkg/c.py": "from . import b\n",
    })
    graph = import_graph(root)
    assert graph["pkg.a.one"] == {"pkg.b.two": 1}
    assert graph["pkg.b.two"] == {"pkg.a": 2, "pkg.a.one": 2}  # the package runs first, then its module
    assert graph["pkg.c"] == {"pkg": 1, "pkg.b": 1}
    assert find_cycle(graph) == ["pkg.a.one", "pkg.b.two", "pkg.a.one"]
    assert describe(find_cycle(graph), graph) == (
        "import circle:\n  pkg.a.one (line 1) -> pkg.b.two\n  pkg.b.two (line 2) -> pkg.a.one")


def test_the_checker_counts_a_registry_that_imports_its_package_by_name(tmp_path: Path) -> None:
    root = write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/src/__init__.py": "",
        "pkg/src/registry.py": "import importlib\nfor n in ['plug']:\n    importlib.import_module(f'pkg.src.{n}')\n",
        "pkg/src/plug.py": "from .registry import register\n",
    })
    graph = import_graph(root)
    assert graph["pkg.src.registry"] == {"pkg.src.plug": 0}
    assert find_cycle(graph) == ["pkg.src.plug", "pkg.src.registry", "pkg.src.plug"]
    # No circle when the plugin does not import the registry back.
    (root / "src" / "plug.py").write_text("VALUE = 1\n", encoding="utf-8")
    assert find_cycle(import_graph(root)) is None


def test_pipeline_has_no_import_circle() -> None:
    graph = import_graph(PACKAGE)
    assert len(graph) > 30 and "pipeline.cli.build" in graph  # the whole package was read
    assert "pipeline.build.run" in graph["pipeline.cli.build"]  # imports inside functions are seen (cli imports lazily)
    cycle = find_cycle(graph)
    assert cycle is None, describe(cycle, graph)


def test_the_checker_finds_a_circle_between_subpackages_that_no_module_circle_shows(tmp_path: Path) -> None:
    # writer -> b.footer and b.reuse -> a.files: no module imports itself back, but a and b need each other.
    root = write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a/__init__.py": "",
        "pkg/a/files.py": "X = 1\n",
        "pkg/a/writer.py": "from ..b import footer\n",
        "pkg/b/__init__.py": "",
        "pkg/b/footer.py": "Y = 2\n",
        "pkg/b/reuse.py": "import os\nfrom pkg.a.files import X\n",
        "pkg/top.py": "from .a.writer import footer\n",
    })
    graph = import_graph(root)
    assert find_cycle(graph) is None
    rooms = package_graph(graph)
    # ``from ..b import footer`` imports pkg.b (run first) and then pkg.b.footer: the first is shown.
    assert rooms == {"pkg": {}, "pkg.a": {"pkg.b": ("pkg.a.writer", 1, "pkg.b")},
                     "pkg.b": {"pkg.a": ("pkg.b.reuse", 2, "pkg.a.files")},
                     "pkg.top": {"pkg.a": ("pkg.top", 1, "pkg.a.writer")}}
    cycle = find_cycle(rooms)
    assert cycle == ["pkg.a", "pkg.b", "pkg.a"]
    assert describe_rooms(cycle, rooms) == (
        "circle between subpackages:\n"
        "  pkg.a -> pkg.b (pkg.a.writer, line 1: pkg.b)\n"
        "  pkg.b -> pkg.a (pkg.b.reuse, line 2: pkg.a.files)")
    # One way only (b no longer imports a): no circle.
    (root / "b" / "reuse.py").write_text("from .footer import Y\n", encoding="utf-8")
    assert find_cycle(package_graph(import_graph(root))) is None


# Known back edges, each to be removed (fix the import, then delete the entry): the test below fails when
# an entry is no longer needed, so this list cannot go stale.
# Edges allowed against the one-way flow, each with why (none today: file hashing moved below both
# package/ and validate/, into pipeline/hashing.py). A stale entry fails the test.
KNOWN_BACK_EDGES: set[tuple[str, str]] = set()


def test_pipeline_has_no_circle_between_subpackages() -> None:
    rooms = package_graph(import_graph(PACKAGE))
    assert {"pipeline.package", "pipeline.incremental", "pipeline.build", "pipeline.ckan"} <= set(rooms)
    assert "pipeline.package" in rooms["pipeline.incremental"]  # the one direction: incremental builds on package
    for here, there in KNOWN_BACK_EDGES:
        assert there in rooms[here], f"{here} no longer imports {there}: remove it from KNOWN_BACK_EDGES"
        del rooms[here][there]
    cycle = find_cycle(rooms)
    assert cycle is None, describe_rooms(cycle, rooms)


SUBPACKAGE_INITS = sorted(path for path in PACKAGE.rglob("__init__.py"))


@pytest.mark.parametrize("init", SUBPACKAGE_INITS, ids=lambda path: path.parent.relative_to(REPO).as_posix())
def test_package_init_files_import_nothing_from_their_submodules(init: Path) -> None:
    # Importing pipeline.x.y runs pipeline/__init__.py and pipeline/x/__init__.py first: an
    # __init__ that imports its submodules brings the circles back (and the cost of every stage).
    name = module_name(init, PACKAGE)
    tree = ast.parse(init.read_text(encoding="utf-8"))
    inside = [(imported, line) for imported, line in absolute_imports(tree, name, package=True)
              if imported == name or imported.startswith(f"{name}.")]
    assert inside == [], f"{init.relative_to(REPO)} imports from its own package: {inside}"


def test_the_library_never_imports_the_development_portal() -> None:
    portal_modules = set(modules_of(REPO / "portal"))
    assert "portal.manage" in portal_modules  # the portal is where this test expects it
    offenders = []
    for name, path in modules_of(PACKAGE).items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [f"{path.relative_to(REPO)}:{line} imports {imported}"
                      for imported, line in absolute_imports(tree, name, package=is_package(path))
                      if imported == "portal" or imported.startswith("portal.")]
    assert offenders == []
