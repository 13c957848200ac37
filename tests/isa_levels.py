"""The instruction-set levels of the C loops this CPU runs, for tests that sweep them.

0 is baseline, 1 AVX2, 2 AVX-512.  ``_core.isa_level()`` at import is the
level this run started at (MUSHIN_ISA may cap it), the last of ISA_LEVELS.
The ``isa`` fixture of tests/conftest.py runs a test at each level.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

from mushin import _core

ISA_NAMES = ["baseline", "avx2", "avx512"]
ISA_LEVELS = [level for level in (0, 1, 2) if level <= _core.isa_level()]


@contextlib.contextmanager
def isa_capped(level: int) -> Iterator[int]:
    """Cap the C loops at ``level`` for the block, then go back to the level this run started at."""
    assert _core.set_isa_cap(level) == level
    try:
        yield level
    finally:
        _core.set_isa_cap(ISA_LEVELS[-1])
