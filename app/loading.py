"""Opening scans in the window: file dialogs, drops, recent files, the demo pair, and showing the
session's current pair in the MRI and US panes.

Every scan opened goes to the :class:`engine.session.Session`, which starts a new pair; results of
earlier pairs stay in the session with their own sources.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog, QInputDialog

from engine.errors import EndoFuseError
from engine.formatting import format_number
from engine.fusion import FusionInput
from engine.measurements import grid_calibration, scan_calibration
from engine.orientation import scan_markers
from engine.scan import Scan, size_text

from .image_pane import PaneImage
from .window_level import WindowLevel

SCAN_FILTERS = (
    "Scans (*.dcm *.dicom *.ima *.png *.tif *.tiff *.jpg *.jpeg *.bmp *.mat *.npy);;All files (*)"
)
MAX_RECENT = 8


def scan_lines(scan: Scan) -> tuple[str, ...]:
    """The overlay text of a source pane: patient, study, series, file, size, spacing."""
    info = scan.info
    lines = []
    if info.patient_name or info.patient_id:
        lines.append(
            " ".join(
                p for p in (info.patient_name, info.patient_id and f"({info.patient_id})") if p
            )
        )
    if info.study_date:
        lines.append(f"Study {info.study_date}")
    if info.series_description:
        lines.append(info.series_description)
    elif info.study_description:
        lines.append(info.study_description)
    size = size_text(scan.shape)
    lines.append(f"{scan.name}   {size}" if scan.path is not None else size)
    if info.pixel_spacing_mm:
        col_mm, row_mm = info.pixel_spacing_mm[1], info.pixel_spacing_mm[0]
        lines.append(f"{format_number(col_mm)} x {format_number(row_mm)} mm/px")
    return tuple(lines)


def scan_mm_per_pixel(scan: Scan | None) -> float | None:
    """Millimetres per pixel of ``scan`` along a row (its column spacing), None when unknown
    (:func:`engine.measurements.scan_calibration`)."""
    calibration = scan_calibration(scan)
    return None if calibration is None else calibration.col_mm


def grid_mm_per_pixel(fusion_input: FusionInput | None) -> float | None:
    """Millimetres per pixel of the fused (US) grid of a pair, on which the fused images and the
    compare view lie: the spacing the pairing gave the US on that grid (file, US regions or the
    user's), else the MRI's divided by d; None when neither is known. The one rule is
    :func:`engine.measurements.grid_calibration`, which the measurements use too."""
    if fusion_input is None:
        return None
    calibration = grid_calibration(fusion_input.us, fusion_input.mri, fusion_input.d)
    return None if calibration is None else calibration.col_mm


def file_window(scan: Scan) -> WindowLevel | None:
    info = scan.info
    if info.window_center is not None and info.window_width and info.window_width > 0:
        return WindowLevel(float(info.window_center), float(info.window_width))
    return None


def fused_hint(
    mri: Scan | None, us: Scan | None, paired: bool, busy: bool, released: str | None = None
) -> str:
    """What the empty fused pane tells the user to do next, from what is loaded; ``released``
    names the selected result when its image was released to save memory."""
    if released is not None:
        step = (
            f"The image of {released} was released to save memory; its metrics and provenance "
            "are kept. Fuse again to see it."
        )
    elif busy:
        step = "Fusing... the result appears here"
    elif paired:
        step = "Press Fuse (Ctrl+Return) to fuse the two scans"
    elif mri is not None and us is not None:
        step = "The two scans do not pair yet: see the message, or set the pairing"
    elif mri is not None:
        step = "Open the ultrasound too, then press Fuse"
    elif us is not None:
        step = "Open the MRI too, then press Fuse"
    else:
        step = "Open both scans, then press Fuse"
    return f"Fused\n\n{step}"


class LoadingMixin:
    """The window's open/drop/recent-file actions (mixed into :class:`MainWindow`)."""

    # ----- recent files ----------------------------------------------------------------------
    def recent_files(self) -> list[tuple[str, str]]:
        """(role, path) pairs, most recent first; role is "mri" or "us"."""
        entries = self.settings.value("recent/files", [])
        if isinstance(entries, str):
            entries = [entries]
        out = []
        for entry in entries or []:
            role, _, path = str(entry).partition("|")
            if role in ("mri", "us") and path:
                out.append((role, path))
        return out

    def _remember(self, role: str, path: Path) -> None:
        entry = (role, str(Path(path).resolve()))
        entries = [entry] + [e for e in self.recent_files() if e != entry]
        self.settings.setValue("recent/files", [f"{r}|{p}" for r, p in entries[:MAX_RECENT]])
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for role, path in self.recent_files():
            label = f"{'MRI' if role == 'mri' else 'US'}: {Path(path).name}"
            action = self.recent_menu.addAction(label)
            action.setToolTip(path)
            action.triggered.connect(
                lambda checked=False, r=role, p=path: (
                    self.open_mri(p) if r == "mri" else self.open_us(p)
                )
            )
        self.recent_menu.setEnabled(bool(self.recent_files()))

    # ----- opening ---------------------------------------------------------------------------
    def _ask_open(self, role: str) -> None:
        title = "Open MRI" if role == "mri" else "Open ultrasound"
        path, _ = QFileDialog.getOpenFileName(
            self, title, self.settings.value("recent/dir", ""), SCAN_FILTERS
        )
        if path:
            self.settings.setValue("recent/dir", str(Path(path).parent))
            (self.open_mri if role == "mri" else self.open_us)(path)

    def _load(self, path: str | Path) -> Scan | None:
        from engine.io import AmbiguousVariableError
        from engine.pipeline import load

        try:
            try:
                return load(path)
            except AmbiguousVariableError as exc:  # a .mat with several images: ask which
                name, ok = QInputDialog.getItem(
                    self, "Choose the image", f"{Path(path).name} holds several images:",
                    exc.names, 0, False,
                )
                return load(path, variable=name) if ok else None
        except EndoFuseError as exc:
            self.show_error(str(exc))
            return None

    def _open_role(self, role: str, path: str | Path) -> bool:
        scan = self._load(path)
        if scan is None:
            return False
        self._remember(role, Path(path))
        self.session.open_scan(role, scan)
        return True

    def open_mri(self, path: str | Path) -> bool:
        return self._open_role("mri", path)

    def open_us(self, path: str | Path) -> bool:
        return self._open_role("us", path)

    def open_files(self, paths: list[str]) -> None:
        """Files dropped outside the MRI/US panes: two pair by size, one fills the empty slot."""
        paths = [str(p) for p in paths][:2]
        if len(paths) == 2:
            scans = [self._load(p) for p in paths]
            if any(s is None for s in scans):
                return
            small, large = sorted(zip(scans, paths, strict=True), key=lambda sp: sp[0].pixels.size)
            self._remember("mri", Path(small[1]))
            self._remember("us", Path(large[1]))
            self.session.open_scans(small[0], large[0])
        elif paths and self.mri is None:
            self.open_mri(paths[0])
        elif paths and self.us is None:
            self.open_us(paths[0])
        elif paths:
            self.statusBar().showMessage(
                "Drop onto the MRI or the ultrasound pane to replace a scan.", 6000
            )

    def open_demo(self) -> bool:
        """Load the built-in phantom pair (with its ground truth for reference scores)."""
        try:
            from engine.phantom import make_phantom_pair

            fusion_input = make_phantom_pair(seed=0, size=600, d=6).fusion_input()
        except EndoFuseError as exc:
            self.show_error(str(exc))
            return False
        self.session.open_paired(fusion_input, "Demo phantom")
        return True

    # ----- showing the current pair ----------------------------------------------------------
    def _show_pair(self) -> None:
        pair = self.session.pair
        fusion_input = self.fusion_input
        d = fusion_input.d if fusion_input is not None else 1
        first = all(p.content is None for p in self.panes)
        paired = fusion_input is not None and fusion_input.mri is not None  # the fused field
        grid_mm = grid_mm_per_pixel(fusion_input)
        for pane, scan, cell, label in (
            (self.mri_pane, fusion_input.mri if paired else self.mri, d, "MRI"),
            (self.us_pane, fusion_input.us if paired else self.us, 1, "Ultrasound"),
        ):
            pane.orientation.set_markers(scan_markers(scan) if scan is not None else None)
            if scan is None:
                pane.set_image(None)
                continue
            lines = scan_lines(scan)
            if label == "MRI" and fusion_input is not None:
                lines += (f"d = {d} (MRI pixel = {d} x {d} US pixels)",)
            # a data unit is one US-grid pixel once paired, else one pixel of the scan itself
            mm = grid_mm if paired else scan_mm_per_pixel(scan)
            pane.set_image(PaneImage(scan.pixels, label, lines, cell, mm, file_window(scan)))
        self._update_compare_sources()
        self._update_enabled()
        if first or fusion_input is not None:
            QTimer.singleShot(0, self.reset_view)
        if pair is not None and pair.error:
            self.show_error(pair.error)
        self.scans_changed.emit()
