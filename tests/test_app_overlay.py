"""The overlay (offscreen): one constant-opacity blend, checked against its formula on the array
and on the rendered pane; the layer follows window/level; flip; the compare view's overlay mode
uses the same function; orientation markers on DICOM panes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPointF, Qt  # noqa: E402
from viewer_fixtures import fuse, open_small_demo  # noqa: E402

from app import compositing  # noqa: E402
from app.overlay import OverlayStyle, blend_style, colour_table, robust_levels  # noqa: E402

pytestmark = pytest.mark.usefixtures("settings_in_tmp")


def _grey(image, levels):
    lo, hi = levels
    return np.clip((np.asarray(image, dtype=np.float64) - lo) / (hi - lo), 0, 1)


def test_overlay_formula_has_one_opacity_everywhere():
    lut = colour_table("inferno")
    rng = np.random.default_rng(0)
    bottom, top = rng.random((7, 5)), rng.random((7, 5))
    top[0, 0], top[0, 1] = 0.0, 1.0  # darkest and brightest top values
    out = compositing.overlay(bottom, top, 0.4, lut)
    index = np.rint(top * 255).astype(int)
    expected = 0.4 * lut[index] / 255.0 + 0.6 * bottom[..., None]
    np.testing.assert_allclose(out, expected, atol=1e-6)
    # alpha 0 is the bottom layer as grey, alpha 1 the top layer's colours
    np.testing.assert_allclose(compositing.overlay(bottom, top, 0, lut), np.stack([bottom] * 3, -1),
                               atol=1e-6)
    np.testing.assert_allclose(compositing.overlay(bottom, top, 1, lut), lut[index] / 255.0,
                               atol=1e-6)
    flipped = blend_style(bottom, top, OverlayStyle(0.4, "inferno", flipped=True))
    np.testing.assert_allclose(flipped, compositing.overlay(top, bottom, 0.4, lut), atol=1e-6)


def _rendered_rgb(pane, qtbot, row, col):
    """The screen colour of data pixel (row, col) of ``pane`` zoomed to ~30 screen px/pixel."""
    qtbot.wait(50)  # the view reset that follows loading has happened
    pane.view_box.setRange(
        xRange=(col - 4, col + 5), yRange=(row - 4, row + 5), padding=0
    )
    qtbot.wait(50)
    assert pane.view_box.viewRect().width() < 12
    scene = pane.view_box.mapViewToScene(QPointF(col + 0.5, row + 0.5))
    point = pane.view.mapFromScene(scene)
    colour = pane.view.grab().toImage().pixelColor(point.x(), point.y())
    return np.array([colour.red(), colour.green(), colour.blue()], dtype=float)


def test_overlay_on_the_us_pane_renders_the_formula_and_follows_the_window(window, qtbot):
    assert window.open_demo()
    control = window.overlay
    assert not control.act_show.isChecked()  # off until asked for
    control.set_enabled(True)
    control.set_opacity(40)
    assert control.opacity_label.text() == "40 %"
    layer = control.layers[0]
    pane = window.us_pane
    fi = window.fusion_input
    mri = control.mri_on_us_grid()  # the MRI sampled at every US pixel through the pairing
    assert mri.shape == fi.y_u.shape and np.corrcoef(mri.ravel(), fi.y_u.ravel())[0, 1] > 0.5
    lut = colour_table("inferno")
    bottom = _grey(pane.content.pixels, pane.window.levels)
    top = _grey(mri, robust_levels(mri))

    def expected(alpha, under, over):
        return alpha * lut[np.rint(over * 255).astype(int)] + (1 - alpha) * 255 * under[..., None]

    # float32 blend: within one colour-table step of the float64 formula
    np.testing.assert_allclose(255 * layer.rgb, expected(0.4, bottom, top), atol=2.0)
    # on screen, at pixels whose MRI is dark, mid and bright: the same 40 % everywhere
    for q in (5, 50, 95):
        row, col = np.argwhere(np.isclose(top, np.percentile(top, q), atol=0.02))[len(top) // 3]
        shown = _rendered_rgb(pane, qtbot, row, col)
        np.testing.assert_allclose(shown, expected(0.4, bottom, top)[row, col], atol=3)

    pane.apply_preset(5)  # a new window on the US changes its grey in the blend
    bottom5 = _grey(pane.content.pixels, pane.window.levels)
    np.testing.assert_allclose(255 * layer.rgb, expected(0.4, bottom5, top), atol=2.0)

    control.act_flip.trigger()  # the US in colour over the MRI in grey
    np.testing.assert_allclose(255 * layer.rgb, expected(0.4, top, bottom5), atol=2.0)
    control.set_opacity(0)  # flipped at 0 %: the MRI alone, in grey
    np.testing.assert_allclose(layer.rgb, np.stack([top] * 3, -1), atol=1e-6)
    control.flip()  # not flipped at 0 %: the US alone, as the pane draws it
    np.testing.assert_allclose(layer.rgb, np.stack([bottom5] * 3, -1), atol=1e-6)
    control.set_enabled(False)
    assert layer.rgb is None and not layer.item.isVisible()


def test_fused_pane_and_compare_view_use_the_same_blend(window, qtbot):
    open_small_demo(window)
    record = fuse(qtbot, window, iterations=2)
    control = window.overlay
    control.set_source("mri_estimate")
    control.set_enabled(True)
    fused = control.layers[1]
    pane = window.fused_pane
    estimate = record.result.mri_estimate
    expected = compositing.overlay(
        _grey(pane.content.pixels, pane.window.levels),
        _grey(estimate, robust_levels(estimate)), 0.4, colour_table("inferno"),
    )
    np.testing.assert_allclose(fused.rgb, expected, atol=0.01)  # float32 vs float64 grey

    compare = window.compare
    compare.set_pair(record.name, "US (source)")
    compare.set_mode("overlay")
    a, b = compare.images()
    np.testing.assert_allclose(
        compare.composite(), compositing.overlay(b, a, 0.4, colour_table("inferno")), atol=1e-6
    )
    control.colour_map.setCurrentText("viridis")
    control.set_opacity(70)
    control.flip()
    np.testing.assert_allclose(
        compare.composite(), compositing.overlay(a, b, 0.7, colour_table("viridis")), atol=1e-6
    )
    assert "B in viridis at 70% over A" in compare.pane.overlay.top_left[0]
    np.testing.assert_allclose(
        fused.rgb,
        compositing.overlay(_grey(estimate, robust_levels(estimate)),
                            _grey(pane.content.pixels, pane.window.levels), 0.7,
                            colour_table("viridis")),
        atol=0.01,
    )


def test_keys_show_and_flip_the_overlay(window, qtbot):
    assert window.open_demo()
    control = window.overlay
    window.activateWindow()
    window.us_pane.view.setFocus()
    qtbot.keyClick(window.us_pane.view, Qt.Key.Key_O)
    assert control.act_show.isChecked() and control.layers[0].item.isVisible()
    qtbot.keyClick(window.us_pane.view, Qt.Key.Key_F)
    assert control.style.flipped


def test_orientation_markers_where_the_file_has_an_orientation(window, tmp_path, dicom_pair_writer):
    mri, us = dicom_pair_writer(tmp_path, "P1", size=120, seed=0)
    assert window.open_mri(mri) and window.open_us(us)
    marks = window.mri_pane.orientation.markers  # the MR file is an axial slice
    assert (marks.left, marks.right, marks.top, marks.bottom) == ("R", "L", "A", "P")
    assert window.us_pane.orientation.markers is None  # the US file has no orientation
    assert window.open_demo()
    assert window.mri_pane.orientation.markers is None
    assert window.us_pane.orientation.markers is None
