"""The two-level bootstrap (``result.bootstrap``, ``mushin.stats.bootstrap``).

Oracles:

* a plain NumPy recomputation of every resample from the indices
  ``bootstrap_indices`` exports (the same draws), to 1e-12;
* the point estimates against the battery's per-seed scores (themselves
  checked against torchmetrics in tests/test_segmentation_metrics.py) and
  against torchmetrics directly;
* statistical checks: uniform image draws (chi-square), multinomial
  multiplicities, and bootstrap standard errors against their closed forms.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torchmetrics.classification import MulticlassJaccardIndex

from isa_levels import ISA_LEVELS, isa_capped
from mushin import BenchmarkResult, compare
from mushin.stats.bootstrap import COUNT_METRICS, bootstrap_counts, bootstrap_indices


def numpy_metric(summed, metric, ignore_index):
    """A metric of (C, 3) summed TP/FP/FN, written from torchmetrics' definitions."""
    tp, fp, fn = (summed[:, k].astype(np.float64) for k in range(3))
    if metric == "pixel_acc":
        total = tp.sum() + fn.sum()
        return tp.sum() / total if total else 0.0
    keep = (tp + fp + fn) > 0
    if metric == "miou":
        if ignore_index is not None and 0 <= ignore_index < tp.size:
            keep[ignore_index] = False
        score = np.divide(tp, tp + fp + fn, out=np.zeros_like(tp), where=keep)
    elif metric == "dice":
        score = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=keep)
    elif metric == "precision":
        score = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    else:
        score = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0)
    if not keep.any():
        return math.nan if metric == "miou" else 0.0
    return score[keep].mean()


def numpy_bootstrap(counts, metric, n, levels, seed, ignore_index):
    """Every resample again in NumPy, from the indices the C loop draws."""
    methods = list(counts)
    spm = [counts[m].shape[0] for m in methods]
    n_images = next(iter(counts.values())).shape[1]
    out = np.empty((n, len(methods)))
    for b in range(n):
        images, seeds = bootstrap_indices(seed, b, n_images, spm, levels)
        pick = np.arange(n_images) if images is None else images
        for j, m in enumerate(methods):
            per_seed = [numpy_metric(counts[m][s][pick].sum(axis=0), metric, ignore_index) for s in range(spm[j])]
            chosen = range(spm[j]) if seeds is None else seeds[j]
            out[b, j] = np.mean([per_seed[s] for s in chosen])
    return out


@st.composite
def count_sets(draw):
    n_classes, n_images = draw(st.integers(1, 5)), draw(st.integers(1, 8))
    methods = {}
    for name in "abc"[: draw(st.integers(1, 3))]:
        s = draw(st.integers(1, 4))
        size = s * n_images * n_classes * 3
        values = draw(st.lists(st.one_of(st.just(0), st.integers(0, 60)), min_size=size, max_size=size))
        methods[name] = np.array(values, dtype=np.int64).reshape(s, n_images, n_classes, 3)
    return methods, draw(st.sampled_from([None, 255, 0, n_classes - 1]))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    count_sets(),
    st.sampled_from(COUNT_METRICS),
    st.sampled_from([("seed", "image"), ("image", "seed"), ("seed",), ("image",)]),
    st.integers(0, 2**64 - 1),
)
def test_every_resample_matches_numpy_from_the_same_indices(case, metric, levels, seed):
    counts, ignore_index = case
    boot = bootstrap_counts(counts, metric, n=25, levels=levels, seed=seed, ignore_index=ignore_index)
    want = numpy_bootstrap(counts, metric, 25, levels, seed, ignore_index)
    got = boot.resamples["score"].values
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, equal_nan=True)
    methods = list(counts)
    for k, label in enumerate(boot.resamples["pair"].values):
        a, b = label.split(" - ")
        np.testing.assert_array_equal(boot.resamples["difference"].values[:, k], got[:, methods.index(a)] - got[:, methods.index(b)])


def test_resamples_are_bit_identical_for_any_thread_count():
    rng = np.random.default_rng(0)
    counts = {"a": rng.integers(0, 500, (5, 300, 21, 3)), "b": rng.integers(0, 500, (4, 300, 21, 3))}
    runs = [bootstrap_counts(counts, "miou", n=997, seed=11, num_threads=t).resamples for t in (1, 2, 3, 8)]
    for other in runs[1:]:
        assert np.array_equal(runs[0]["score"].values, other["score"].values)
    again = bootstrap_counts(counts, "miou", n=997, seed=11, num_threads=2).resamples["score"].values
    assert np.array_equal(again, runs[0]["score"].values)
    other_seed = bootstrap_counts(counts, "miou", n=997, seed=12).resamples["score"].values
    assert not np.array_equal(other_seed, again)


def test_int32_and_int64_sums_give_the_same_resamples():
    # counts near 2**31 / images force the int64 path for one set, not the other
    rng = np.random.default_rng(5)
    small = rng.integers(0, 1000, (2, 50, 3, 3))
    big = small * (2**31 // (50 * 1000) + 1)  # same ratios, sums past int32
    for metric in COUNT_METRICS:
        s = bootstrap_counts({"a": small}, metric, n=50, seed=3).resamples["score"].values
        b = bootstrap_counts({"a": big}, metric, n=50, seed=3).resamples["score"].values
        np.testing.assert_allclose(s, b, rtol=1e-12)
        want = numpy_bootstrap({"a": big}, metric, 50, ("seed", "image"), 3, None)
        np.testing.assert_allclose(b, want, rtol=1e-12)


def _seg_result(per_image=True, seed=0):
    torch.manual_seed(seed)
    data = [(torch.randn(4, 3, 8, 8), torch.randint(0, 4, (4, 8, 8))) for _ in range(3)]
    methods = {"a": [nn.Conv2d(3, 4, 1) for _ in range(3)], "b": [nn.Conv2d(3, 4, 1) for _ in range(4)]}
    result = compare(methods, data, task="segmentation", test="welch", num_classes=4, ignore_index=0, progress=False, per_image=per_image)
    return result, methods, data


def test_estimates_are_the_seed_means_of_the_battery_and_torchmetrics():
    result, methods, data = _seg_result()
    for metric in COUNT_METRICS:
        boot = result.bootstrap(metric, n=20, seed=0)
        table = boot.table.set_index(["term", "method_a", "method_b"])
        for name in methods:
            want = float(np.nanmean(result.data[metric].sel({"method": name}).values))
            assert table.loc[("score", name, ""), "estimate"] == pytest.approx(want, abs=1e-12)
        diff = table.loc[("difference", "a", "b"), "estimate"]
        assert diff == pytest.approx(table.loc[("score", "a", ""), "estimate"] - table.loc[("score", "b", ""), "estimate"], abs=1e-15)
    # and one model's mIoU against torchmetrics over the whole set
    oracle = MulticlassJaccardIndex(num_classes=4, ignore_index=0, average="macro")
    with torch.no_grad():
        for x, y in data:
            oracle.update(methods["a"][0](x).argmax(1), y)
    single = {"a": result.per_image.by_method()["a"][:1]}
    boot = bootstrap_counts(single, "miou", n=10, seed=0, ignore_index=0)
    assert boot.table.loc[0, "estimate"] == pytest.approx(float(oracle.compute()), abs=1e-6)


def test_seed_level_from_confusion_equals_seed_level_from_per_image_counts():
    with_counts, _, _ = _seg_result(per_image=True)
    without, _, _ = _seg_result(per_image=False)
    a = with_counts.bootstrap("dice", n=300, levels=("seed",), seed=9).resamples["score"].values
    b = without.bootstrap("dice", n=300, levels=("seed",), seed=9).resamples["score"].values
    assert np.array_equal(a, b)


def test_image_draws_are_uniform_and_multinomial():
    n_images, draws = 50, 4000
    images = np.concatenate([bootstrap_indices(7, b, n_images, [1], ("image",))[0] for b in range(draws)])
    # chi-square of the image frequencies (fixed seed: a deterministic check)
    freq = np.bincount(images, minlength=n_images)
    assert scipy.stats.chisquare(freq).pvalue > 1e-3
    mult = np.stack([np.bincount(bootstrap_indices(7, b, n_images, [1], ("image",))[0], minlength=n_images) for b in range(draws)])
    # multiplicities: Binomial(N, 1/N), mean 1, variance (N - 1) / N
    assert mult.sum(axis=1).tolist() == [n_images] * draws
    assert mult.mean() == pytest.approx(1.0, abs=0.02)
    assert mult.var() == pytest.approx((n_images - 1) / n_images, rel=0.03)
    seeds = np.concatenate([bootstrap_indices(7, b, 3, [5], ("seed",))[1][0] for b in range(draws)])
    assert scipy.stats.chisquare(np.bincount(seeds, minlength=5)).pvalue > 1e-3


def test_image_level_standard_error_matches_the_closed_form():
    # equal-size images: pixel accuracy is the mean of the per-image
    # accuracies, whose bootstrap variance is exactly var(ddof=0) / N
    rng = np.random.default_rng(2)
    n_images, pixels = 200, 1000
    correct = rng.binomial(pixels, rng.uniform(0.5, 0.95, n_images))
    counts = np.zeros((1, n_images, 2, 3), np.int64)
    counts[0, :, 0, 0] = correct
    counts[0, :, 0, 2] = pixels - correct
    counts[0, :, 1, 1] = pixels - correct
    boot = bootstrap_counts({"a": counts}, "pixel_acc", n=20000, levels=("image",), seed=1)
    acc = correct / pixels
    want = acc.std(ddof=0) / math.sqrt(n_images)
    assert boot.table.loc[0, "std_error"] == pytest.approx(want, rel=0.03)
    assert boot.table.loc[0, "ci_low"] == pytest.approx(acc.mean() - 1.96 * want, abs=0.25 * want)


def test_seed_level_standard_error_matches_the_closed_form():
    rng = np.random.default_rng(4)
    seeds = 8
    correct = rng.integers(600, 900, seeds)
    counts = np.zeros((seeds, 1, 1, 3), np.int64)
    counts[:, 0, 0, 0] = correct
    counts[:, 0, 0, 2] = 1000 - correct
    boot = bootstrap_counts({"a": counts}, "pixel_acc", n=20000, levels=("seed",), seed=2)
    acc = correct / 1000
    assert boot.table.loc[0, "std_error"] == pytest.approx(acc.std(ddof=0) / math.sqrt(seeds), rel=0.03)


def test_what_cannot_vary_gives_a_zero_width_interval():
    rng = np.random.default_rng(8)
    one_seed = {"a": rng.integers(1, 50, (1, 30, 3, 3)), "b": rng.integers(1, 50, (1, 30, 3, 3))}
    boot = bootstrap_counts(one_seed, "miou", n=200, levels=("seed",), seed=0)
    assert (boot.table["ci_low"] == boot.table["ci_high"]).all()
    one_image = {"a": rng.integers(1, 50, (3, 1, 3, 3))}
    boot = bootstrap_counts(one_image, "miou", n=200, levels=("image",), seed=0)
    assert boot.table.loc[0, "ci_low"] == boot.table.loc[0, "ci_high"] == boot.table.loc[0, "estimate"]


def test_a_clear_gap_excludes_zero_and_no_gap_does_not():
    rng = np.random.default_rng(6)
    base = rng.integers(50, 100, (5, 200, 3, 3))
    better = base.copy()
    better[..., 0] += 40  # more true positives everywhere
    boot = bootstrap_counts({"better": better, "base": base}, "miou", n=2000, seed=0)
    diff = boot.table[boot.table.term == "difference"].iloc[0]
    assert diff.method_a == "better" and diff.method_b == "base" and diff.estimate > 0 and diff.excludes_zero
    same = bootstrap_counts({"x": base, "y": base.copy()}, "miou", n=2000, seed=0)
    assert not same.table[same.table.term == "difference"].iloc[0].excludes_zero


def test_bad_arguments_name_what_is_wrong():
    counts = {"a": np.ones((2, 3, 2, 3), np.int64)}
    with pytest.raises(ValueError, match="cannot be recomputed from per-image counts"):
        bootstrap_counts(counts, "auroc")
    with pytest.raises(ValueError, match=r"\['pixel'\] not among \('seed', 'image'\)"):
        bootstrap_counts(counts, levels=("pixel",))
    with pytest.raises(ValueError, match="names a level more than once"):
        bootstrap_counts(counts, levels=("seed", "seed"))
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*64\)"):
        bootstrap_counts(counts, seed=-1)
    with pytest.raises(ValueError, match="n must be a positive int"):
        bootstrap_counts(counts, n=0)
    with pytest.raises(ValueError, match="negative count"):
        bootstrap_counts({"a": -np.ones((2, 3, 2, 3), np.int64)})
    with pytest.raises(ValueError, match="same images and classes"):
        bootstrap_counts({"a": np.ones((2, 3, 2, 3), np.int64), "b": np.ones((2, 4, 2, 3), np.int64)})
    with pytest.raises(TypeError, match="must hold integers"):
        bootstrap_counts({"a": np.ones((2, 3, 2, 3))})
    result, _, _ = _seg_result(per_image=False)
    with pytest.raises(ValueError, match=r"no per-image counts; evaluate with compare\(\.\.\., per_image=True\)"):
        result.bootstrap("miou")


def test_classification_results_bootstrap_seeds_from_their_confusion():
    conf = {"a": np.array([[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]]),
            "b": np.array([[[5, 5], [4, 6]], [[6, 4], [5, 5]], [[5, 5], [5, 5]]])}
    r = BenchmarkResult.from_confusion(conf, task="classification")
    boot = r.bootstrap("pixel_acc", n=500, levels=("seed",), seed=0)
    want = np.mean([np.trace(c) / c.sum() for c in conf["a"]])
    assert boot.table.loc[0, "estimate"] == pytest.approx(want, abs=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        repr(boot)


def test_every_instruction_set_level_gives_the_same_resamples():
    rng = np.random.default_rng(9)
    small = {"a": rng.integers(0, 300, (3, 200, 5, 3)), "b": rng.integers(0, 300, (2, 200, 5, 3))}
    big = {m: c * 2**25 for m, c in small.items()}  # int64 sums
    runs = []
    for level in ISA_LEVELS:
        with isa_capped(level):
            runs.append([bootstrap_counts(c, "dice", n=300, seed=4).resamples["score"].values for c in (small, big)])
    for other in runs[1:]:
        for got, want in zip(other, runs[0]):
            assert np.array_equal(got, want)
