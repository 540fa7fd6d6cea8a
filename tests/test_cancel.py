"""Cancel inside a network evaluation (forward pre-hooks) and during the set-up phase.

No test measures time: each checks *where* the cancel took effect (which blocks ran, which frame
raised); ``bench/soak.py`` measures the latency.
"""

from __future__ import annotations

import traceback

import numpy as np
import pytest
import torch

from engine.cancel_hooks import cancel_between_blocks, network_blocks
from engine.errors import FusionCancelled
from engine.fusion import FusionInput
from engine.methods import run
from engine.methods.ddfm import DdfmEmParams, DdfmPalmParams
from engine.methods.palm_method import PalmMethodParams
from engine.progress import CancelToken


class Stack(torch.nn.Module):
    """Five blocks in a module list; records which ran."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = torch.nn.ModuleList(torch.nn.Identity() for _ in range(5))
        self.ran: list[int] = []

    def forward(self, x, t=None):
        for index, block in enumerate(self.blocks):
            self.ran.append(index)
            x = block(x)
        return torch.cat([torch.zeros_like(x), torch.zeros_like(x)], dim=1)


def raise_after(calls: int):
    count = [0]

    def check() -> None:
        count[0] += 1
        if count[0] > calls:
            raise FusionCancelled("Fusion cancelled by the user.")

    return check, count


def frames(exc: BaseException) -> list[str]:
    """``file:function`` of every frame between the catch and the raise."""
    return [f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_code.co_name}"
            for frame, _ in traceback.walk_tb(exc.__traceback__)]


def raised_in_hook(exc: BaseException) -> bool:
    return any(name.startswith("cancel_hooks.py:") for name in frames(exc))


def test_cancel_stops_between_blocks_and_hooks_go_away():
    model = Stack()
    assert len(network_blocks(model)) == 5
    check, count = raise_after(2)
    with pytest.raises(FusionCancelled), cancel_between_blocks(model, check):
        model(torch.zeros(1, 3, 4, 4))
    assert model.ran == [0, 1, 2]  # the third block's hook raised
    model.ran.clear()
    model(torch.zeros(1, 3, 4, 4))
    assert model.ran == [0, 1, 2, 3, 4] and count[0] == 3  # no hook left behind


def test_sampler_checks_inside_the_network():
    from engine.diffusion.sampler import ddfm_sample
    from engine.em import EmCorrector

    model = Stack()
    image = torch.zeros(1, 1, 8, 8)
    check, _ = raise_after(1 + 3)  # the step's own check, then three blocks
    with pytest.raises(FusionCancelled) as info:
        ddfm_sample(model, torch.zeros(1, 3, 8, 8), EmCorrector(image, image), respacing="4",
                    cancel=check)
    assert model.ran == [0, 1, 2, 3] and raised_in_hook(info.value)


def _pair(h=12, w=10, d=4) -> FusionInput:
    rng = np.random.default_rng(3)
    us = 1.0 + rng.random((h * d, w * d))
    mri = us.reshape(h, d, w, d).mean(axis=(1, 3))
    return FusionInput(y_m=mri / mri.max(), y_u=us / us.max(), d=d)


def _cancel_at_first_event(token: CancelToken):
    def progress(event) -> None:
        token.cancel()

    return progress


def test_ddfm_em_cancel_reaches_the_sampler(shared):
    """The method hands its cancel check to the sampler: a cancel during the first step stops
    there (in the sampler's own check or a network block), not after the step's progress."""
    tiny = shared("fixtures", "adm_tiny.pt")
    token = CancelToken()
    with pytest.raises(FusionCancelled) as info:
        run("ddfm-em", _pair(), DdfmEmParams(steps=4, weights_file=str(tiny)),
            progress=_cancel_at_first_event(token), cancel=token)
    names = frames(info.value)
    assert "sampler.py:ddfm_sample" in names and "ddfm.py:progress" not in names, names


def test_palm_cancel_reaches_the_learned_despeckler():
    token = CancelToken()
    params = PalmMethodParams(iterations=1, despeckler="learned")
    try:
        from engine.denoise import bundled_despeckler

        if bundled_despeckler() is None:
            pytest.skip("no bundled despeckler in checkpoints/")
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"bundled despeckler unavailable ({exc})")
    with pytest.raises(FusionCancelled) as info:
        run("palm", _pair(), params, progress=_cancel_at_first_event(token), cancel=token)
    assert raised_in_hook(info.value)


def test_ddfm_palm_set_up_is_cancellable(monkeypatch):
    import engine.methods.ddfm as ddfm

    def no_load(*args, **kwargs):
        raise AssertionError("the network was loaded after Cancel")

    monkeypatch.setattr(ddfm, "_load_model", no_load)
    token = CancelToken()
    token.cancel()
    for method, params in (("ddfm-palm", DdfmPalmParams(steps=2)),
                           ("ddfm-em", DdfmEmParams(steps=2))):
        with pytest.raises(FusionCancelled):
            run(method, _pair(), params, cancel=token)


def test_original_variant_link_fit_is_cancellable(monkeypatch):
    """A cancel during the first spectral norm of the original variant's link fit stops before
    the second one (each dense factorisation takes a second or more on a 600x600 image)."""
    import engine.palm_link as palm_link

    token = CancelToken()
    norms = []
    real_norm = palm_link.spectral_norm

    def cancelling_norm(image):
        norms.append(tuple(image.shape))
        token.cancel()
        return real_norm(image)

    monkeypatch.setattr(palm_link, "spectral_norm", cancelling_norm)
    with pytest.raises(FusionCancelled) as info:
        run("palm", _pair(), PalmMethodParams(variant="corrected", iterations=1,
                                               despeckler="classical"), cancel=token)
    trace = frames(info.value)
    assert len(norms) == 1 and "palm_link.py:_fit_link" in trace, (norms, trace)


def test_joint_palm_start_is_a_phase_that_a_cancel_stops_before_the_mri_restoration(
    monkeypatch,
):
    """The MRI-only start of the joint PALM is reported as its own phase; a cancel there stops
    before that restoration runs (and so before any iteration)."""
    import engine.joint_palm as joint_palm

    token = CancelToken()
    messages = []

    def on_progress(event):
        messages.append(event.message)
        if "MRI alone" in event.message:
            token.cancel()

    def no_restore(*args, **kwargs):
        raise AssertionError("the MRI-only restoration ran after Cancel")

    monkeypatch.setattr(joint_palm, "initial_joint_state", no_restore)
    with pytest.raises(FusionCancelled):
        run("palm", _pair(), PalmMethodParams(iterations=2, despeckler="classical"),
            progress=on_progress, cancel=token)
    assert any("MRI alone" in m for m in messages), messages
    assert not any("PALM iteration" in m for m in messages), messages
