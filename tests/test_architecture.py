"""The structure rules, enforced: Qt stays out of the engine, the layers import only downwards,
and no two engine modules import each other (directly or around a longer cycle).

Layers, top to bottom (a module may import its own layer and the layers below it)::

    app                                  Qt shell observing the session
    engine.{cli, __main__, commands, session}          entry points and the viewer's model
    engine.{pipeline, training, batch}   load -> pair -> fuse -> measure -> export; training runs
    engine.methods                       the three methods behind one interface
    engine.{palm, diffusion, em, denoise, metrics, dicom, io, ...}   compute and file formats
    engine.{operators, link_terms, fusion, scan, errors, engine}    shared vocabulary

A new engine module not named here belongs to the compute layer. Imports under
``if TYPE_CHECKING:`` are annotations only and are skipped; imports inside functions count.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_ENGINE = ("PySide6", "pyqtgraph", "app", "shiboken6", "PyQt5", "PyQt6")

LAYERS: list[set[str]] = [
    {"app"},
    {"engine.cli", "engine.__main__", "engine.commands", "engine.session"},
    {"engine.pipeline", "engine.training", "engine.batch"},
    {"engine.methods"},
    set(),  # compute: every module not named elsewhere
    {"engine.operators", "engine.link_terms", "engine.fusion", "engine.scan", "engine.errors",
     "engine"},
]
COMPUTE = 4
#: numerical internals the viewer reaches only through engine.methods / engine.pipeline
APP_MUST_NOT_IMPORT = {
    "engine.palm", "engine.palm_link", "engine.diffusion", "engine.em", "engine.denoise",
    "engine.dncnn",
    "engine.operators",
    "engine.training", "engine.checkpoints", "engine.torch_files", "engine.link_terms",
    "engine.device",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    """``engine.x.y`` -> ``engine.x``; ``app.z`` -> ``app``; ``engine`` stays."""
    parts = module.split(".")
    return "app" if parts[0] == "app" else ".".join(parts[:2])


def _layer(unit: str) -> int:
    return next((i for i, names in enumerate(LAYERS) if unit in names), COMPUTE)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
               and _is_type_checking(node) for n in ast.walk(node)}
    names = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.add(".".join(base + ([node.module] if node.module else [])))
            else:
                names.add(node.module or "")
    return names


def _graph(top: str) -> dict[str, set[str]]:
    """Module file -> imported project modules, for every file under ``top``."""
    return {
        _module_name(path): {n for n in _imports(path) if n.split(".")[0] in ("engine", "app")}
        for path in (ROOT / top).rglob("*.py")
    }


def test_engine_imports_no_qt_and_no_app():
    offenders = [
        f"{module}: {name}"
        for path in (ROOT / "engine").rglob("*.py")
        for module in [_module_name(path)]
        for name in _imports(path)
        if name.split(".")[0] in FORBIDDEN_IN_ENGINE
    ]
    assert offenders == []


def test_layers_import_only_downwards():
    offenders = []
    for top in ("app", "engine"):
        for module, names in _graph(top).items():
            here = _layer(_unit(module))
            for name in names:
                if _layer(_unit(name)) < here:
                    offenders.append(f"{module} -> {name}")
    assert offenders == []


def test_app_reaches_numerical_internals_only_through_methods_and_pipeline():
    offenders = [
        f"{module} -> {name}"
        for module, names in _graph("app").items()
        for name in names
        if _unit(name) in APP_MUST_NOT_IMPORT
    ]
    assert offenders == []


def test_engine_modules_form_no_import_cycle():
    edges: dict[str, set[str]] = {}
    for module, names in _graph("engine").items():
        unit = _unit(module)
        edges.setdefault(unit, set()).update(_unit(n) for n in names if _unit(n) != unit)
    cycles = []
    state: dict[str, int] = {}

    def visit(unit: str, trail: list[str]) -> None:
        state[unit] = 1
        for nxt in sorted(edges.get(unit, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(trail[trail.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[unit] = 2

    for unit in sorted(edges):
        if unit not in state:
            visit(unit, [unit])
    assert cycles == []
