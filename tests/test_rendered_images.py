"""The main window as rendered, state by state, against the reference PNGs of
``tests/reference_images`` (see :mod:`rendered_states`; regenerate them with
``QT_QPA_PLATFORM=offscreen python -m tests.rendered_states --update``)."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")
pytest.importorskip("PIL")

import rendered_states  # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("settings_in_tmp"),
    pytest.mark.slow,
]


def test_window_states_match_their_reference_images(qapp, tmp_path):
    app, restore = rendered_states.styled_application()
    window = rendered_states.make_window(app, tmp_path / "viewer.ini")
    failures = []
    try:
        for state, size, image in rendered_states.render_states(app, window):
            stored = rendered_states.to_stored(image)
            path = rendered_states.reference_path(state, size)
            result = rendered_states.compare(stored, path)
            if not result.ok:
                actual = tmp_path / path.name
                stored.save(actual)
                failures.append(f"{path.name}: {result.describe()} (now: {actual})")
    finally:
        window.shutdown()
        restore()
    assert not failures, "\n".join(failures)
