"""Let the C library give freed image memory back to the system (glibc only; a no-op elsewhere).

The viewer allocates and frees images of a few MB on the UI thread and on a worker thread per
fusion. glibc keeps freed blocks in per-thread arenas (up to eight per core) instead of returning
them: in a session of many fusions the resident size grew far beyond what the results hold (1454
MiB after 10 demo fusions, 2419 MiB after 100, while the results held under 300 MB).
:func:`tune_allocator` limits the arenas to two, and :func:`give_back_freed_memory`
(``malloc_trim(0)``, which also releases free pages inside the heaps) runs after every change
of the results: 540 MiB after 10 fusions, +5.7 MiB per fusion after that, about what each result
holds (``python bench/soak.py --methods --viewer-fusions 30``). Fixing the mmap threshold instead
gave the same sizes at four times the system time (page faults on every image allocation).
"""

from __future__ import annotations

import ctypes
import functools

#: mallopt parameter (glibc malloc.h) and its value
M_ARENA_MAX, ARENAS = -8, 2


@functools.cache
def _libc():
    """The C library the process already runs on (no search: ``find_library`` would start a
    subprocess at the viewer's start-up); None when it is not glibc."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc only
    except (OSError, AttributeError):
        return None
    return libc


@functools.cache
def tune_allocator() -> bool:
    """Limit glibc to :data:`ARENAS` arenas, once; True when the setting was taken."""
    libc = _libc()
    return libc is not None and bool(libc.mallopt(M_ARENA_MAX, ARENAS))


def give_back_freed_memory() -> None:
    """``malloc_trim(0)``: return the free memory of the heaps to the system."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
