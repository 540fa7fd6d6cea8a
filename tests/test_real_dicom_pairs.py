"""Every MR + US pair formable from pydicom's and pydicom-data's test files pairs or says why.

Each pair is tried as a user would: when the sentence names an action (a flag the viewer also
offers), the action is taken and the pair tried again. In the end every pair must form a fusion
input, or the sentence must say that a file is damaged or not an image. A selection fuses end to end
(PALM, one iteration) and one pair runs through the command line.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from engine.errors import EndoFuseError, ScanReadError
from engine.geometry.checks import SafetyOptions
from engine.io import load_scan
from engine.pairing import PairingOptions, pair_scans, plan_pair

pydicom_data = pytest.importorskip("pydicom.data")

PYDICOM_FILES = Path(pydicom_data.__file__).parent / "test_files"

#: (modality, file) of every MR and US image among the test files (read from their headers;
#: the folder is the pydicom test files or, with "data:", the pydicom-data package)
PAIRABLE = {
    "MR": [
        "MR_small.dcm",
        "MR_small_RLE.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_expb.dcm",
        "MR_small_implicit.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_padded.dcm",
        "MR_truncated.dcm",
        "examples_overlay.dcm",
        *(f"dicomdirtests/98892003/MR1/{n}" for n in ("15820", "4919", "5641")),
        *(
            f"dicomdirtests/98892003/MR2/{n}"
            for n in ("15970", "4950", "4981", "5011", "6273", "6605", "6935")
        ),
        *(
            f"dicomdirtests/98892003/MR700/{n}"
            for n in ("4467", "4528", "4558", "4588", "4618", "4648", "4678")
        ),
        "data:MR-SIEMENS-DICOM-WithOverlays.dcm",
        "data:MR2_J2KI.dcm",
        "data:MR2_J2KR.dcm",
        "data:MR2_UNCI.dcm",
        "data:MR2_UNCR.dcm",
        "data:emri_small.dcm",
        "data:emri_small_RLE.dcm",
        "data:emri_small_big_endian.dcm",
        "data:emri_small_jpeg_2k_lossless.dcm",
        "data:emri_small_jpeg_2k_lossless_too_short.dcm",
        "data:emri_small_jpeg_ls_lossless.dcm",
    ],
    "US": [
        "ExplVR_BigEnd.dcm",
        "examples_jpeg2k.dcm",
        "examples_palette.dcm",
        "examples_rgb_color.dcm",
        "examples_ybr_color.dcm",
        "data:JPGLosslessP14SV1_1s_1f_8b.dcm",
        "data:OBXXXX1A.dcm",
        "data:OBXXXX1A_2frame.dcm",
        "data:OBXXXX1A_expb.dcm",
        "data:OBXXXX1A_expb_2frame.dcm",
        "data:OBXXXX1A_rle.dcm",
        "data:OBXXXX1A_rle_2frame.dcm",
        "data:US1_J2KI.dcm",
        "data:US1_J2KR.dcm",
        "data:US1_UNCI.dcm",
        "data:US1_UNCR.dcm",
        "data:color-pl.dcm",
        "data:color-px.dcm",
        "data:color3d_jpeg_baseline.dcm",
        "data:gdcm-US-ALOKA-16.dcm",
        "data:gdcm-US-ALOKA-16_big.dcm",
    ],
}

#: what the user does for each sentence that names an action (the spacings are examples)
ACTIONS = {
    "--allow-different-patients": {"safety": SafetyOptions(allow_different_patients=True)},
    "--us-spacing and --mri-spacing": {"us_spacing": 0.1, "mri_spacing": 0.5},
    "--us-spacing": {"us_spacing": 0.1},
    "--mri-spacing": {"mri_spacing": 0.5},
}


def resolve(name: str) -> Path:
    if name.startswith("data:"):
        data_store = pytest.importorskip("data_store")
        return Path(data_store.__file__).parent / "data" / name[5:]
    return PYDICOM_FILES / name


@cache
def scan_or_error(name: str):
    try:
        return load_scan(resolve(name))
    except EndoFuseError as exc:
        return exc


def attempt(mri_name: str, us_name: str, pair=pair_scans):
    """(``pair(...)`` or None, the sentences met, the options that worked)."""
    mri, us = scan_or_error(mri_name), scan_or_error(us_name)
    for item in (mri, us):
        if isinstance(item, Exception):
            return None, [str(item)], None
    options, sentences = PairingOptions(), []
    for _ in range(len(ACTIONS)):
        try:
            return pair(mri, us, options=options), sentences, options
        except EndoFuseError as exc:
            sentences.append(str(exc))
            action = next((v for k, v in ACTIONS.items() if k in str(exc)), None)
            if action is None:
                return None, sentences, None
            options = dataclasses.replace(options, **action)
    return None, sentences, None


def one_sentence(text: str) -> bool:
    return text.endswith(".") and "\n" not in text and len(text) < 400


def test_every_pair_fuses_or_says_what_to_do():
    """All 798 pairs through the checks and the geometry; the pixel work on one MR per US."""
    pairs = [(m, u) for m in PAIRABLE["MR"] for u in PAIRABLE["US"]]
    formed, sampled = 0, set()
    for mri_name, us_name in pairs:
        report, sentences, options = attempt(mri_name, us_name, plan_pair)
        assert all(one_sentence(s) for s in sentences), (mri_name, us_name, sentences)
        if report is None:  # only files that cannot be read at all remain
            assert isinstance(scan_or_error(mri_name), ScanReadError) or isinstance(
                scan_or_error(us_name), ScanReadError
            ), (mri_name, us_name, sentences)
            continue
        formed += 1
        assert report.box.w % report.geometry.d == 0 and report.box.h % report.geometry.d == 0
        if us_name in sampled:
            continue
        sampled.add(us_name)
        fusion_input = pair_scans(scan_or_error(mri_name), scan_or_error(us_name), options=options)
        h, w = fusion_input.y_m.shape
        assert fusion_input.y_u.shape == (h * fusion_input.d, w * fusion_input.d)
        assert np.isfinite(fusion_input.y_m).all() and np.isfinite(fusion_input.y_u).all()
    assert len(pairs) == 38 * 21 and formed == 756 and len(sampled) == 21


def test_burned_in_text_is_cropped_by_the_us_region():
    fusion_input, _, _ = attempt("MR_small.dcm", "data:OBXXXX1A.dcm")
    report = fusion_input.pairing
    assert report.roi.roi.text() == "120,60,680,459"
    assert "DICOM US regions" in report.provenance()["pairing-notes"]
    cine, _, _ = attempt("MR_small.dcm", "data:OBXXXX1A_2frame.dcm")
    assert (
        "frame 1 of 2 (0-based) used (the middle one" in cine.pairing.provenance()["pairing-notes"]
    )


@pytest.mark.parametrize(
    "us_name",
    [
        "data:OBXXXX1A.dcm",
        "examples_ybr_color.dcm",
        "data:gdcm-US-ALOKA-16.dcm",
        "ExplVR_BigEnd.dcm",
    ],
)
def test_selected_pairs_fuse_end_to_end(us_name):
    from engine.methods import get_method, run

    fusion_input, _, _ = attempt("MR_small.dcm", us_name)
    params = dataclasses.replace(get_method("palm").params_type(), iterations=1)
    result = run("palm", fusion_input, params)
    assert result.fused.shape == fusion_input.y_u.shape and np.isfinite(result.fused).all()


def test_command_line_fuses_a_real_pair(tmp_path, capsys):
    from engine.cli import main

    out = tmp_path / "fused.npy"
    args = [
        "fuse",
        "--mri",
        str(resolve("MR_small.dcm")),
        "--us",
        str(resolve("data:OBXXXX1A_2frame.dcm")),
        "--out",
        str(out),
        "--quiet",
        "--param",
        "iterations=1",
    ]
    assert main(args) == 2
    assert "--allow-different-patients" in capsys.readouterr().err
    assert (
        main([*args, "--allow-different-patients", "--frame", "0", "--roi", "200,100,300,200"]) == 0
    )
    assert np.load(out).shape == (48, 77)  # the 20 mm MRI field inside the box, d = 1
