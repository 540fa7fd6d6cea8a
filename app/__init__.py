"""EndoFuse viewer: the PySide6 + pyqtgraph desktop GUI over the Qt-free :mod:`engine`.

The engine is the model (scans, fusion input, results); the widgets here observe it and never
compute fusion themselves. Long work runs on a ``QThread`` worker (:mod:`app.fusion_worker`).
"""

ORGANISATION = "EndoFuse"
APPLICATION = "EndoFuse Viewer"
