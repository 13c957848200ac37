"""One torch thread for a block: the same arithmetic whatever the machine's
thread settings, and no intra-op pool waking up for tiny tensors.

Imports torch only, so tests/_upstream_study_scenario.py can share it with
the oracle venv that runs the published mushin-py.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block on one torch thread, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
