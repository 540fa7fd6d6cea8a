"""One pipeline from file to file: ``load -> pair -> fuse -> measure -> export``.

::

    from engine import pipeline
    fi = pipeline.pair(pipeline.load("mr.dcm"), pipeline.load("us.dcm"))
    pipeline.check_output_path("fused.dcm")          # before the (long) fusion
    record = pipeline.fuse(fi, "palm")                 # FusionRecord, measured
    pipeline.measure(record).standard                  # the one metrics entry
    pipeline.export(record, "fused.dcm")               # identity from the record's own sources

The viewer, the command line, the demo and the benchmarks all call these functions; a
:class:`FusionRecord` is what each of them keeps of a result.
"""

from .export import export
from .measure import RECORD_SCALING_TEXT, Measurement, measure, measure_images
from .paths import OUTPUT_FORMATS, atomic_write, check_output_path, sidecar_path
from .record import IMAGE_CHOICES, IMAGE_LABELS, FusionRecord, ImageChoice
from .steps import fuse, load, pair, record_of

__all__ = [
    "IMAGE_CHOICES",
    "IMAGE_LABELS",
    "OUTPUT_FORMATS",
    "RECORD_SCALING_TEXT",
    "FusionRecord",
    "ImageChoice",
    "Measurement",
    "atomic_write",
    "check_output_path",
    "export",
    "fuse",
    "load",
    "measure",
    "measure_images",
    "pair",
    "record_of",
    "sidecar_path",
]
