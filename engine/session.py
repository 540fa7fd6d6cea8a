"""What the viewer has open, without Qt: the scans, the pairs made of them, the results per pair.

A :class:`Session` holds the MRI and US scans last opened and a list of :class:`PairEntry`.
Opening a scan starts a new pair (the earlier pairs and their results stay as they were), so a
:class:`~engine.pipeline.FusionRecord` always keeps the exact input and source scans it came from
and exports with *their* identity, whatever is opened afterwards. Results can be closed one by
one or all at once (the user's choice); nothing else removes them. When ``image_budget_bytes``
is set, the images of the oldest results are released (:meth:`FusionRecord.without_images`) as
soon as all results' images together exceed it; their metrics and provenance stay, and the
newest result always keeps its images.

Observers (the window's widgets) subscribe a plain callable that receives a :class:`SessionEvent`
after every change; the session never calls back into anything else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from .errors import EndoFuseError
from .fusion import FusionInput
from .pipeline.record import FusionRecord
from .scan import Scan


class SessionEvent(Enum):
    """What changed: the scans and the current pair, or the list of results."""

    PAIR = "pair"
    RESULTS = "results"


@dataclass(eq=False)
class PairEntry:
    """One MRI/US pair (``fusion_input`` None while the two do not pair) and its results."""

    number: int
    mri: Scan | None
    us: Scan | None
    fusion_input: FusionInput | None = None
    title: str = ""
    error: str | None = None
    records: list[FusionRecord] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.title:
            return self.title
        names = [s.name for s in (self.mri, self.us) if s is not None and s.path is not None]
        return " + ".join(names) or f"pair {self.number}"


Listener = Callable[[SessionEvent], None]


class Session:
    """The loaded scans, the pairs and the results per pair (see the module docstring)."""

    def __init__(self) -> None:
        self.pairs: list[PairEntry] = []
        self._next_record = 1
        self._next_pair = 1
        self._listeners: list[Listener] = []
        #: most bytes the results' images may hold together (None: no limit), see the docstring
        self.image_budget_bytes: int | None = None
        #: how two scans are paired: ``engine.pairing.pair_scans`` unless the viewer's pairing
        #: panel sets its own (region, spacings, pose, confirmations); it raises EndoFuseError
        self.pair_function = None

    # ----- observers -------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _emit(self, event: SessionEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    # ----- scans and pairs -------------------------------------------------------------------
    @property
    def pair(self) -> PairEntry | None:
        """The current (latest) pair."""
        return self.pairs[-1] if self.pairs else None

    @property
    def mri(self) -> Scan | None:
        return self.pair.mri if self.pair else None

    @property
    def us(self) -> Scan | None:
        return self.pair.us if self.pair else None

    @property
    def fusion_input(self) -> FusionInput | None:
        return self.pair.fusion_input if self.pair else None

    def open_scans(self, mri: Scan | None, us: Scan | None) -> PairEntry:
        """Start a new pair of ``mri`` and ``us`` (either may be None), paired when both are there.

        A pairing failure does not raise: the pair keeps both scans, no ``fusion_input``, and the
        sentence in ``error``.
        """
        entry = PairEntry(self._take_pair_number(), mri, us)
        if mri is not None and us is not None:
            from .pairing import pair_scans

            try:
                entry.fusion_input = (self.pair_function or pair_scans)(mri, us)
            except EndoFuseError as exc:
                entry.error = str(exc)
        return self._start(entry)

    def open_scan(self, role: str, scan: Scan) -> PairEntry:
        """Replace the MRI (``role`` "mri") or the US ("us") and start a new pair."""
        mri, us = (scan, self.us) if role == "mri" else (self.mri, scan)
        return self.open_scans(mri, us)

    def open_paired(self, fusion_input: FusionInput, title: str = "") -> PairEntry:
        """Start a pair that is paired already (the demo phantom with its ground truth)."""
        entry = PairEntry(
            self._take_pair_number(), fusion_input.mri, fusion_input.us, fusion_input, title
        )
        return self._start(entry)

    def _take_pair_number(self) -> int:
        self._next_pair += 1
        return self._next_pair - 1

    def _start(self, entry: PairEntry) -> PairEntry:
        """Make ``entry`` the current pair; earlier pairs without results are dropped."""
        self.pairs = [p for p in self.pairs if p.records] + [entry]
        self._emit(SessionEvent.PAIR)
        return entry

    # ----- results ---------------------------------------------------------------------------
    @property
    def records(self) -> list[FusionRecord]:
        """Every open result, in the order they finished."""
        return sorted((r for p in self.pairs for r in p.records), key=lambda r: r.number)

    def pair_of(self, record: FusionRecord) -> PairEntry | None:
        return next((p for p in self.pairs if record in p.records), None)

    def add_result(self, record: FusionRecord) -> FusionRecord:
        """File ``record`` under the pair whose input it was computed from; number it."""
        entry = next(
            (p for p in reversed(self.pairs) if p.fusion_input is record.fusion_input), None
        )
        if entry is None:  # its pair was replaced while the fusion ran: file it before the current
            entry = PairEntry(
                self._take_pair_number(), record.mri, record.us, record.fusion_input
            )
            self.pairs.insert(max(len(self.pairs) - 1, 0), entry)
        record = dataclasses.replace(record, number=self._next_record)
        self._next_record += 1
        entry.records.append(record)
        self._release_over_budget()
        self._emit(SessionEvent.RESULTS)
        return record

    def _release_over_budget(self) -> None:
        """Release the images of the oldest results until the rest fit the budget."""
        if self.image_budget_bytes is None:
            return
        records = self.records
        held = sum(r.image_bytes for r in records)
        for record in records[:-1]:  # oldest first; the newest keeps its images
            if held <= self.image_budget_bytes:
                break
            if record.images_released:
                continue
            held -= record.image_bytes
            entry = self.pair_of(record)
            entry.records[entry.records.index(record)] = record.without_images()

    def set_image_budget(self, budget_bytes: int | None) -> None:
        """Set the budget (None: no limit) and apply it now."""
        self.image_budget_bytes = budget_bytes
        before = [r.images_released for r in self.records]
        self._release_over_budget()
        if [r.images_released for r in self.records] != before:
            self._emit(SessionEvent.RESULTS)

    def clear_results(self) -> None:
        """Remove every result (the current pair stays, with its scans)."""
        if not self.records:
            return
        for entry in self.pairs:
            entry.records.clear()
        self.pairs = self.pairs[-1:]
        self._emit(SessionEvent.RESULTS)

    def close_result(self, record: FusionRecord) -> None:
        """Remove one result (its pair stays, with its other results)."""
        entry = self.pair_of(record)
        if entry is not None:
            entry.records.remove(record)
            self._emit(SessionEvent.RESULTS)
