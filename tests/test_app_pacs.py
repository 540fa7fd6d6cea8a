"""Viewer action "Send to PACS": a real C-ECHO/C-STORE to a storage SCP on loopback."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from viewer_fixtures import fuse

pytest_plugins = ["pytestqt"]
pytestmark = pytest.mark.window_size(None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def storage_scp():
    """A pynetdicom Storage SCP (AE title STORESCP) on 127.0.0.1 keeping what it receives."""
    from pynetdicom import AE, evt
    from pynetdicom.presentation import AllStoragePresentationContexts
    from pynetdicom.sop_class import Verification

    received = []

    def on_store(event):
        ds = event.dataset
        ds.file_meta = event.file_meta
        received.append(ds)
        return 0x0000

    ae = AE(ae_title="STORESCP")
    ae.supported_contexts = AllStoragePresentationContexts
    ae.add_supported_context(Verification)
    port = _free_port()
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_C_STORE, on_store)])
    yield f"STORESCP@127.0.0.1:{port}", received
    server.shutdown()


def fused_phantom(qtbot, window, phantom_files):
    """The 120x120 phantom pair opened and fused by PALM (2 iterations): a result to send."""
    mri, us = phantom_files
    assert window.open_mri(mri) and window.open_us(us)
    return fuse(qtbot, window, "palm", iterations=2)


def test_send_to_pacs_stores_the_fused_image(qtbot, window, storage_scp, phantom_files):
    address, received = storage_scp
    fused_phantom(qtbot, window, phantom_files)
    assert window.send_to_pacs(address)
    qtbot.waitUntil(lambda: window.last_sent is not None or window.last_error is not None,
                    timeout=30_000)
    assert window.last_error is None, window.last_error
    assert len(received) == 1
    ds = received[0]
    assert "DERIVED" in ds.ImageType and "palm" in ds.DerivationDescription
    fused = window.results_panel.current().pixels()  # the image shown (MRI contrast)
    stored = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert np.max(np.abs(stored - fused)) <= float(ds.RescaleSlope)
    assert window.settings.value("pacs/address") == address
    qtbot.waitUntil(lambda: not window._send_job.path.parent.exists(), timeout=10_000)


def test_send_to_unreachable_pacs_shows_one_sentence(qtbot, window, phantom_files):
    fused_phantom(qtbot, window, phantom_files)
    assert window.send_to_pacs(f"NOBODY@127.0.0.1:{_free_port()}")
    qtbot.waitUntil(lambda: window.last_error is not None, timeout=30_000)
    assert "127.0.0.1" in window.last_error
    assert window.results_panel.records  # nothing lost
    qtbot.waitUntil(lambda: not window._send_job.path.parent.exists(), timeout=10_000)


def test_bad_pacs_address_is_refused_before_sending(qtbot, window, phantom_files):
    fused_phantom(qtbot, window, phantom_files)
    assert not window.send_to_pacs("not an address")
    assert window.last_error
