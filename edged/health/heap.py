"""Handing the heap that start-up freed back to the system.

Importing edged's modules, opening the devices and the link allocate and free
a few megabytes of small objects; glibc keeps the freed memory for reuse, so the
resident size stays as high as the start-up peak (measured: 1.9 MB on an x86-64
VM with Python 3.11). One ``malloc_trim(0)`` once the daemon has settled returns
it; the steady state never needs it again.
"""

from __future__ import annotations

import ctypes


def trim() -> bool:
    """Ask glibc to return freed heap to the system; False where there is no glibc."""
    try:  # the process's own symbols: no library search (no ldconfig run in the sandbox)
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # musl and others: nothing to give back this way
        return False
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    fn(0)
    return True
