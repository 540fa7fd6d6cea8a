"""The window's export and PACS actions (mixed into :class:`MainWindow`).

Each acts on the selected result, a :class:`engine.pipeline.FusionRecord`, so a file written or
sent carries that result's own sources (patient, study, references), whatever pair is open now,
and the image the fused pane shows (MRI contrast or US appearance), named in its provenance.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog

from engine.errors import EndoFuseError
from engine.pipeline import FusionRecord

from . import APPLICATION, export
from .pacs_sender import start_send


class ExportMixin:
    """Export fused image / view, copy view, send to PACS."""

    def _current_record(self) -> FusionRecord | None:
        record = self.results_panel.current()
        if record is None:
            self.show_error("There is no fused image yet; press Fuse first.")
        return record

    def _dicom_options(self):
        """The viewer's DICOM export choices: anonymise, blank outside the US region, and the
        pseudonym file kept beside the viewer's settings (one pseudonym per patient)."""
        from engine.dicom import DicomExportOptions

        anonymise = self.act_anonymise.isChecked()
        default = Path(self.settings.fileName()).with_name("pseudonyms.json")
        pseudonyms = Path(str(self.settings.value("export/pseudonym_file", default)))
        return DicomExportOptions(
            anonymise=anonymise, pseudonym_file=pseudonyms if anonymise else None,
            blank_outside_region=anonymise and self.act_blank_outside.isChecked(),
        )

    def _write_record(self, record: FusionRecord, path: str | Path) -> Path | None:
        try:
            return export.export_fused(
                record, path, self.results_panel.image, anonymise=self.act_anonymise.isChecked(),
                dicom_options=self._dicom_options(), measurements=self._measurements_of(record),
            )
        except (EndoFuseError, OSError) as exc:
            self.show_error(str(exc))
            return None

    def _measurements_of(self, record: FusionRecord | None) -> tuple[str, ...]:
        """The measurements drawn on the current pair, when ``record`` is one of its results
        (they are on its grid); none for a result of an earlier pair."""
        pair = self.session.pair
        if record is None or pair is None or record not in pair.records:
            return ()
        return self.measure_tool.provenance_lines()

    def export_fused(self, path: str | Path | None = None) -> Path | None:
        record = self._current_record()
        if record is None:
            return None
        if path is None:
            start = str(
                Path(self.settings.value("export/dir", ""))
                / f"fused_{record.number}_{record.method}_{self.results_panel.image}"
            )
            path, _ = QFileDialog.getSaveFileName(
                self, "Export fused image", start, export.FUSED_FILTERS
            )
            if not path:
                return None
            self.settings.setValue("export/dir", str(Path(path).parent))
        written = self._write_record(record, path)
        if written is not None:
            self.statusBar().showMessage(f"Exported {written}", 6000)
        return written

    def send_to_pacs(self, address: str | None = None) -> bool:
        """Export the selected result as DICOM into a temporary folder and C-STORE it.

        ``address`` is "AET@HOST:PORT"; when None the user is asked (the last one is remembered).
        Returns True when the send was started; the outcome arrives in the status bar or as the
        error dialog.
        """
        import shutil

        from engine.dicom.send import parse_pacs_address, temporary_send_folder

        record = self._current_record()
        if record is None:
            return False
        if address is None:
            address, ok = QInputDialog.getText(
                self, "Send to PACS", "PACS address (AET@HOST:PORT):",
                text=str(self.settings.value("pacs/address", "")),
            )
            if not ok or not address.strip():
                return False
        address = address.strip()
        try:
            parse_pacs_address(address)
        except EndoFuseError as exc:
            self.show_error(str(exc))
            return False
        folder = temporary_send_folder()
        path = self._write_record(record, folder / f"fused_{record.number}_{record.method}.dcm")
        if path is None:
            shutil.rmtree(folder, ignore_errors=True)
            return False
        self.settings.setValue("pacs/address", address)
        self.statusBar().showMessage(f"Sending to {address}...")
        self._send_job = start_send(path, address, self._on_sent, self.show_error,
                                    remove_folder=True)
        return True

    def _on_sent(self, message: str) -> None:
        self.last_sent = message
        self.statusBar().showMessage(message, 8000)

    def _view_provenance(self) -> dict[str, str]:
        record = self.results_panel.current()
        info = (
            record.provenance(self.results_panel.image, self.act_anonymise.isChecked())
            if record is not None
            else {"software": APPLICATION}
        )
        info["view"] = self.tabs.tabText(self.tabs.currentIndex())
        if self.measure_tool.measurements:
            info["measurements"] = "\n".join(self.measure_tool.provenance_lines())
        return info

    def export_view(self, path: str | Path | None = None) -> Path | None:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export view", "view.png", "PNG (*.png)")
            if not path:
                return None
        try:
            written = export.export_view_png(
                self.tabs.currentWidget(), path, self._view_provenance()
            )
        except EndoFuseError as exc:
            self.show_error(str(exc))
            return None
        self.statusBar().showMessage(f"Saved view to {written}", 6000)
        return written

    def copy_view(self) -> None:
        export.copy_view_to_clipboard(self.tabs.currentWidget(), self._view_provenance())
        self.statusBar().showMessage("View copied to the clipboard.", 4000)
