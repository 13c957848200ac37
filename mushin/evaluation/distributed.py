"""Multi-process evaluation over ``torch.distributed``.

When ``torch.distributed`` is initialised with more than one process (e.g.
under ``torchrun``), :func:`~mushin.compare` runs on every rank, each rank
evaluates a shard of ``data``, and the accumulated state of every model is
summed across ranks before any metric is computed.  Every rank then returns the same :class:`~mushin.BenchmarkResult`
as one process over all the data.

Who shards the data
-------------------
- **Plain data** (a list of batches, a ``DataLoader`` without a
  ``DistributedSampler``, any re-iterable): mushin shards it by batch index.
  Every rank iterates the same stream and evaluates the batches with
  ``index % world_size == rank``.  Every rank must therefore yield the same
  batches in the same order (no shuffling, or shuffling seeded alike).
  Skipped batches are still produced by the loader but never reach a model.
- **A ``DataLoader`` whose sampler is a** ``DistributedSampler``: each rank
  already sees its own shard, so mushin evaluates it whole and only sums.
  ``DistributedSampler`` repeats samples to make the shards equal (or drops
  them with ``drop_last=True``) when the dataset size is not a multiple of
  the world size; mushin warns, because repeated samples are counted twice.
  Pass the plain ``DataLoader`` instead for exact totals.
- **Data already split per rank by other means** (an ``IterableDataset`` that
  reads ``torch.distributed.get_rank()``, a per-rank file list): wrap it in
  :func:`per_rank` so that mushin evaluates it whole and only sums.

Every rank must call ``compare`` (the sums are collective operations).  To
evaluate in one process of a process group, e.g. on rank 0 only after
distributed training, wrap the data in :func:`single_process`: that call
evaluates all of it and talks to no other rank.

What is summed
--------------
Once per pass over the data (all the models evaluated together, see
:func:`~mushin.evaluation.pipeline.run_pass`), one ``all_gather_object``
carries every rank's ``state_dict()`` of every model's states: confusion
counts, ECE bins (:class:`~mushin._core.CalibrationBins`), the scores of
exact AUROC (:class:`~mushin._core.RocScores`) and the C states of the other
tasks.  Every rank merges them in rank order, so all ranks hold
bit-identical states.  Counts and AUROC are exact.  ECE sums float32
confidences in float64; such a sum is exact, and so independent of how rows
are split, while the confidences are at least ``2**-k`` and a bin holds
fewer than ``2**(29-k)``
rows (softmax confidences are at least ``1/num_classes``).  torchmetrics
objects passed in ``metrics=`` synchronise themselves in ``compute()``
(``sync_on_compute=True``, their default).  A failure on any rank is raised
on every rank, so no rank waits forever in a collective.

Examples
--------
Run with ``torchrun --nproc-per-node 2 script.py``; every rank prints the same
table:

>>> import torch.distributed as dist                      # doctest: +SKIP
>>> dist.init_process_group("gloo")                       # doctest: +SKIP
>>> result = compare(methods, batches, num_classes=21)    # doctest: +SKIP
>>> print(result.summary())                               # doctest: +SKIP
"""
from __future__ import annotations

import warnings
from typing import Any, Iterator, List, Optional, Tuple

import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler


__all__ = ["per_rank", "single_process", "PerRankData", "SingleProcessData", "RankShard", "rank_shard"]


def _process_group_size() -> Optional[Tuple[int, int]]:
    """``(rank, world_size)`` of the default process group, or None when single-process."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    world_size = dist.get_world_size()
    if world_size < 2:
        return None
    return dist.get_rank(), world_size


class _MarkedData:
    """Iterates (and measures) ``data``; the subclass says how ranks share it."""

    def __init__(self, data: Any):
        if isinstance(data, Iterator) or (hasattr(data, "__next__") and iter(data) is data):
            raise TypeError(
                f"data is a one-shot {type(data).__name__}: it would be exhausted after the first "
                "model.  Pass something that can be iterated again, such as a torch DataLoader "
                "or a list of (x, y) batches"
            )
        self.data = data.data if isinstance(data, _MarkedData) else data

    def __iter__(self) -> Iterator[Any]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class PerRankData(_MarkedData):
    """Data that already yields a different shard on every rank; see :func:`per_rank`."""

    def __repr__(self) -> str:
        return f"per_rank({self.data!r})"


class SingleProcessData(_MarkedData):
    """Data evaluated whole by this process alone; see :func:`single_process`."""

    def __repr__(self) -> str:
        return f"single_process({self.data!r})"


def per_rank(data: Any) -> PerRankData:
    """Mark ``data`` as already split across the ranks of ``torch.distributed``.

    ``compare`` then evaluates all of it on every rank and sums the state,
    instead of sharding it by batch index.  Outside a distributed run it
    changes nothing.

    Parameters
    ----------
    data : iterable of (x, y)
        A re-iterable batch source that yields this rank's shard.

    Returns
    -------
    PerRankData

    Examples
    --------
    >>> import torch
    >>> from mushin.evaluation.distributed import per_rank
    >>> batches = [(torch.zeros(1, 3, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long))]
    >>> len(per_rank(batches))
    1
    """
    if isinstance(data, PerRankData):
        return data
    return PerRankData(data)


def single_process(data: Any) -> SingleProcessData:
    """Evaluate ``data`` in this process alone, even inside a process group.

    ``compare`` then neither shards ``data`` nor waits for other ranks, so
    it can run on one rank only (say rank 0 after distributed training).
    Outside a distributed run it changes nothing.

    Parameters
    ----------
    data : iterable of (x, y)
        A re-iterable batch source.

    Returns
    -------
    SingleProcessData

    Examples
    --------
    >>> import torch
    >>> from mushin.evaluation.distributed import single_process
    >>> batches = [(torch.zeros(1, 3, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long))]
    >>> list(single_process(batches)) == batches
    True
    """
    if isinstance(data, SingleProcessData):
        return data
    return SingleProcessData(data)


def _distributed_sampler(data: Any) -> Any:
    """The ``DistributedSampler`` behind a ``DataLoader``, or None."""
    if not isinstance(data, DataLoader):
        return None
    batch_sampler = getattr(data, "batch_sampler", None)
    for sampler in (getattr(data, "sampler", None), getattr(batch_sampler, "sampler", None)):
        if isinstance(sampler, DistributedSampler):
            return sampler
    return None


def _check_sampler(sampler: Any, rank: int, world_size: int) -> None:
    if sampler.num_replicas != world_size or sampler.rank != rank:
        raise ValueError(
            f"data uses DistributedSampler(num_replicas={sampler.num_replicas}, "
            f"rank={sampler.rank}) but this is rank {rank} of {world_size} processes; "
            "the shards would not cover the data once.  Build the sampler in each process "
            "without num_replicas/rank, or pass the plain DataLoader and let mushin shard it"
        )
    size = len(sampler.dataset)
    if sampler.total_size > size:
        warnings.warn(
            f"DistributedSampler pads {size} samples to {sampler.total_size} by repeating "
            f"{sampler.total_size - size} of them, so those are counted twice in every metric.  "
            "For exact totals pass a DataLoader without DistributedSampler (mushin then "
            "shards the batches itself)",
            UserWarning,
            stacklevel=4,
        )
    elif sampler.total_size < size:
        warnings.warn(
            f"DistributedSampler(drop_last=True) leaves {size - sampler.total_size} of "
            f"{size} samples out of the evaluation.  For exact totals pass a DataLoader "
            "without DistributedSampler (mushin then shards the batches itself)",
            UserWarning,
            stacklevel=4,
        )


def rank_shard(data: Any) -> Optional["RankShard"]:
    """How this process takes part in evaluating ``data``; None outside a distributed run.

    Raises ``ValueError`` for a ``DistributedSampler`` built for another
    world size or rank, and warns when it repeats or drops samples.
    """
    group = _process_group_size()
    if group is None or isinstance(data, SingleProcessData):
        return None
    rank, world_size = group
    if isinstance(data, PerRankData):
        return RankShard(rank, world_size, by_batch=False)
    sampler = _distributed_sampler(data)
    if sampler is not None:
        _check_sampler(sampler, rank, world_size)
        return RankShard(rank, world_size, by_batch=False)
    return RankShard(rank, world_size, by_batch=True)


class RankShard:
    """This process's part of a distributed evaluation of one data source.

    ``owns(index)`` says whether batch ``index`` is evaluated here, and
    :meth:`gather` brings every rank's states together after the last batch
    (the pipeline merges them in rank order).
    """

    def __init__(self, rank: int, world_size: int, *, by_batch: bool):
        self.rank = rank
        self.world_size = world_size
        self.by_batch = by_batch

    def __repr__(self) -> str:
        how = "by batch index" if self.by_batch else "sharded by the data"
        return f"RankShard(rank={self.rank}, world_size={self.world_size}, {how})"

    def owns(self, index: int) -> bool:
        return not self.by_batch or index % self.world_size == self.rank

    def gather(self, payload: Any) -> List[Any]:
        """Every rank's ``payload``, in rank order: one ``all_gather_object``.

        Every rank must call this the same number of times; the pipeline
        calls it once per pass, failed or not, with ``(error message, model,
        states)``.
        """
        gathered: List[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, payload)
        return gathered
