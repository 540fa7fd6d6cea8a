"""EndoFuse viewer: the PySide6 + pyqtgraph desktop GUI over the Qt-free :mod:`engine`.

The engine is the model (scans, fusion input, results); the widgets here observe it and never
compute fusion themselves. Long work runs on a ``QThread`` worker (:mod:`app.fusion_worker`).
"""

import os

# The fusion's numerical libraries share the CPU with the UI thread: idle OpenMP workers should
# sleep rather than spin, or they take the cores the UI thread needs (set before torch loads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ORGANISATION = "EndoFuse"
APPLICATION = "EndoFuse Viewer"
