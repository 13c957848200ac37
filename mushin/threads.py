"""How many threads the C core may use for one large confusion-matrix update.

A :class:`~mushin.ConfusionMatrix` built with ``num_threads=None`` (the
default, and what :func:`~mushin.compare` uses) asks :func:`get_num_threads`
whenever an update is large enough to be worth splitting (about 2^19 labels,
or logit values for ``update_logits``).  By default that follows
``torch.get_num_threads()``, so ``torch.set_num_threads(1)`` makes torch and
mushin single-threaded together; :func:`set_num_threads` fixes it instead.
The counts never depend on the thread count.

Examples
--------
>>> import mushin
>>> mushin.set_num_threads(2)
>>> mushin.get_num_threads()
2
>>> mushin.set_num_threads(None)  # follow torch again
"""
from __future__ import annotations

import os
import sys
from typing import Optional

__all__ = ["set_num_threads", "get_num_threads", "MAX_THREADS"]

#: The most threads one update can use (the C core's limit).
MAX_THREADS = 64

_fixed: Optional[int] = None


def set_num_threads(num_threads: Optional[int]) -> None:
    """Fix the thread count of large updates, or ``None`` to follow torch.

    Parameters
    ----------
    num_threads : int or None
        1 to 64 threads for every :class:`~mushin.ConfusionMatrix` whose own
        ``num_threads`` is ``None``; ``None`` (the default state) follows
        ``torch.get_num_threads()``.

    Examples
    --------
    >>> import mushin
    >>> mushin.set_num_threads(1)  # serial counting from now on
    >>> mushin.set_num_threads(None)
    """
    global _fixed
    if num_threads is not None:
        if isinstance(num_threads, bool) or not isinstance(num_threads, int):
            raise TypeError(f"num_threads must be an int or None, got {num_threads!r}")
        if not 1 <= num_threads <= MAX_THREADS:
            raise ValueError(f"num_threads must be between 1 and {MAX_THREADS} (or None), got {num_threads}")
    _fixed = num_threads


def get_num_threads() -> int:
    """The thread count of large updates.

    The value given to :func:`set_num_threads`, else
    ``torch.get_num_threads()`` when torch is imported (mushin never imports
    it here), else the number of CPUs this process may run on.

    Examples
    --------
    >>> import mushin
    >>> mushin.get_num_threads() >= 1
    True
    """
    if _fixed is not None:
        return _fixed
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_num_threads"):
        return max(1, min(MAX_THREADS, int(torch.get_num_threads())))
    if hasattr(os, "sched_getaffinity"):
        return max(1, min(MAX_THREADS, len(os.sched_getaffinity(0))))
    return max(1, min(MAX_THREADS, os.cpu_count() or 1))


# The C core asks this module's get_num_threads for the thread count of a
# large update with num_threads=None; registering it here (rather than the C
# core importing mushin.threads) keeps the dependency running one way.
# The name is looked up at each call, so a replaced get_num_threads is seen.
from . import _core  # noqa: E402

_core.set_default_threads(lambda: get_num_threads())
