"""The engine must stay free of Qt and of the app package."""

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "engine"
FORBIDDEN = ("PySide6", "pyqtgraph", "app", "shiboken6", "PyQt5", "PyQt6")


def test_engine_imports_no_qt_and_no_app():
    offenders = []
    for source in ENGINE.rglob("*.py"):
        tree = ast.parse(source.read_text(), filename=str(source))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in FORBIDDEN:
                    offenders.append(f"{source.relative_to(ENGINE.parent)}: {name}")
    assert offenders == []
