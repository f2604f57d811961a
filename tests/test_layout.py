"""The package layout holds: one home per idea, imports that only point down, small files.

Checked on the real import graph (grimp reads every import statement of the installed package,
those inside functions included), so a new module is covered without editing this file.
"""

from __future__ import annotations

import graphlib
import re
from pathlib import Path

import pytest

PACKAGE = "imitation_kedro"
MAX_LINES = 400


@pytest.fixture(scope="module")
def graph():
    grimp = pytest.importorskip("grimp")
    return grimp.build_graph(PACKAGE, cache_dir=None)


@pytest.fixture(scope="module")
def project_pipelines(project_root):
    from kedro.framework.project import find_pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project_root)
    return {k: v for k, v in find_pipelines(raise_errors=True).items() if k != "__default__"}


@pytest.fixture(scope="module")
def package_dir() -> Path:
    import imitation_kedro

    return Path(imitation_kedro.__file__).parent


def _edges(graph) -> list[tuple[str, str]]:
    return sorted(
        (importer, imported)
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
    )


def _area(module: str) -> tuple[str, ...]:
    """``pipelines.<name>`` for a pipeline module, else the top-level subpackage or module."""
    parts = module.split(".")[1:]
    if parts[:1] == ["pipelines"] and len(parts) >= 2:
        return ("pipelines", parts[1])
    return tuple(parts[:1])


def _where(graph, importer: str, imported: str) -> str:
    details = graph.get_import_details(importer=importer, imported=imported)
    lines = ", ".join(str(d["line_number"]) for d in details) or "?"
    return f"{importer} -> {imported} (line {lines})"


def cross_pipeline_imports(graph) -> list[str]:
    return [
        _where(graph, a, b)
        for a, b in _edges(graph)
        if _area(a)[:1] == ("pipelines",) == _area(b)[:1] and _area(a) != _area(b)
        and len(_area(a)) == len(_area(b)) == 2
    ]


FORBIDDEN = {
    # importer area -> areas it must not import
    ("core",): {("datasets",), ("pipelines",), ("models",), ("schemas",), ("hooks",),
                ("settings",), ("pipeline_registry",)},
    ("models",): {("datasets",), ("pipelines",), ("schemas",), ("hooks",), ("settings",),
                  ("pipeline_registry",)},
    ("datasets",): {("pipelines",), ("hooks",), ("settings",), ("pipeline_registry",)},
    ("schemas",): {("datasets",), ("pipelines",), ("models",)},
}


def forbidden_imports(graph) -> list[str]:
    out = []
    for a, b in _edges(graph):
        target = _area(b)[:1]
        if target in FORBIDDEN.get(_area(a)[:1], set()):
            out.append(_where(graph, a, b))
    return out


def import_cycle(graph) -> tuple[str, ...] | None:
    """One cycle of the import graph (module-level and lazy imports alike), or None."""
    sorter = graphlib.TopologicalSorter(
        {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    )
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        return tuple(exc.args[1])
    return None


def test_pipelines_never_import_each_other(graph):
    found = cross_pipeline_imports(graph)
    assert not found, "move what pipelines share to core/, schemas/ or models/:\n" + "\n".join(found)


def test_lower_layers_never_import_higher_ones(graph):
    found = forbidden_imports(graph)
    assert not found, (
        "core/ imports nothing of the project; models/ knows no dataset or pipeline; datasets/ "
        "knows no pipeline:\n" + "\n".join(found)
    )


def test_the_project_has_no_import_cycle(graph):
    cycle = import_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_the_checks_see_a_planted_violation():
    """The three checks fail on a graph that breaks each rule (they are not vacuous)."""
    grimp = pytest.importorskip("grimp")
    planted = grimp.build_graph(PACKAGE, cache_dir=None)
    planted.add_import(
        importer=f"{PACKAGE}.pipelines.threshold.nodes",
        imported=f"{PACKAGE}.pipelines.similarity.scoring",
    )
    planted.add_import(importer=f"{PACKAGE}.models.csd", imported=f"{PACKAGE}.datasets.hub_ds")
    planted.add_import(
        importer=f"{PACKAGE}.core.seeding", imported=f"{PACKAGE}.core.slugs"
    )
    planted.add_import(
        importer=f"{PACKAGE}.core.slugs", imported=f"{PACKAGE}.core.seeding"
    )
    assert any("threshold.nodes" in line for line in cross_pipeline_imports(planted))
    assert any("models.csd" in line for line in forbidden_imports(planted))
    assert import_cycle(planted) is not None


def test_no_source_file_is_over_the_size_limit(package_dir):
    big = {
        str(p.relative_to(package_dir)): n
        for p in sorted(package_dir.rglob("*.py"))
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not big, f"files over {MAX_LINES} lines (split them by idea): {big}"


def test_every_pipeline_readme_names_its_nodes(package_dir, project_pipelines):
    missing = {}
    for name, pipe in sorted(project_pipelines.items()):
        readme = package_dir / "pipelines" / name / "README.md"
        if not readme.is_file():
            missing[name] = ["README.md"]
            continue
        text = readme.read_text()
        absent = [n.name for n in pipe.nodes if not re.search(rf"`{re.escape(n.name)}`", text)]
        if absent:
            missing[name] = absent
    assert not missing, f"pipeline READMEs must name every node (as `node_name`): {missing}"


def test_nodes_module_is_what_the_pipeline_wires(project_pipelines):
    """Each pipeline's nodes are functions defined in its nodes.py (no re-exports, no step modules)."""
    wrong = []
    for name, pipe in sorted(project_pipelines.items()):
        expected = f"{PACKAGE}.pipelines.{name}.nodes"
        for node in pipe.nodes:
            func = node.func
            module = getattr(func, "__module__", None)
            if module != expected:
                wrong.append(f"{name}.{node.name}: {module}.{getattr(func, '__name__', func)}")
    assert not wrong, "nodes must be defined in their pipeline's nodes.py:\n" + "\n".join(wrong)
