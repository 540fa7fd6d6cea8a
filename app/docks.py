"""Every dock of the main window is made the same way (one place for its features)."""

from __future__ import annotations

from PySide6.QtWidgets import QDockWidget, QWidget

#: movable, floatable and closable: Qt enables a dock's View-menu entry only when it can be closed
DOCK_FEATURES = (
    QDockWidget.DockWidgetFeature.DockWidgetMovable
    | QDockWidget.DockWidgetFeature.DockWidgetFloatable
    | QDockWidget.DockWidgetFeature.DockWidgetClosable
)


def make_dock(window, key: str, title: str, widget: QWidget) -> QDockWidget:
    """A dock named ``dock-<key>`` holding ``widget``, registered in ``window.docks[key]``."""
    dock = QDockWidget(title, window)
    dock.setObjectName(f"dock-{key}")
    dock.setWidget(widget)
    dock.setFeatures(DOCK_FEATURES)
    window.docks[key] = dock
    return dock
