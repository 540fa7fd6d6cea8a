"""The window's actions, menus and tool bar (built once by :func:`build_actions`)."""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMessageBox

from .image_pane import ANNOTATION_LEVELS
from .window_level import PRESET_NAMES

ANNOTATION_LABELS = {
    "full": "Full (all corner text)",
    "minimal": "Minimal (one line per corner)",
    "off": "Off (image only)",
}

MOUSE_HELP = (
    "Wheel: zoom about the cursor\nMiddle-drag: pan\nLeft-drag: window/level "
    "(right = wider, down = higher level)\nRight-drag: zoom (up = in)\nR: reset the view\n"
    + "\n".join(f"{i}: {name}" for i, name in enumerate(PRESET_NAMES, start=1))
    + "\nO: overlay on/off, F: flip which layer is on top"
    + "\nI: corner text full / minimal / off"
    + "\nCompare view: Space or T toggles A/B, A and B show one image"
    + "\nD / E / X, then left-drag: measure a distance / an ellipse / a rectangle"
    + "\nH: hide or show the measurements\nDelete: delete the selected (or last) measurement"
)


def _action(window, text: str, slot, shortcut=None, tip: str = "") -> QAction:
    action = QAction(text, window)
    action.triggered.connect(slot)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    window.addAction(action)
    return action


def build_actions(w) -> None:
    """Create ``w.act_*``, the menus, the tool bar and the recent-files menu of window ``w``."""

    def a(*args) -> QAction:
        return _action(w, *args)

    w.act_open_mri = a("Open MRI...", lambda: w._ask_open("mri"), QKeySequence.StandardKey.Open,
                       "Open the MRI scan (DICOM, PNG, TIFF, MAT, NPY)")
    w.act_open_us = a("Open ultrasound...", lambda: w._ask_open("us"), "Ctrl+U",
                      "Open the ultrasound scan (DICOM, PNG, TIFF, MAT, NPY)")
    w.act_demo = a("Open demo pair", w.open_demo, "Ctrl+D",
                   "Load the built-in synthetic MRI/US phantom pair")
    w.act_export = a("Export fused image...", lambda: w.export_fused(), "Ctrl+E",
                     "Write the selected result's shown image as DICOM, PNG, TIFF or NPY "
                     "with provenance")
    w.act_export_view = a("Export view as PNG...", lambda: w.export_view(), None,
                          "Save what the panes show, with provenance")
    w.act_copy = a("Copy view", w.copy_view, QKeySequence.StandardKey.Copy,
                   "Copy the current view to the clipboard")
    w.act_send = a("Send to PACS...", lambda: w.send_to_pacs(), None,
                   "Export the selected result as DICOM and store it on a PACS "
                   "(C-ECHO, then C-STORE)")
    w.act_quit = a("Quit", w.close, QKeySequence.StandardKey.Quit)
    w.act_fuse = a("Fuse", lambda: w.fuse(), "Ctrl+Return", "Run the selected method")
    w.act_cancel = a("Cancel", w.cancel_fusion, "Esc", "Stop the running fusion")
    w.act_clear_results = a("Clear results", w.session.clear_results, None,
                            "Remove every result from the list (and its images from memory)")
    w.act_reset = a("Reset view", w.reset_view, "R", "Fit the images in the panes")
    w.act_anonymise = QAction("Anonymise DICOM exports", w)
    w.act_anonymise.setCheckable(True)
    w.act_anonymise.setChecked(w.settings.value("export/anonymise", True, type=bool))
    w.act_anonymise.toggled.connect(lambda on: w.settings.setValue("export/anonymise", on))
    w.act_blank_outside = QAction("Blank outside the ultrasound region when anonymising", w)
    w.act_blank_outside.setCheckable(True)
    w.act_blank_outside.setChecked(w.settings.value("export/blank_outside", False, type=bool))
    w.act_blank_outside.toggled.connect(lambda on: w.settings.setValue("export/blank_outside", on))
    w.preset_actions = [
        a(f"W/L {name}", lambda checked=False, n=n: w.apply_preset(n), str(n))
        for n, name in enumerate(PRESET_NAMES, start=1)
    ]

    menu = w.menuBar().addMenu("&File")
    menu.addActions([w.act_open_mri, w.act_open_us, w.act_demo])
    w.recent_menu = menu.addMenu("Recent files")
    menu.addSeparator()
    menu.addActions([w.act_export, w.act_export_view, w.act_copy, w.act_send, w.act_anonymise,
                     w.act_blank_outside])
    menu.addSeparator()
    menu.addAction(w.act_quit)
    menu = w.menuBar().addMenu("&View")
    menu.addAction(w.act_reset)
    menu.addSeparator()
    menu.addActions(w.preset_actions)
    menu.addSeparator()
    _annotation_menu(w, menu.addMenu("Annotations"))
    menu.addSeparator()
    for dock in w.docks.values():
        menu.addAction(dock.toggleViewAction())
    menu = w.menuBar().addMenu("F&usion")
    menu.addActions([w.act_fuse, w.act_cancel])
    w.measure_tool.add_menu(w.menuBar())
    menu.addSeparator()
    menu.addAction(w.act_clear_results)
    menu = w.menuBar().addMenu("&Help")
    menu.addAction(a("Mouse and keys", lambda: QMessageBox.information(w, "Mouse and keys",
                                                                         MOUSE_HELP)))

    bar = w.addToolBar("Main")
    bar.setObjectName("toolbar-main")
    bar.setMovable(False)
    bar.addActions([w.act_open_mri, w.act_open_us, w.act_demo])
    bar.addSeparator()
    bar.addActions([w.act_fuse, w.act_cancel])
    bar.addSeparator()
    bar.addActions([w.act_reset, w.act_export])
    bar.addSeparator()
    bar.addActions([w.measure_tool.actions[k] for k in ("distance", "ellipse", "rectangle")])
    w._rebuild_recent_menu()


def _annotation_menu(w, menu) -> None:
    """View > Annotations: the three levels (exclusive) and ``I`` to step through them; the
    choice is kept in the settings (``view/annotations``)."""
    group = QActionGroup(w)
    w.annotation_actions = {}
    for level in ANNOTATION_LEVELS:
        action = QAction(ANNOTATION_LABELS[level], w)
        action.setCheckable(True)
        action.triggered.connect(lambda checked=False, lv=level: w.set_annotation_level(lv))
        group.addAction(action)
        menu.addAction(action)
        w.annotation_actions[level] = action
    menu.addSeparator()
    w.act_cycle_annotations = _action(
        w, "Next level", w.cycle_annotation_level, "I", "Corner text: full, minimal, off"
    )
    menu.addAction(w.act_cycle_annotations)
    saved = str(w.settings.value("view/annotations", "full"))
    w.set_annotation_level(saved if saved in ANNOTATION_LEVELS else "full")
