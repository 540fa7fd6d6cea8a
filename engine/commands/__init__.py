"""Sub-commands of the ``endofuse`` CLI (see :mod:`engine.cli`)."""
