"""Multi-process evaluation: every rank returns what one process over all the data returns.

The two-process tests spawn two CPU processes on the gloo backend; each runs
the same compare() calls on its shard and writes its result, and the parent
checks every rank's confusion counts and metric values for exact equality
with a single-process run over all the data (and the counts against the
NumPy twin).  The rest checks the pieces in this process.
"""
from __future__ import annotations

import datetime
import os
import pickle
import time
import warnings

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError
from torchmetrics.regression import SpearmanCorrCoef

from mushin import compare
from mushin._core import CalibrationBins, RocScores
from mushin.evaluation.counting import ConfusionSink, check_streams_mergeable, export_streams, merge_streams
from mushin.evaluation.distributed import PerRankData, RankShard, SingleProcessData, per_rank, rank_shard, single_process
from mushin.evaluation.distributed import _check_sampler, _distributed_sampler
from mushin.evaluation.pipeline import _merge_ranks
from mushin.metrics.tasks import StreamingMetric, get_task, miou

import reference as ref
from synthetic_batches import classification_batches, regression_batches

pytestmark = pytest.mark.filterwarnings("ignore:method .* scored .* on every seed:UserWarning")

WORLD_SIZE = 2
SEG_CLASSES = 5
CLS_CLASSES = 4


# ------------------------------------------------- shared by every process --


def _segmentation_methods():
    torch.manual_seed(10)
    return {"a": [nn.Conv2d(3, SEG_CLASSES, 1) for _ in range(2)], "b": [nn.Conv2d(3, SEG_CLASSES, 3, padding=1) for _ in range(2)]}


def _classification_methods():
    torch.manual_seed(20)
    return {"a": [nn.Linear(6, CLS_CLASSES) for _ in range(2)], "b": [nn.Linear(6, CLS_CLASSES) for _ in range(2)]}


def _segmentation_batches(n_batches=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n_batches):
        x = torch.randn(2, 3, 8, 8, generator=g)
        y = torch.randint(0, SEG_CLASSES, (2, 8, 8), generator=g)
        y[torch.rand(y.shape, generator=g) < 0.1] = 255
        batches.append((x, y))
    return batches


def _classification_batches(n_batches=5, seed=1):
    return classification_batches(n_batches, 9, 6, CLS_CLASSES, seed)


def _classification_dataset():
    g = torch.Generator().manual_seed(2)
    return TensorDataset(torch.randn(16, 6, generator=g), torch.randint(0, CLS_CLASSES, (16,), generator=g))


def _custom_battery():
    return {"miou": miou, "tm_accuracy": MulticlassAccuracy(SEG_CLASSES, average="micro", ignore_index=255)}


def _regression_methods():
    torch.manual_seed(30)
    return {m: [nn.Sequential(nn.Linear(4, 1), nn.Flatten(0)) for _ in range(2)] for m in ("a", "b")}


def _regression_batches(n_batches=5, seed=3):
    return regression_batches(n_batches, 8, [1.0, -1.0, 0.5, 2.0], 0.1, seed)


def _retrieval_batches(n_batches=5, seed=4):
    """Each batch holds whole queries, so a rank's share never splits one."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for b in range(n_batches):
        x = torch.randn(8, 4, generator=g)
        relevance = (x[:, 0] + 0.5 * torch.randn(8, generator=g) > 0).long()
        out.append((x, (relevance, torch.arange(8) // 4 + 2 * b)))
    return out


class _AbsStats(Metric):
    """A user's dict-valued torchmetrics metric: largest and smallest absolute prediction."""

    full_state_update = False
    higher_is_better = False

    def __init__(self):
        super().__init__()
        self.add_state("largest", torch.tensor(0.0), dist_reduce_fx="max")
        self.add_state("smallest", torch.tensor(float("inf")), dist_reduce_fx="min")

    def update(self, preds, target=None, **kwargs):
        self.largest = torch.maximum(self.largest, preds.abs().max())
        self.smallest = torch.minimum(self.smallest, preds.abs().min())

    def compute(self):
        return {"abs_largest": self.largest, "abs_smallest": self.smallest}


def _summary(result):
    return {
        "confusion": result.confusion.values.copy(),
        "metrics": {name: result.data[name].values.copy() for name in result.metrics},
    }


def _scenarios(rank):
    """name -> a function of nothing returning a BenchmarkResult, run alike in every process.

    ``rank`` is None in the single-process reference run.
    """
    seg, cls = _segmentation_batches(), _classification_batches()
    dataset = _classification_dataset()
    if rank is None:
        # The same batches the ranks' DistributedSampler makes, one rank's after
        # the other.  A model's output for a row can differ in the last bit with
        # the rows that share its batch (oneDNN/MKL pick GEMM kernels by shape and
        # alignment; seen on AVX-512), so exactness across ranks is a property of
        # mushin given the same predictions, not of the model given other batches.
        loader = [
            batch
            for r in range(WORLD_SIZE)
            for batch in DataLoader(
                dataset, batch_size=4, sampler=DistributedSampler(dataset, WORLD_SIZE, r, shuffle=False)
            )
        ]
        own_share = seg
    else:
        loader = DataLoader(dataset, batch_size=4, sampler=DistributedSampler(dataset, shuffle=False))
        own_share = per_rank(seg[rank::WORLD_SIZE])
    return {
        "segmentation": lambda: compare(_segmentation_methods(), seg, num_classes=SEG_CLASSES, ignore_index=255, task="segmentation", test="welch"),
        "classification": lambda: compare(_classification_methods(), cls, task="classification", num_classes=CLS_CLASSES, test="welch"),
        "distributed_sampler": lambda: compare(
            _classification_methods(), loader, task="classification", num_classes=CLS_CLASSES, test="welch"
        ),
        "per_rank": lambda: compare(_segmentation_methods(), own_share, num_classes=SEG_CLASSES, ignore_index=255, task="segmentation", test="welch"),
        "torchmetrics_object": lambda: compare(
            _segmentation_methods(), seg, num_classes=SEG_CLASSES, ignore_index=255, metrics=_custom_battery(), task="segmentation", test="welch"
        ),
        "regression": lambda: compare(_regression_methods(), _regression_batches(), task="regression", test="welch"),
        "retrieval": lambda: compare(_regression_methods(), _retrieval_batches(), task="retrieval", test="welch"),
        "regression_torchmetrics_dict": lambda: compare(
            _regression_methods(), _regression_batches(), task="regression",
            metrics={"stats": _AbsStats(), "spearman_tm": SpearmanCorrCoef()}, test="welch",
        ),
    }


def _rank_main(rank, init_file, out_dir):
    import importlib

    torch.set_num_threads(1)  # two processes share the machine's cores
    # the batches are tiny: hand them to the worker thread anyway, so that overlap is exercised
    importlib.import_module("mushin.evaluation.pipeline")._OVERLAP_MIN_ELEMENTS = 0
    dist.init_process_group(
        "gloo",
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=datetime.timedelta(seconds=60),
    )
    out = {}
    try:
        for name, run in _scenarios(rank).items():
            out[name] = _summary(run())
        dataset = _classification_dataset()
        sampled = DataLoader(dataset, batch_size=4, sampler=DistributedSampler(dataset, shuffle=False))
        out["forward_batch_sizes"] = {
            "plain": _forward_batch_sizes(_segmentation_batches(), "segmentation"),
            "distributed_sampler": _forward_batch_sizes(sampled, "classification"),
        }
        bad = _segmentation_batches()
        bad[3][1][0, 0, 0] = 17  # batch 3 goes to rank 1
        for name, kwargs in (("error", {}), ("error_without_overlap", {"overlap": False})):
            try:
                _evaluate_everything(bad, **kwargs)
            except Exception as exc:  # noqa: BLE001 - recorded for the parent to check
                out[name] = (type(exc).__name__, str(exc))
        if rank == 0:  # rank 1 does not take part: a collective here would never return
            seg = _segmentation_batches()
            out["single_process"] = _summary(
                compare(_segmentation_methods(), single_process(seg), num_classes=SEG_CLASSES, ignore_index=255, task="segmentation", test="welch")
            )
        dist.barrier()
    finally:
        with open(os.path.join(out_dir, f"rank{rank}.pkl"), "wb") as f:
            pickle.dump(out, f)
        dist.destroy_process_group()


def _forward_batch_sizes(data, task_name):
    """The size of every batch this rank's model was run on."""
    from mushin.evaluation.compare import evaluate_model
    from mushin.metrics.tasks import get_task

    sizes = []

    def predict(model, x):
        sizes.append(len(x))
        return model(x).argmax(1), None

    if task_name == "segmentation":
        model, num_classes = _segmentation_methods()["a"][0], SEG_CLASSES
    else:
        model, num_classes = _classification_methods()["a"][0], CLS_CLASSES
    evaluate_model(model, data, get_task(task_name), num_classes=num_classes, ignore_index=255, predict_fn=predict)
    return sizes


def _evaluate_everything(data, overlap=True):
    from mushin.evaluation.compare import evaluate_model
    from mushin.metrics.tasks import get_task

    model = _segmentation_methods()["a"][0]
    return evaluate_model(
        model, data, get_task("segmentation"), num_classes=SEG_CLASSES, ignore_index=255, overlap=overlap
    )


# ------------------------------------------------------------ two processes --


@pytest.fixture(scope="module")
def two_rank_results(tmp_path_factory):
    import torch.multiprocessing as mp

    out_dir = tmp_path_factory.mktemp("ranks")
    init_file = out_dir / "init"
    context = mp.spawn(_rank_main, args=(str(init_file), str(out_dir)), nprocs=WORLD_SIZE, join=False)
    deadline = time.monotonic() + 180
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the two gloo ranks did not finish within 180 s")
    results = []
    for rank in range(WORLD_SIZE):
        with open(out_dir / f"rank{rank}.pkl", "rb") as f:
            results.append(pickle.load(f))
    return results


@pytest.fixture(scope="module")
def single_process_results():
    return {name: _summary(run()) for name, run in _scenarios(None).items()}


SCENARIOS = [
    "segmentation", "classification", "distributed_sampler", "per_rank", "torchmetrics_object",
    "regression", "retrieval", "regression_torchmetrics_dict",
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_rank_returns_the_single_process_result_exactly(scenario, two_rank_results, single_process_results):
    expected = single_process_results[scenario]
    for rank, results in enumerate(two_rank_results):
        got = results[scenario]
        np.testing.assert_array_equal(got["confusion"], expected["confusion"], err_msg=f"rank {rank}")
        assert got["metrics"].keys() == expected["metrics"].keys()
        for name, values in expected["metrics"].items():
            np.testing.assert_array_equal(got["metrics"][name], values, err_msg=f"rank {rank}, {name}")


def test_single_process_data_is_evaluated_whole_by_one_rank_alone(two_rank_results, single_process_results):
    got, expected = two_rank_results[0]["single_process"], single_process_results["segmentation"]
    np.testing.assert_array_equal(got["confusion"], expected["confusion"])
    for name, values in expected["metrics"].items():
        np.testing.assert_array_equal(got["metrics"][name], values)


def test_classification_scenarios_include_auroc_and_ece(single_process_results):
    for scenario in ("classification", "distributed_sampler"):
        assert {"auroc", "ece"} <= set(single_process_results[scenario]["metrics"])


def test_summed_counts_equal_the_numpy_twin_over_all_data(two_rank_results):
    methods = _segmentation_methods()
    with torch.no_grad():
        expected = np.stack(
            [
                sum(ref.confusion_counts(model(x).argmax(1).numpy(), y.numpy(), SEG_CLASSES, 255) for x, y in _segmentation_batches())
                for model in methods["a"]
            ]
        )
    for results in two_rank_results:
        np.testing.assert_array_equal(results["segmentation"]["confusion"][0], expected)


def test_each_rank_runs_its_model_on_its_shard_only(two_rank_results):
    rank0, rank1 = (results["forward_batch_sizes"] for results in two_rank_results)
    assert rank0["plain"] == [2, 2, 2, 2] and rank1["plain"] == [2, 2, 2]  # batches 0, 2, 4, 6 | 1, 3, 5
    # a DistributedSampler already shards: 8 samples per rank, not sharded again
    assert rank0["distributed_sampler"] == [4, 4] and rank1["distributed_sampler"] == [4, 4]


@pytest.mark.parametrize("scenario", ["error", "error_without_overlap"])
def test_a_failure_on_one_rank_is_raised_on_every_rank(scenario, two_rank_results):
    rank0, rank1 = (results[scenario] for results in two_rank_results)
    assert rank1[0] == "ValueError"
    assert rank1[1].startswith("target holds 1 value outside [0, 5) that is not ignore_index=255 (first: 17")
    assert rank0[0] == "RuntimeError"
    assert rank0[1] == f"rank 1 of 2 failed while evaluating this model, so every rank stops: ValueError: {rank1[1]}"


# ------------------------------------------------------------ one process --


def test_outside_a_process_group_nothing_is_sharded():
    assert not dist.is_initialized()
    assert rank_shard([(1, 2)]) is None


def test_per_rank_and_single_process_pass_the_data_through():
    batches = [(torch.zeros(1), torch.zeros(1, dtype=torch.long))] * 3
    wrapped = per_rank(batches)
    assert isinstance(wrapped, PerRankData) and per_rank(wrapped) is wrapped
    assert len(wrapped) == 3 and list(wrapped) == batches and list(wrapped) == batches  # re-iterable
    alone = single_process(wrapped)
    assert isinstance(alone, SingleProcessData) and alone.data is batches and single_process(alone) is alone
    assert per_rank(alone).data is batches
    assert rank_shard(alone) is None


@pytest.mark.parametrize("mark", [per_rank, single_process])
def test_marking_a_one_shot_iterator_is_refused(mark):
    with pytest.raises(TypeError, match="one-shot generator: it would be exhausted after the first model"):
        mark((batch for batch in _segmentation_batches(2)))


def test_batches_are_dealt_round_robin_unless_the_data_is_sharded():
    by_batch = RankShard(1, 3, by_batch=True)
    assert [i for i in range(8) if by_batch.owns(i)] == [1, 4, 7]
    assert all(RankShard(1, 3, by_batch=False).owns(i) for i in range(8))


def test_a_distributed_sampler_is_found_behind_a_dataloader():
    dataset = _classification_dataset()
    sampler = DistributedSampler(dataset, num_replicas=2, rank=0, shuffle=False)
    assert _distributed_sampler(DataLoader(dataset, batch_size=4, sampler=sampler)) is sampler
    from torch.utils.data import BatchSampler

    batches = BatchSampler(sampler, batch_size=4, drop_last=False)
    assert _distributed_sampler(DataLoader(dataset, batch_sampler=batches)) is sampler
    assert _distributed_sampler(DataLoader(dataset, batch_size=4)) is None
    assert _distributed_sampler(list(dataset)) is None


def test_a_sampler_for_another_world_size_or_rank_is_refused():
    dataset = _classification_dataset()
    with pytest.raises(ValueError, match=r"DistributedSampler\(num_replicas=4, rank=0\) but this is rank 0 of 2"):
        _check_sampler(DistributedSampler(dataset, num_replicas=4, rank=0), 0, 2)
    with pytest.raises(ValueError, match=r"rank=1\) but this is rank 0 of 2"):
        _check_sampler(DistributedSampler(dataset, num_replicas=2, rank=1), 0, 2)


def test_a_sampler_that_repeats_or_drops_samples_warns():
    uneven = TensorDataset(torch.zeros(15, 2))
    with pytest.warns(UserWarning, match="pads 15 samples to 16 by repeating 1 of them"):
        _check_sampler(DistributedSampler(uneven, num_replicas=2, rank=0), 0, 2)
    with pytest.warns(UserWarning, match=r"drop_last=True\) leaves 1 of 15 samples out"):
        _check_sampler(DistributedSampler(uneven, num_replicas=2, rank=0, drop_last=True), 0, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_sampler(DistributedSampler(_classification_dataset(), num_replicas=2, rank=0), 0, 2)


class Unmergeable:
    def update(self, preds, target):
        pass

    def compute(self):
        return 0.0

    def reset(self):
        pass


def test_streams_are_checked_before_any_batch_and_what_cannot_be_merged_is_refused():
    # RocScores and CalibrationBins merge their state_dict() across ranks: they stay as they are
    roc, bins = RocScores(3, 7), CalibrationBins(3)
    streams = {"auroc": (roc, True), "ece": (bins, True)}
    check_streams_mergeable(streams, 0, 2)
    assert streams["auroc"][0] is roc and streams["ece"][0] is bins
    with pytest.raises(TypeError, match=r"metric 'mine': its accumulator Unmergeable cannot be combined across the 2"):
        check_streams_mergeable({"mine": (Unmergeable(), False)}, 0, 2)
    with pytest.raises(ValueError, match=r"metric 'acc' was built with sync_on_compute=False"):
        check_streams_mergeable({"acc": (MulticlassAccuracy(3, sync_on_compute=False), False)}, 0, 2)
    check_streams_mergeable({"acc": (MulticlassAccuracy(3), False)}, 0, 2)  # synchronises itself


def test_compare_refuses_an_unmergeable_stream_before_any_batch(monkeypatch):
    import importlib

    compare_module = importlib.import_module("mushin.evaluation.compare")
    monkeypatch.setattr(compare_module, "rank_shard", lambda data: RankShard(0, 2, by_batch=True))
    seen = []

    class Recording(Unmergeable):
        def update(self, preds, target):
            seen.append(1)

    with pytest.raises(TypeError, match="cannot be combined across the 2 processes"):
        compare(_segmentation_methods(), _segmentation_batches(), num_classes=SEG_CLASSES, ignore_index=255,
                metrics={"miou": miou, "mine": StreamingMetric(lambda c, i: Recording())}, task="segmentation", test="welch")
    assert seen == []


@pytest.mark.parametrize("ignore_index", [None, 2])
def test_roc_scores_merged_in_rank_order_equal_one_accumulator_over_all_rows(ignore_index, rng):
    # what the ranks do: each keeps its rows, then every rank merges all ranks' state_dict() in rank order
    batches = [
        (torch.from_numpy(rng.dirichlet(np.ones(3), size=20).astype(np.float32)), torch.from_numpy(rng.integers(0, 3, size=20)))
        for _ in range(5)
    ]
    whole, ranks = RocScores(3, ignore_index), [RocScores(3, ignore_index) for _ in range(2)]
    for i, (probs, labels) in enumerate(batches):
        whole.update(probs, labels)
        ranks[i % 2].update(probs, labels)
    streams = {"auroc": (RocScores(3, ignore_index), True)}
    merge_streams(streams, [export_streams({"auroc": (rank, True)}) for rank in ranks])
    merged = streams["auroc"][0]
    kept = sum(int((labels != ignore_index).sum()) if ignore_index is not None else len(labels) for _, labels in batches)
    assert merged.num_samples == whole.num_samples == kept
    assert merged.compute() == whole.compute()
    np.testing.assert_array_equal(merged.per_class(), whole.per_class())

    probs, labels = batches[0]
    bad = probs.clone()
    bad[int(np.flatnonzero(labels.numpy() != 2)[0]), 1] = 1.5  # in a counted row
    before = merged.num_samples
    with pytest.raises(ValueError, match=r"probs holds 1 value outside \[0, 1\]"):
        merged.update(bad, labels)
    assert merged.num_samples == before  # the bad batch was not kept


def _softmax_batches(rng, n_batches, rows, num_classes):
    for _ in range(n_batches):
        logits = torch.from_numpy(rng.normal(size=(rows, num_classes)).astype(np.float32) * 3)
        yield logits.softmax(-1), torch.from_numpy(rng.integers(0, num_classes, size=rows))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_merged_calibration_bins_equal_one_accumulator_over_all_rows(seed):
    rng = np.random.default_rng(seed)
    batches = list(_softmax_batches(rng, 6, 50, 5))
    boundaries = torch.linspace(0, 1, 16).numpy()
    whole = CalibrationBins(5, boundaries=boundaries)
    parts = [CalibrationBins(5, boundaries=boundaries) for _ in range(2)]
    for i, (p, y) in enumerate(batches):
        whole.update(p, y)
        parts[i % 2].update(p, y)
    merged = CalibrationBins(5, boundaries=boundaries)
    for part in parts:
        merged.merge(part.counts, part.confidence_fixed, part.accuracy_sums)
    np.testing.assert_array_equal(merged.counts, whole.counts)
    np.testing.assert_array_equal(merged.confidence_fixed, whole.confidence_fixed)
    np.testing.assert_array_equal(merged.confidence_sums, whole.confidence_sums)
    np.testing.assert_array_equal(merged.accuracy_sums, whole.accuracy_sums)
    assert merged.compute() == whole.compute()
    oracle = MulticlassCalibrationError(5, n_bins=15, norm="l1")
    for p, y in batches:
        oracle.update(p, y)
    # torchmetrics sums the same float32 confidences in float32; see test_classification_oracle
    assert merged.compute() == pytest.approx(float(oracle.compute()), abs=1e-6)


def _fixed(*units):
    """A (slots, 4) uint64 confidence_fixed state from per-slot integers in units of 2**-149."""
    return np.array([[(u >> (64 * k)) & (2**64 - 1) for k in range(4)] for u in units], dtype=np.uint64)


def test_calibration_merge_rejects_bad_state_and_changes_nothing():
    bins = CalibrationBins(2, n_bins=2)
    bins.update(np.array([[0.75, 0.25]], dtype=np.float32), np.array([0]))
    before = (bins.counts, bins.confidence_fixed, bins.accuracy_sums)
    one = 2**149  # a confidence of exactly 1
    zeros = np.zeros(3, np.int64)
    cases = [
        (([0, 1], _fixed(0, 0), [0, 0]), ValueError, r"needs counts \(3,\), confidence_fixed \(3, 4\) and accuracy_sums \(3,\)"),
        (([0, -1, 0], _fixed(0, 0, 0), zeros), ValueError, r"slot 1 holds count -1"),
        (([0, 1, 0], _fixed(0, one + 1, 0), zeros), ValueError, r"slot 1 holds a confidence sum above its count 1"),
        (([0, 1, 0], _fixed(0, one // 2, 0), [0, 2, 0]), ValueError, r"accuracy sum 2; counts must be non-negative and each accuracy sum in \[0, count\]"),
        (([0, 1.0, 0], _fixed(0, 0, 0), zeros), TypeError, r"counts must be an array of integers .* got dtype float64"),
        (([0, 1, 0], np.zeros((3, 4)), zeros), TypeError, r"confidence_fixed must be an array of integers .* got dtype float64"),
        (([0, 1, 0], _fixed(0, 0, 0), np.array([False, True, False])), TypeError, r"accuracy_sums must be an array of integers"),
        (([0, 2**63 - 1, 0], _fixed(0, 0, 0), zeros), ValueError, r"would overflow int64"),
        (([0, 1, 0], _fixed(0, one // 2)), TypeError, r"takes exactly 3 arguments"),
    ]
    for args, exc, text in cases:
        with pytest.raises(exc, match=text):
            bins.merge(*args)
    for got, want in zip((bins.counts, bins.confidence_fixed, bins.accuracy_sums), before):
        np.testing.assert_array_equal(got, want)


def test_merging_in_a_one_process_group_rebuilds_the_accumulators():
    # A group of one: the gather returns this rank's own state, so the
    # merged accumulators must equal the ones fed directly.
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        rng = np.random.default_rng(5)
        batches = list(_softmax_batches(rng, 3, 40, 4))
        shard = RankShard(0, 1, by_batch=True)
        streams = {"auroc": (RocScores(4, 1), True), "ece": (CalibrationBins(4, 1), True)}
        sink = ConfusionSink(get_task("classification"), 4, 1, None, None, streams)
        sink.prepare(shard.rank, shard.world_size)
        direct_auroc, direct_ece = RocScores(4, 1), CalibrationBins(4, 1)
        for p, y in batches:
            for acc in (streams["auroc"][0], streams["ece"][0], direct_auroc, direct_ece):
                acc.update(p, y)
        counts = np.arange(16, dtype=np.int64).reshape(4, 4)
        sink.counts = counts
        run = type("Run", (), {"sink": sink})()
        _merge_ranks(shard, [run], None)
        np.testing.assert_array_equal(sink.counts, counts)
        assert isinstance(streams["auroc"][0], RocScores)
        assert streams["auroc"][0].compute() == direct_auroc.compute()
        assert streams["ece"][0].compute() == direct_ece.compute()
        error = ValueError("batch 3 broke")
        with pytest.raises(ValueError, match="batch 3 broke") as raised:
            _merge_ranks(shard, [run], error)
        assert raised.value is error
    finally:
        dist.destroy_process_group()


def test_the_documented_examples_run():
    import doctest

    import mushin.evaluation.distributed

    assert doctest.testmod(mushin.evaluation.distributed).failed == 0
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner()
    runner.run(parser.get_doctest(CalibrationBins.merge.__doc__, {}, "CalibrationBins.merge", None, 0))
    assert runner.summarize(verbose=False).failed == 0
