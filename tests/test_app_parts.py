"""Viewer building blocks: window/level, compositing, parameter form, compare view, linking."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPointF, QRectF, Qt  # noqa: E402
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QSpinBox, QWidget  # noqa: E402
from viewer_fixtures import show  # noqa: E402

from app import compositing  # noqa: E402
from app.compare_view import CompareView  # noqa: E402
from app.image_pane import ImagePane, PaneImage, nice_length  # noqa: E402
from app.linked_views import ViewLink  # noqa: E402
from app.param_panel import NumberSpinBox, ParamPanel  # noqa: E402
from app.window_level import WindowLevel, preset_window  # noqa: E402
from engine.params import param, spec_of  # noqa: E402


def _images(shape=(37, 31), seed=0):
    rng = np.random.default_rng(seed)
    return rng.random(shape), rng.random(shape) + 2.0


# ----- window / level --------------------------------------------------------------------------
def test_window_levels_round_trip_and_presets():
    wl = WindowLevel.from_levels(-1.0, 3.0)
    assert wl.levels == (-1.0, 3.0)
    assert (wl.centre, wl.width) == (1.0, 4.0)
    image = np.linspace(0.0, 10.0, 1001).reshape(7, 143)
    assert preset_window(3, image).levels == pytest.approx((0.0, 10.0))
    auto = preset_window(2, image).levels
    assert auto == pytest.approx((0.05, 9.95))
    assert preset_window(1, image) == preset_window(2, image)
    stored = WindowLevel(40.0, 400.0)
    assert preset_window(1, image, stored) is stored
    assert preset_window(5, image).width < preset_window(4, image).width < auto[1] - auto[0]
    with pytest.raises(ValueError):
        preset_window(6, image)


def test_window_drag_direction():
    wl = WindowLevel(0.5, 1.0)
    dragged = wl.dragged(dx=10, dy=0, value_per_pixel=0.01)
    assert dragged.width == pytest.approx(1.1) and dragged.centre == 0.5
    assert wl.dragged(dx=0, dy=10, value_per_pixel=0.01).centre == pytest.approx(0.6)
    assert wl.dragged(dx=-1e6, dy=0, value_per_pixel=0.01).width > 0


# ----- compositing -----------------------------------------------------------------------------
def test_blend_ends_are_exactly_one_image():
    a, b = _images()
    assert compositing.blend(a, b, 0.0) is a
    assert compositing.blend(a, b, 1.0) is b
    np.testing.assert_allclose(compositing.blend(a, b, 0.25), 0.75 * a + 0.25 * b)


def test_swipe_and_checkerboard_take_each_pixel_from_one_source():
    a, b = _images()
    out = compositing.swipe(a, b, 10.4, vertical=True)
    np.testing.assert_array_equal(out[:, :10], a[:, :10])
    np.testing.assert_array_equal(out[:, 10:], b[:, 10:])
    out = compositing.swipe(a, b, 5, vertical=False)
    np.testing.assert_array_equal(out[:5], a[:5])
    np.testing.assert_array_equal(out[5:], b[5:])
    board = compositing.checkerboard(a, b, 4)
    mask = compositing.checker_mask(a.shape, 4)
    assert mask[0, 0] and not mask[0, 4] and not mask[4, 0] and mask[4, 4]
    np.testing.assert_array_equal(board[mask], a[mask])
    np.testing.assert_array_equal(board[~mask], b[~mask])


def test_display_scale_and_grid():
    a, _ = _images((200, 100))
    scaled = compositing.display_scale(a * 50 + 7)
    assert np.percentile(scaled, 0.5) == pytest.approx(0.0, abs=1e-9)
    assert np.percentile(scaled, 99.5) == pytest.approx(1.0)
    coarse = np.arange(6.0).reshape(2, 3)
    fine = compositing.on_grid(coarse, 3)
    assert fine.shape == (6, 9)
    assert fine[4, 7] == coarse[1, 2]


def test_nice_length():
    assert nice_length(7.3) == 5.0
    assert nice_length(0.031) == pytest.approx(0.02)
    assert nice_length(100.0) == 100.0


# ----- parameter panel ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Params:
    mode: str = param("a", "Which mode.", choices=("a", "b"))
    count: int = param(10, "How many.", 1, 200)
    tau: float = param(1e-12, "A tiny weight.", 0.0, 1e3, log_scale=True)
    step: float = param(0.2, "A step.", 1e-6, 10.0)
    flag: bool = param(True, "A switch.")
    path: str = param("", "A file.")


def test_param_panel_is_generated_from_the_dataclass(qtbot):
    panel = ParamPanel()
    qtbot.addWidget(panel)
    panel.set_params_type(_Params)
    editors = panel.editors
    assert isinstance(editors["mode"], QComboBox)
    assert isinstance(editors["count"], QSpinBox)
    assert (editors["count"].minimum(), editors["count"].maximum()) == (1, 200)
    assert isinstance(editors["tau"], NumberSpinBox)
    assert editors["tau"].text() == "1e-12"
    assert isinstance(editors["flag"], QCheckBox)
    for f in dataclasses.fields(_Params):
        assert spec_of(f).help in editors[f.name].toolTip()
    assert "Range: 1 .. 200" in editors["count"].toolTip()
    assert panel.params() == _Params()

    editors["count"].setValue(3)
    editors["mode"].setCurrentText("b")
    editors["tau"].stepBy(2)
    editors["flag"].setChecked(False)
    values = panel.params()
    assert (values.count, values.mode, values.flag) == (3, "b", False)
    assert values.tau == pytest.approx(1e-10)
    panel.restore_defaults()
    assert panel.params() == _Params()


# ----- compare view ------------------------------------------------------------------------------
def test_compare_view_modes_and_keyboard_toggle(qtbot):
    view = show(qtbot, CompareView(), (600, 500))
    a, b = _images((60, 80))
    view.set_sources({"A-img": a, "B-img": b})
    view.set_pair("A-img", "B-img")
    sa, sb = view.images()
    np.testing.assert_array_equal(sa, compositing.display_scale(a))

    view.set_mode("blend")
    view.set_blend(0.0)
    np.testing.assert_array_equal(view.composite(), sa)
    view.set_blend(1.0)
    np.testing.assert_array_equal(view.composite(), sb)

    view.set_mode("checkerboard")
    view.set_square(8)
    mask = compositing.checker_mask(sa.shape, 8)
    np.testing.assert_array_equal(view.composite()[mask], sa[mask])
    np.testing.assert_array_equal(view.composite()[~mask], sb[~mask])

    view.set_mode("swipe-vertical")
    assert view.divider.isVisible() and view.divider.angle == 90
    view.set_divider(20)
    np.testing.assert_array_equal(view.composite()[:, :20], sa[:, :20])
    np.testing.assert_array_equal(view.composite()[:, 20:], sb[:, 20:])
    view.set_mode("swipe-horizontal")
    assert view.divider.angle == 0
    view.set_divider(45)
    np.testing.assert_array_equal(view.composite()[:45], sa[:45])
    np.testing.assert_array_equal(view.composite()[45:], sb[45:])

    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Space)
    assert view.mode == "flip"
    np.testing.assert_array_equal(view.composite(), sb)
    qtbot.keyClick(view, Qt.Key.Key_Space)
    np.testing.assert_array_equal(view.composite(), sa)
    qtbot.keyClick(view, Qt.Key.Key_B)
    np.testing.assert_array_equal(view.composite(), sb)
    view.swap()
    qtbot.keyClick(view, Qt.Key.Key_A)
    np.testing.assert_array_equal(view.composite(), sb)
    view.dispose()


# ----- linked views ------------------------------------------------------------------------------
def _view_state(pane: ImagePane) -> tuple[float, float, float]:
    rect = pane.view_box.viewRect()
    return rect.center().x(), rect.center().y(), rect.width() / pane.view_box.width()


def test_linked_views_share_centre_and_scale_across_grids(qtbot):
    host = QWidget()
    qtbot.addWidget(host)
    layout = QHBoxLayout(host)
    fine_pane, coarse_pane = ImagePane("fine"), ImagePane("coarse")
    layout.addWidget(fine_pane, 2)  # different widths on purpose
    layout.addWidget(coarse_pane, 1)
    show(qtbot, host, (900, 400))
    d = 6
    fine = np.random.default_rng(1).random((120, 120))
    coarse = fine.reshape(20, d, 20, d).mean(axis=(1, 3))
    fine_pane.set_image(PaneImage(fine, "fine"))
    coarse_pane.set_image(PaneImage(coarse, "coarse", cell=d))
    assert coarse_pane.content.data_rect == QRectF(0, 0, 120, 120)
    link = ViewLink()
    link.add(fine_pane.view_box, fine_pane)
    link.add(coarse_pane.view_box, coarse_pane)
    link.fit(QRectF(0, 0, 120, 120))
    for pane in (fine_pane, coarse_pane):
        cx, cy, _ = _view_state(pane)
        assert (cx, cy) == pytest.approx((60, 60), abs=1e-6)

    coarse_pane.view_box.scaleBy((0.5, 0.5), center=QPointF(30, 40))
    c1, c2 = _view_state(coarse_pane), _view_state(fine_pane)
    assert c2 == pytest.approx(c1, rel=1e-6, abs=1e-6)
    assert c1[2] == pytest.approx(link.scale)

    fine_pane.view_box.translateBy(x=10, y=-5)
    assert _view_state(coarse_pane) == pytest.approx(_view_state(fine_pane), rel=1e-6, abs=1e-6)

    # the same data point is the same physical place: coarse pixel = fine pixel // d
    assert coarse_pane.value_at(47.5, 13.2)[:2] == (13 // d, 47 // d)
    assert fine_pane.value_at(47.5, 13.2)[:2] == (13, 47)
    assert fine_pane.value_at(-1, 5) is None
    link.remove_all()
    fine_pane.dispose()
    coarse_pane.dispose()


@dataclasses.dataclass(eq=False)
class _Record:
    """What the results list reads of a FusionRecord."""

    number: int
    images_released: bool = False

    def summary(self) -> str:
        return f"#{self.number} palm"

    def sources_text(self) -> str:
        return "MRI | US"

    def details(self) -> str:
        return "palm, 2 iterations"


def test_results_list_announces_each_new_selection_once(qtbot):
    """Showing a result is the UI thread's longest step after a fusion: once per new list."""
    from app.results_panel import ResultsPanel

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    shown = []
    panel.selected.connect(shown.append)
    first, second = _Record(1), _Record(2)
    panel.set_records([first])
    assert shown == [first]
    panel.set_records([first, second], select=second)
    assert shown == [first, second] and panel.current() is second
    panel.set_records([first, second])  # the same list again: the selection is kept, announced
    assert shown == [first, second, second]
    panel.list.setCurrentRow(0)  # the user's click
    assert shown[-1] is first and len(shown) == 4
    panel.set_records([])
    assert len(shown) == 4 and panel.current() is None
