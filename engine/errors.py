"""Typed errors of the engine.

Every error raised for bad input carries one sentence that a clinician can act on; the GUI shows
``str(error)`` in a dialog and the CLI prints it and exits non-zero.
"""


class EndoFuseError(Exception):
    """Base class of every error the engine raises on purpose."""


class ScanReadError(EndoFuseError):
    """A file could not be read as an image (missing, unreadable, unsupported format)."""


class InvalidImageError(EndoFuseError):
    """The pixels are unusable: empty, NaN/inf, constant, not 2-D, or absurdly large."""


class GeometryError(EndoFuseError):
    """The two scans do not fit together (MRI larger than US, non-integer scale factor, ...)."""


class ParameterError(EndoFuseError):
    """A fusion parameter is out of its allowed range or unknown."""


class WeightsError(EndoFuseError):
    """Network weights are missing, corrupt, or do not match the expected architecture."""


class NumericalError(EndoFuseError):
    """A computation produced NaN/inf (e.g. the network diverged) and was stopped."""


class FusionCancelled(EndoFuseError):
    """The user cancelled a running fusion."""


class OutputPathError(EndoFuseError):
    """An output file cannot be written where asked (missing folder, no permission, bad suffix)."""


class RegistrationError(EndoFuseError):
    """Automatic registration failed or diverged, or a transform file is unusable."""


class ImageReleasedError(EndoFuseError):
    """A result's images were released to keep memory within its budget (metrics are kept)."""


class PairingSafetyError(EndoFuseError):
    """The two scans look like different patients or the wrong modalities; needs a confirmation."""
