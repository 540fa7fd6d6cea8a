"""The registry of network weights (``checkpoints/manifest.json``) and loading them safely.

Each entry names a file, its architecture ``config``, which methods use it, and (when pinned) its
sha256 and size, verified before loading. Entries marked ``bundled`` ship in the folder and must
be pinned; they also record how they were made (``training``: command, seed, steps, data
sources and licences, date, measured quality). Kinds: ``adm-unet`` (diffusion priors, the lowest
``priority`` present wins) and ``dncnn`` (the US despeckler PALM starts from). A user-supplied
weights file may also be given by path; it must then carry its own configuration
(``{"config": ..., "state_dict": ...}``). Loading is strict
(:func:`engine.diffusion.unet.load_adm_weights`) and never falls back to random weights.
The full public prior ``256x256_diffusion_uncond.pt`` is used when the user places it in the
checkpoints folder (``ENDOFUSE_CHECKPOINTS`` overrides the folder).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import WeightsError
from .fusion import WeightsIdentity
from .torch_files import load_torch_file

MANIFEST_NAME = "manifest.json"


def checkpoints_dir() -> Path:
    """``$ENDOFUSE_CHECKPOINTS`` or the ``checkpoints/`` folder beside the ``engine`` package."""
    override = os.environ.get("ENDOFUSE_CHECKPOINTS")
    return Path(override) if override else Path(__file__).resolve().parents[1] / "checkpoints"


@dataclass(frozen=True)
class CheckpointEntry:
    """One manifest entry (see module docstring)."""

    name: str
    file: str
    kind: str
    bundled: bool
    sha256: str | None
    size: int | None
    used_by: tuple[str, ...]
    priority: int
    source: str
    config: dict[str, Any]
    training: dict[str, Any] | None = None

    def path(self, folder: Path | None = None) -> Path:
        return (folder or checkpoints_dir()) / self.file


def load_manifest(folder: Path | None = None) -> tuple[CheckpointEntry, ...]:
    """All entries of ``manifest.json`` in ``folder`` (default :func:`checkpoints_dir`)."""
    path = (folder or checkpoints_dir()) / MANIFEST_NAME
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsError(f"The checkpoint manifest {path} is missing or unreadable.") from exc
    return tuple(
        CheckpointEntry(
            name=e["name"], file=e["file"], kind=e["kind"], bundled=bool(e["bundled"]),
            sha256=e.get("sha256"), size=e.get("size"), used_by=tuple(e["used_by"]),
            priority=int(e.get("priority", 0)), source=e.get("source", ""),
            config=dict(e["config"]), training=e.get("training"),
        )
        for e in raw["checkpoints"]
    )


def diffusion_prior_for(method: str, folder: Path | None = None) -> CheckpointEntry:
    """The highest-priority diffusion prior of ``method`` whose file is present.

    Raises :class:`WeightsError` naming the file(s) to place and the folder when none is.
    """
    folder = folder or checkpoints_dir()
    entries = sorted(
        (e for e in load_manifest(folder) if method in e.used_by and e.kind == "adm-unet"),
        key=lambda e: e.priority,
    )
    for entry in entries:
        if entry.path(folder).is_file():
            return entry
    if not entries:
        raise WeightsError(f"No diffusion weights are registered for the method {method}.")
    wanted = entries[0]
    raise WeightsError(
        f"The diffusion weights {wanted.file} for {method} are missing: place that file in "
        f"{folder} (source: {wanted.source})."
    )


def despeckler_entry(folder: Path | None = None) -> CheckpointEntry | None:
    """The highest-priority ``dncnn`` despeckler whose file is present, or None."""
    folder = folder or checkpoints_dir()
    present = [e for e in load_manifest(folder) if e.kind == "dncnn" and e.path(folder).is_file()]
    return min(present, key=lambda e: e.priority) if present else None


_DIGEST_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, cached by (path, size, mtime) so a 2 GB checkpoint is hashed once."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGEST_CACHE:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        _DIGEST_CACHE[key] = digest.hexdigest()
    return _DIGEST_CACHE[key]


def verify_file(entry: CheckpointEntry, folder: Path | None = None) -> str:
    """Check size and sha256 against the manifest (when pinned; bundled files must be);
    return the sha256."""
    path = entry.path(folder)
    if entry.bundled and (entry.sha256 is None or entry.size is None):
        raise WeightsError(
            f"The bundled weights {entry.file} have no sha256/size in the manifest; they cannot "
            "be verified and are not used."
        )
    if entry.size is not None and path.stat().st_size != entry.size:
        raise WeightsError(
            f"The weights file {path.name} has {path.stat().st_size} bytes instead of "
            f"{entry.size}; it is incomplete or a different file: replace it with {entry.source}."
        )
    digest = file_sha256(path)
    if entry.sha256 is not None and digest != entry.sha256:
        raise WeightsError(
            f"The weights file {path.name} does not have the registered sha256 "
            f"({entry.sha256[:12]}...); it is corrupt or a different file: replace it."
        )
    return digest


def load_diffusion_prior(
    method: str, weights_file: str | Path | None = None, folder: Path | None = None
):
    """(ADMUNet in eval mode on the CPU, WeightsIdentity) for ``method``.

    ``weights_file`` (optional) is a self-describing ``{"config", "state_dict"}`` file, used
    instead of the registry (the bundled prior format, and what tests use).
    """
    from .diffusion.unet import ADMUNet, check_state_dict, load_adm_weights

    if weights_file:
        path = Path(weights_file)
        import torch

        loaded = load_torch_file(path, "diffusion weights file")
        if not isinstance(loaded, dict) or "config" not in loaded or "state_dict" not in loaded:
            raise WeightsError(
                f"The file {path.name} must hold a 'config' and a 'state_dict' (a self-describing "
                "diffusion prior); registry checkpoints go into the checkpoints folder instead."
            )
        try:
            with torch.device("meta"):
                model = ADMUNet(**loaded["config"])
        except (TypeError, ValueError) as exc:
            raise WeightsError(
                f"The configuration stored in {path.name} is invalid: {exc}"
            ) from exc
        state = loaded["state_dict"]
        check_state_dict(model, state, path.name)
        state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        model.load_state_dict(state, strict=True, assign=True)
        identity = WeightsIdentity(name="user-prior", file=path.name, sha256=file_sha256(path))
        return model.eval(), identity
    entry = diffusion_prior_for(method, folder)
    digest = verify_file(entry, folder)
    import torch

    with torch.device("meta"):
        skeleton = ADMUNet(**entry.config)
    model = load_adm_weights(skeleton, entry.path(folder))
    return model.eval(), WeightsIdentity(name=entry.name, file=entry.file, sha256=digest)
