"""The result as upstream code uses it: built from (data, comparisons, alpha), .data of scores only,
result.sel that means what it says, and compare()'s drop-in warnings and errors."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from torch import nn

import mushin
from mushin import BenchmarkResult, compare
from mushin.benchmark import IncompleteSweepError, compare_methods

CONF = {
    "a": [[[9, 1, 0], [1, 8, 1], [0, 1, 9]], [[8, 2, 0], [1, 9, 0], [0, 2, 8]], [[9, 0, 1], [2, 8, 0], [1, 0, 9]]],
    "b": [[[5, 3, 2], [4, 4, 2], [2, 3, 5]], [[6, 2, 2], [3, 5, 2], [3, 2, 5]], [[4, 4, 2], [2, 6, 2], [2, 2, 6]]],
}


def _result():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BenchmarkResult.from_confusion(CONF, class_names=["sky", "road", "car"], seeds=[10, 11, 12])


# ------------------------------------------------------------------- sel --


def test_sel_selects_the_method_where_xarray_sel_returns_every_method():
    r = _result()
    assert r.data.sel(method="b").sizes["method"] == 2  # xarray's own argument: the trap
    got = r.sel(method="b", metric="miou")
    assert got.dims == ("seed",)
    np.testing.assert_array_equal(got.values, r.data["miou"].values[1])


def test_sel_by_seed_label_and_lists():
    r = _result()
    assert float(r.sel(method="a", seed=11, metric="pixel_acc")) == (8 + 9 + 8) / 30
    both = r.sel(method=["b", "a"], seed=[12, 10], metric=["dice", "miou"])
    assert isinstance(both, xr.Dataset) and list(both.data_vars) == ["dice", "miou"]
    assert both["miou"].sel({"method": "a", "seed": 12}).item() == r.data["miou"].values[0, 2]
    assert both["method"].values.tolist() == ["b", "a"]
    whole = r.sel()
    assert whole.identical(r.data)


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"method": "c"}, r"no method\(s\) \['c'\]; methods: \['a', 'b'\]"),
        ({"seed": 3}, r"no seed\(s\) \[3\]; seeds: \[10, 11, 12\]"),
        ({"metric": "miuo"}, r"no metric\(s\) \['miuo'\]"),
        ({"metric": "iou"}, r"per-class metrics are in result\.per_class"),
    ],
)
def test_sel_names_what_is_missing(kwargs, text):
    with pytest.raises(KeyError, match=text):
        _result().sel(**kwargs)


# ------------------------------------------------------------- per class --


def test_per_class_is_a_dataset_view_and_still_callable():
    r = _result()
    assert isinstance(r.per_class.dataset, xr.Dataset)
    assert set(r.per_class.dataset.dims) == {"method", "seed", "class"}
    assert r.per_class("iou").identical(r.per_class["iou"])
    assert r.per_class["per_class_iou"].identical(r.per_class["iou"])  # the name it had in .data
    assert "iou" in r.per_class and "miou" not in r.per_class and len(r.per_class) == 4
    # recomputed here: class "road" of method b, seed 11 -> tp 5, fp 2 + 2, fn 3 + 2
    assert r.per_class("iou").sel({"method": "b", "seed": 11, "class": "road"}).item() == 5 / (5 + 4 + 5)
    with pytest.raises(KeyError, match=r"no per-class metric 'miou'"):
        r.per_class("miou")


def test_data_holds_upstreams_variables_only():
    r = _result()
    for name in r.data.data_vars:
        assert r.data[name].dims == ("method", "seed")
    # upstream code that loops over data_vars and .sel({"method": m}) sees numbers per seed
    for name in r.data.data_vars:
        for m in r.methods:
            assert r.data[name].sel({"method": m}).values.shape == (3,)


def test_a_task_without_classes_has_an_empty_per_class():
    ds = xr.Dataset({"mse": (("method", "seed"), [[1.0, 2.0, 3.0], [2.0, 3.0, 5.0]])},
                    coords={"method": ["x", "y"], "seed": [0, 1, 2]})
    r = BenchmarkResult(ds, compare_methods(ds, test="welch"))
    assert len(r.per_class) == 0 and r.classes == []


# ---------------------------------------------------- upstream's constructor --


def test_a_result_built_as_upstream_reads_its_settings_from_what_it_is_given():
    ds = xr.Dataset({"acc": (("method", "seed"), [[0.7, 0.72, 0.71, 0.69], [0.6, 0.62, 0.66, 0.64]])},
                    coords={"method": ["a", "b"], "seed": [0, 1, 2, 3]})
    table = compare_methods(ds, test="ttest_rel", correction="bonferroni", alpha=0.1)
    r = BenchmarkResult(ds, table, 0.1)
    assert r.settings["test"] == "ttest_rel" and r.settings["correction"] == "bonferroni"
    assert r.alpha == 0.1 and r.settings["alpha"] == 0.1
    assert r.settings["num_classes"] is None and r.confusion.shape == (2, 4, 0, 0)
    summary = r.summary()
    assert list(summary.columns[:6]) == ["method", "metric", "mean", "ci_low", "ci_high", "significant_vs_ref"]
    # the CI at 1 - alpha, recomputed here from the Student t quantile
    from scipy import stats as scipy_stats

    values = ds["acc"].values[1]
    half = scipy_stats.t.ppf(0.95, 3) * values.std(ddof=1) / math.sqrt(4)
    row = summary[(summary["method"] == "b")].iloc[0]
    assert row["ci_high"] - row["mean"] == pytest.approx(half, rel=1e-12)
    # re-analysing keeps the scores and applies the new test
    assert r.reanalyze(test="welch").comparisons.attrs["test"] == "welch"


def test_a_result_built_as_upstream_saves_and_loads(tmp_path):
    ds = xr.Dataset({"acc": (("method", "seed"), [[0.7, 0.72, 0.71], [0.6, 0.62, 0.66]])},
                    coords={"method": ["a", "b"], "seed": [0, 1, 2]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = BenchmarkResult(ds, compare_methods(ds, test="welch"))
        loaded = BenchmarkResult.load(r.save(tmp_path / "r"))
    xr.testing.assert_identical(loaded.data, r.data)
    pd.testing.assert_frame_equal(loaded.comparisons, r.comparisons)
    assert loaded.settings == r.settings


def test_upstreams_constructor_refuses_what_is_not_a_dataset_and_a_table():
    r = _result()
    with pytest.raises(TypeError, match="data must be an xarray.Dataset"):
        BenchmarkResult(r.data.to_dataframe(), r.comparisons)
    with pytest.raises(TypeError, match="comparisons must be a pandas.DataFrame"):
        BenchmarkResult(r.data, r.comparisons.to_dict())
    with pytest.raises(ValueError, match="alpha"):
        BenchmarkResult(r.data, r.comparisons, 0)


def test_old_layout_data_given_to_the_constructor_moves_per_class_out():
    r = _result()
    old = r.data.assign({f"per_class_{m}": r.per_class[m] for m in ("iou", "dice")})
    rebuilt = BenchmarkResult(old, r.comparisons)
    assert list(rebuilt.data.data_vars) == r.metrics
    assert list(rebuilt.per_class.data_vars) == ["iou", "dice"]
    xr.testing.assert_identical(rebuilt.per_class["iou"], r.per_class["iou"])


# --------------------------------------------------------- compare_methods --


def test_compare_methods_refuses_skipped_runs_and_names_them():
    ds = xr.Dataset({"acc": (("method", "seed"), [[0.7, 0.72, np.nan], [0.6, 0.62, 0.66]])},
                    coords={"method": ["a", "b"], "seed": [0, 1, 2]})
    ds.attrs["mushin_skipped"] = ["method=a,seed=2"]
    with pytest.raises(IncompleteSweepError, match=r"1 run\(s\) were not run \(method=a,seed=2\)") as raised:
        compare_methods(ds)
    assert raised.value.failed == ["method=a,seed=2"]
    assert isinstance(raised.value, mushin.IncompleteSweepError)


@pytest.mark.parametrize(
    "ds, error, text",
    [
        ("not a dataset", TypeError, "ds must be an xarray.Dataset"),
        (xr.Dataset({"acc": ("x", [1.0, 2.0])}), ValueError, r"ds needs dims \(method, seed\)"),
        (xr.Dataset({"acc": (("method", "seed"), [[0.1, np.inf], [0.2, 0.3]])}), ValueError,
         r"ds\['acc'\] is inf for method '0', seed 1"),
        (xr.Dataset({"pc": (("method", "seed", "class"), np.zeros((2, 2, 2)))}), ValueError,
         r"'pc' has \('method', 'seed', 'class'\)"),
    ],
)
def test_compare_methods_names_bad_input(ds, error, text):
    if isinstance(ds, xr.Dataset) and "method" in ds.dims:
        ds = ds.assign_coords({"method": ["0", "1"], "seed": [0, 1]})
    with pytest.raises(error, match=text):
        compare_methods(ds)


# --------------------------------------------------- compare()'s defaults --


def _classifiers():
    torch.manual_seed(0)
    data = [(torch.randn(8, 5), torch.randint(0, 3, (8,))) for _ in range(2)]
    return {"a": [nn.Linear(5, 3) for _ in range(3)], "b": [nn.Linear(5, 3) for _ in range(3)]}, data


def test_classification_ignore_index_is_applied_and_warns_that_upstream_ignores_it():
    methods, data = _classifiers()
    data[0][1][:3] = 2
    with pytest.warns(UserWarning, match=r"ignore_index=2: mushin leaves samples labelled 2 out .* upstream"):
        with_ignore = compare(methods, data, num_classes=3, ignore_index=2, test="welch", progress=False)
    # no sample labelled 2 is counted
    assert (with_ignore.confusion.values[..., 2, :] == 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default call raises no such warning (welch over 3 seeds is fine)
        compare(methods, data, num_classes=3, test="welch", progress=False)


def test_per_pixel_logits_under_the_classification_default_point_at_segmentation():
    torch.manual_seed(0)
    # 4 x 4 images with 4 classes: an argmax over the last dim would fit the label shape and count garbage
    data = [(torch.randn(2, 3, 4, 4), torch.randint(0, 4, (2, 4, 4)))]
    methods = {"a": [nn.Conv2d(3, 4, 1)]}
    with pytest.raises(ValueError, match=r"logits of shape \(2, 4, 4, 4\).*task=\"segmentation\""):
        compare(methods, data, num_classes=4, progress=False)
    # the same models under task="segmentation" run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compare(methods, data, task="segmentation", num_classes=4, progress=False)


def test_wilcoxon_default_over_three_seeds_warns_it_cannot_reach_alpha():
    methods, data = _classifiers()
    with pytest.warns(UserWarning, match=r"test='wilcoxon' cannot reach p < 0.05 with 3 seeds.*0\.25"):
        compare(methods, data, num_classes=3, progress=False)


def test_a_list_of_metric_names_still_needs_num_classes():
    methods, data = _classifiers()
    with pytest.raises(ValueError, match="needs num_classes"):
        compare(methods, data, metrics=["accuracy"], progress=False)
