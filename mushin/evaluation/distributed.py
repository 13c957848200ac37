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
Once per model, one ``all_gather_object`` carries every rank's confusion
counts, ECE bins (:class:`~mushin._core.CalibrationBins`) and the rows kept
for exact AUROC (:class:`~mushin._core.RocScores` keeps every score, so the
rows travel and every rank rebuilds the accumulator over all of them).
Counts and AUROC are exact.  ECE sums float32 confidences in float64; such a
sum is exact, and so independent of how rows are split, while the
confidences are at least ``2**-k`` and a bin holds fewer than ``2**(29-k)``
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
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from .._core import CalibrationBins, RocScores

__all__ = ["per_rank", "single_process", "PerRankData", "SingleProcessData", "RankShard", "rank_shard"]


def _process_group_size() -> Optional[Tuple[int, int]]:
    """``(rank, world_size)`` of the default process group, or None when single-process."""
    try:
        import torch.distributed as dist
    except ImportError:  # a torch build without distributed support
        return None
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


# ----------------------------------------------------- mergeable streams --


class KeptScores:
    """Stands in for a :class:`~mushin._core.RocScores` on one rank until the gather.

    ``RocScores`` keeps every score but does not hand them out, so on a
    rank its place is taken by this object: each batch is first checked by a
    scratch ``RocScores`` (the same checks and messages), then its kept rows
    (label != ``ignore_index``) are stored here as tensors.  After the gather
    every rank feeds all ranks' rows, in rank order, to one fresh
    ``RocScores``.  Memory: about what ``RocScores`` itself would hold.
    """

    def __init__(self, num_classes: int, ignore_index: Optional[int]):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.chunks: List[Tuple[Any, Any]] = []

    def update(self, probs: Any, target: Any) -> None:
        RocScores(self.num_classes, self.ignore_index).update(probs, target)
        probs_t = probs if isinstance(probs, torch.Tensor) else torch.as_tensor(np.asarray(probs))
        target_t = target if isinstance(target, torch.Tensor) else torch.as_tensor(np.asarray(target))
        if self.ignore_index is not None:
            keep = target_t != self.ignore_index
            probs_t, target_t = probs_t[keep], target_t[keep]
        else:
            # a copy, so that no view keeps the model's whole output alive
            probs_t = probs_t.clone(memory_format=torch.contiguous_format)
        # checked above: every kept label lies in [0, num_classes)
        self.chunks.append((probs_t, target_t.to(torch.int32)))

    def compute(self) -> float:
        raise RuntimeError("KeptScores is merged across ranks before compute(); this is a bug in mushin")

    def reset(self) -> None:
        self.chunks = []


def _is_torchmetrics_metric(accumulator: Any) -> bool:
    try:
        from torchmetrics import Metric
    except ImportError:
        return False
    return isinstance(accumulator, Metric)


class RankShard:
    """This process's part of a distributed evaluation of one data source.

    ``owns(index)`` says whether batch ``index`` is evaluated here;
    :meth:`prepare` makes a model's streams mergeable before its first batch
    and :meth:`reduce` sums everything across ranks after its last.
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

    def prepare(self, streams: Optional[Dict[str, Tuple[Any, bool]]]) -> None:
        """Swap each ``RocScores`` for a :class:`KeptScores`; refuse what cannot be summed.

        Raises ``TypeError`` (before any batch) for a streamed metric whose
        state mushin cannot combine across processes, and ``ValueError`` for a
        torchmetrics metric built with ``sync_on_compute=False``.
        """
        if not streams:
            return
        for name, (accumulator, takes_probs) in list(streams.items()):
            if isinstance(accumulator, RocScores):
                streams[name] = (KeptScores(accumulator.num_classes, accumulator.ignore_index), takes_probs)
            elif isinstance(accumulator, CalibrationBins):
                continue
            elif _is_torchmetrics_metric(accumulator):
                if not getattr(accumulator, "sync_on_compute", True):
                    raise ValueError(
                        f"metric {name!r} was built with sync_on_compute=False, so its compute() "
                        f"would see only this rank's share of the data (rank {self.rank} of "
                        f"{self.world_size}); build it with sync_on_compute=True"
                    )
            else:
                raise TypeError(
                    f"metric {name!r}: its accumulator {type(accumulator).__name__} cannot be "
                    f"combined across the {self.world_size} processes of torch.distributed; "
                    "mushin sums ConfusionMatrix, CalibrationBins and RocScores state, and "
                    "torchmetrics metrics synchronise themselves.  Evaluate in one process, or "
                    "use a torchmetrics metric for it"
                )

    def reduce(
        self,
        counts: Optional[np.ndarray],
        streams: Optional[Dict[str, Tuple[Any, bool]]],
        error: Optional[BaseException],
    ) -> np.ndarray:
        """Sum ``counts`` and the streams over all ranks; raise any rank's error on every rank.

        Every rank must call this once per model, failed or not: it is one
        ``all_gather_object`` of ``(error message, counts, stream states)``.
        The sums run in rank order on every rank, so all ranks get bit-identical
        state.
        """
        import torch.distributed as dist

        if error is None:
            payload: Any = (None, counts, _export_streams(streams))
        else:
            payload = (f"{type(error).__name__}: {error}", None, None)
        gathered: List[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, payload)
        failed = [(rank, message) for rank, (message, _, _) in enumerate(gathered) if message is not None]
        if failed:
            if error is not None:
                raise error
            rank, message = failed[0]
            raise RuntimeError(
                f"rank {rank} of {self.world_size} failed while evaluating this model, so every "
                f"rank stops: {message}"
            )
        total = np.zeros_like(gathered[0][1])
        for _, rank_counts, _ in gathered:
            total += rank_counts
        for name, (accumulator, takes_probs) in list((streams or {}).items()):
            states = [rank_streams[name] for _, _, rank_streams in gathered]
            if isinstance(accumulator, KeptScores):
                merged: Any = RocScores(accumulator.num_classes, accumulator.ignore_index)
                for chunks in states:
                    for probs, target in chunks:
                        merged.update(probs, target)
                streams[name] = (merged, takes_probs)  # type: ignore[index]
            elif isinstance(accumulator, CalibrationBins):
                merged = CalibrationBins(
                    accumulator.num_classes, accumulator.ignore_index, boundaries=accumulator.boundaries
                )
                for bins in states:
                    merged.merge(*bins)
                streams[name] = (merged, takes_probs)  # type: ignore[index]
        return total


def _export_streams(streams: Optional[Mapping[str, Tuple[Any, bool]]]) -> Dict[str, Any]:
    """The part of each accumulator's state that travels to the other ranks."""
    state: Dict[str, Any] = {}
    for name, (accumulator, _) in (streams or {}).items():
        if isinstance(accumulator, KeptScores):
            state[name] = accumulator.chunks
        elif isinstance(accumulator, CalibrationBins):
            state[name] = (accumulator.counts, accumulator.confidence_fixed, accumulator.accuracy_sums)
        else:  # torchmetrics: synchronised by its own compute()
            state[name] = None
    return state
