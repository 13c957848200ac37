"""Every plot renders to PNG with the Agg backend and shows what it claims."""
from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.stats  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402

from mushin import BenchmarkResult  # noqa: E402

# "a" is clearly better than "b"; "c" is close to "a" (3 seeds each, 3 classes)
CONF = {
    "a": [
        [[9, 1, 0], [1, 8, 1], [0, 1, 9]],
        [[8, 2, 0], [1, 9, 0], [0, 2, 8]],
        [[9, 0, 1], [2, 8, 0], [1, 0, 9]],
    ],
    "b": [
        [[5, 3, 2], [4, 4, 2], [2, 3, 5]],
        [[6, 2, 2], [3, 5, 2], [3, 2, 5]],
        [[5, 2, 3], [4, 5, 1], [2, 2, 6]],
    ],
    "c": [
        [[9, 1, 0], [1, 9, 0], [0, 2, 8]],
        [[8, 1, 1], [1, 8, 1], [1, 1, 8]],
        [[9, 1, 0], [2, 8, 0], [0, 1, 9]],
    ],
}


@pytest.fixture(scope="module")
def result():
    return BenchmarkResult.from_confusion(CONF, class_names=["sky", "road", "car"])


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    data = buffer.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 2000
    return data


def _ci(values):
    values = np.asarray(values, dtype=float)
    half = scipy.stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size)
    return values.mean(), half


# ------------------------------------------------------------------ plot --


def test_plot_one_metric_draws_a_point_and_ci_per_method(result):
    ax = result.plot("pixel_acc")
    _png(ax.figure)
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert [c.get_label() for c in bars] == ["a", "b", "c"]
    for container, method in zip(bars, ["a", "b", "c"]):
        line = container.lines[0]
        y = line.get_ydata()[0]
        mean, half = _ci(result.scores("pixel_acc", method))
        assert y == pytest.approx(mean, abs=1e-12)
        # the whisker spans mean +- half-width of the 95% t-interval
        segment = container.lines[2][0].get_segments()[0]
        assert segment[0][1] == pytest.approx(mean - half, abs=1e-9)
        assert segment[1][1] == pytest.approx(mean + half, abs=1e-9)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a\n(ref)", "b", "c"]
    assert ax.get_title() == "pixel_acc ↑"
    # the reference is drawn as a diamond, and its mean as a dashed line
    assert bars[0].lines[0].get_marker() == "D"
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_ydata()[0] == pytest.approx(_ci(result.scores("pixel_acc", "a"))[0])


def test_plot_annotates_the_corrected_p_value_of_each_method_vs_the_reference(result):
    ax = result.plot("miou")
    notes = {round(t.xy[0]): t.get_text() for t in ax.texts}
    comp = result.comparisons.set_index(["metric", "method_a", "method_b"])
    for x, method in ((1, "b"), (2, "c")):
        row = comp.loc[("miou", "a", method)]
        expected = f"p={row['p_corrected']:.2g}" + (" *" if row["significant"] else "")
        assert notes[x] == expected
    assert notes[1].endswith(" *")  # a vs b is a real gap
    assert not notes[2].endswith("*")
    assert 0 not in notes  # nothing on the reference itself


def test_plot_all_metrics_draws_one_panel_each(result):
    fig = result.plot()
    _png(fig)
    assert [ax.get_title() for ax in fig.axes] == [f"{m} ↑" for m in result.metrics]
    for ax in fig.axes:
        assert len([c for c in ax.containers if isinstance(c, ErrorbarContainer)]) == 3


def test_plot_draws_into_given_axes(result):
    fig, axes = plt.subplots(1, len(result.metrics))
    assert result.plot(ax=axes) is fig
    assert all(len(ax.containers) == 3 for ax in axes)
    fig2, ax = plt.subplots()
    assert result.plot("dice", ax=ax) is ax


def test_plot_with_another_reference(result):
    ax = result.plot("miou", reference="b")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b\n(ref)", "c"]


def test_plot_errors_name_what_is_wrong(result):
    with pytest.raises(KeyError, match="no metric 'nope'"):
        result.plot("nope")
    fig, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="ax must hold 5 Axes"):
        result.plot(ax=axes)


def test_plot_single_seed_method_has_no_whisker():
    with pytest.warns(UserWarning, match="significance needs at least two seeds"):
        r = BenchmarkResult.from_confusion({"a": [[[3, 1], [0, 4]], [[2, 2], [1, 3]]], "b": [[[3, 1], [1, 3]]]})
    ax = r.plot("miou")
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert bars[1].has_yerr is False
    assert bars[0].has_yerr is True
    _png(ax.figure)


# ------------------------------------------------------------- per class --


def test_plot_per_class_draws_one_bar_per_method_and_class(result):
    ax = result.plot_per_class("iou")
    _png(ax.figure)
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 3
    assert [len(c.patches) for c in bars] == [3, 3, 3]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["sky", "road", "car"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (ref)", "b", "c"]
    values = result.per_class("iou")
    for container, method in zip(bars, ["a", "b", "c"]):
        heights = [p.get_height() for p in container.patches]
        expected = values.sel({"method": method}).values.mean(axis=0)
        np.testing.assert_allclose(heights, expected, atol=1e-12)
    # a star over every (method, class) the FDR-corrected table calls significant
    table = result.per_class_comparisons("iou")
    assert len([t for t in ax.texts if t.get_text() == "*"]) == int(table["significant"].sum())
    assert table["significant"].any()


def test_plot_per_class_accepts_ax_and_other_corrections(result, monkeypatch):
    # per_class_comparisons' default correction may not exist yet; the plot
    # must still draw one bar per method and class with any correction
    import mushin.result as result_module

    original = result_module.BenchmarkResult.per_class_comparisons

    def holm(self, metric="iou", **kwargs):
        kwargs["correction"] = "holm"
        return original(self, metric, **kwargs)

    monkeypatch.setattr(result_module.BenchmarkResult, "per_class_comparisons", holm)
    fig, ax = plt.subplots()
    assert result.plot_per_class("recall", ax=ax) is ax
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [len(c.patches) for c in bars] == [3, 3, 3]
    assert ax.get_ylabel() == "recall (mean ± 95% CI)"
    _png(fig)


def test_plot_per_class_unknown_metric(result):
    with pytest.raises(KeyError, match="no per-class metric 'miou'"):
        result.plot_per_class("miou")


# ------------------------------------------------------------------ seeds --


def test_plot_seeds_draws_every_seed(result):
    ax = result.plot_seeds("miou")
    _png(ax.figure)
    dots = {c.get_gid(): c for c in ax.collections if (c.get_gid() or "").startswith("seeds:")}
    assert sorted(dots) == ["seeds:a", "seeds:b", "seeds:c"]
    for method in ("a", "b", "c"):
        offsets = dots[f"seeds:{method}"].get_offsets()
        assert len(offsets) == 3
        np.testing.assert_allclose(sorted(offsets[:, 1]), sorted(result.scores("miou", method)), atol=1e-12)
    # each dot is labelled with its seed
    assert sorted(t.get_text() for t in ax.texts) == sorted(["0", "1", "2"] * 3)


def test_plot_seeds_skips_missing_seeds_and_draws_all_metrics():
    r = BenchmarkResult.from_confusion(
        {"a": [[[3, 1], [0, 4]], [[2, 2], [1, 3]], [[3, 1], [1, 3]]], "b": [[[3, 1], [1, 3]], [[4, 0], [1, 3]]]}
    )
    fig = r.plot_seeds()
    _png(fig)
    assert len(fig.axes) == len(r.metrics)
    counts = [len(c.get_offsets()) for c in fig.axes[0].collections if (c.get_gid() or "").startswith("seeds:")]
    assert counts == [3, 2]
