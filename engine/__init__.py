"""EndoFuse engine: scans, fusion methods and metrics, usable without any GUI.

The engine never imports Qt or the ``app`` package (a test enforces it).
"""

__version__ = "0.1.0"
