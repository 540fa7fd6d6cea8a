"""The Qt binding does not corrupt the interpreter: emitting a bool through a Signal(object)
keeps the reference counts of True and False (PySide6 6.12.0 dropped one per emission, and the
viewer emits thousands through pyqtgraph's range signals in a session, so the interpreter
aborted at exit with "bool_dealloc")."""

from __future__ import annotations

import gc
import sys

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QObject, Signal  # noqa: E402


class Emitter(QObject):
    value = Signal(object)
    pair = Signal(object, object)


def test_emitting_bools_keeps_their_reference_counts(qapp):
    emitter = Emitter()
    received = []
    emitter.value.connect(lambda v: received.append(v))
    emitter.pair.connect(lambda a, b: None)
    gc.collect()
    before = sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(500):
        emitter.value.emit(True)
        emitter.value.emit(False)
        emitter.pair.emit(emitter, [True, False])
    received.clear()
    gc.collect()
    after = sys.getrefcount(True), sys.getrefcount(False)
    assert after[0] >= before[0] - 20 and after[1] >= before[1] - 20, (before, after)
