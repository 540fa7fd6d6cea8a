"""Batch fusion of whole studies: plan (manifest or DICOM tree), run (pool or Dask), report.

Qt-free like the rest of the engine. Heavy dependencies (torch, dask, pynetdicom, matplotlib)
are imported where they are used, so importing this package is cheap.
"""

from .dicom_tree import pair_tree
from .plan import BatchPlan, PairingError, PairTask, Unpaired, read_manifest
from .run import BatchSettings, BatchSummary, parse_formats, run_batch
from .store import OutputTree, PairOutcome

__all__ = [
    "BatchPlan",
    "BatchSettings",
    "BatchSummary",
    "OutputTree",
    "PairOutcome",
    "PairTask",
    "PairingError",
    "Unpaired",
    "pair_tree",
    "parse_formats",
    "read_manifest",
    "run_batch",
]
