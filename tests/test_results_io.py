"""save/load round trips every part of a result bit for bit; to_dataframe is tidy."""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import mushin.result.files as mushin_io
from mushin import BenchmarkResult

CONF = {
    "a": [[[9, 1, 0], [1, 8, 1], [0, 1, 9]], [[8, 2, 0], [1, 9, 0], [0, 2, 8]], [[9, 0, 1], [2, 8, 0], [1, 0, 9]]],
    "b": [[[5, 3, 2], [4, 4, 2], [2, 3, 5]], [[6, 2, 2], [3, 5, 2], [3, 2, 5]]],
}


def _assert_same(loaded, original, derived=True):
    xr.testing.assert_identical(loaded.data, original.data)
    xr.testing.assert_identical(loaded.per_class.dataset, original.per_class.dataset)
    xr.testing.assert_identical(loaded.confusion, original.confusion)
    assert loaded.confusion.dtype == np.int64
    pd.testing.assert_frame_equal(loaded.comparisons, original.comparisons)
    assert loaded.settings == original.settings
    if derived:  # everything derived from them agrees too
        assert loaded.to_markdown() == original.to_markdown()
        pd.testing.assert_frame_equal(loaded.summary(), original.summary())


def test_round_trip_with_missing_seeds_class_names_and_none_settings(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = BenchmarkResult.from_confusion(CONF, class_names=["sky", "road", "car"])
    assert r.settings["ignore_index"] is None
    assert (r.confusion.sel({"method": "b", "seed": 2}).values == -1).all()
    path = r.save(tmp_path / "run")
    assert sorted(os.listdir(path)) == ["comparisons.csv", "confusion.csv", "manifest.json", "per_class.csv", "scores.csv"]
    _assert_same(BenchmarkResult.load(path), r)
    _assert_same(BenchmarkResult.load(str(path)), r)


def test_round_trip_of_arbitrary_floats_and_labels(tmp_path, rng):
    # string seed labels, awkward method names, an in-range ignore_index
    conf = {
        name: rng.integers(0, 50, size=(4, 5, 5))
        for name in ("NA", "1", 'comma, "quote"', "ünïcode", "nan")
    }
    r = BenchmarkResult.from_confusion(conf, ignore_index=0, seeds=["s0", "s1", "2", "NaN"], correction="none")
    # overwrite the scores with floats that need all 17 digits
    data = r.data.copy()
    for name in r.metrics:
        data[name].values[:] = rng.random(data[name].shape) * 10.0 ** rng.integers(-300, 300, size=data[name].shape)
    data["miou"].values[0, 0] = np.inf
    data["dice"].values[1, 1] = -0.0
    tweaked = BenchmarkResult.from_parts(data, r.comparisons, r.settings, confusion=r.confusion, per_class=r.per_class.dataset)
    # (no summary of an inf score: only the stored values are compared)
    _assert_same(BenchmarkResult.load(tweaked.save(tmp_path / "x")), tweaked, derived=False)
    loaded = BenchmarkResult.load(tmp_path / "x")
    assert np.signbit(loaded.data["dice"].values[1, 1])
    assert loaded.data["seed"].values.tolist() == ["s0", "s1", "2", "NaN"]


def test_large_counts_survive(tmp_path):
    big = np.array([[[2**40, 3], [5, 2**62]], [[2**33, 0], [1, 7]]], dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = BenchmarkResult.from_confusion({"a": big, "b": big[::-1]})
    loaded = BenchmarkResult.load(r.save(tmp_path / "big"))
    np.testing.assert_array_equal(loaded.confusion.values, r.confusion.values)


def test_save_replaces_an_earlier_result_and_leaves_no_temporaries(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = BenchmarkResult.from_confusion({"a": CONF["a"], "b": CONF["a"][::-1]})
        second = BenchmarkResult.from_confusion(CONF)
    first.save(tmp_path / "run")
    second.save(tmp_path / "run")
    assert os.listdir(tmp_path) == ["run"]
    _assert_same(BenchmarkResult.load(tmp_path / "run"), second)


def test_interrupted_save_leaves_the_old_result_and_no_partial_folder(tmp_path, monkeypatch):
    r = BenchmarkResult.from_confusion({"a": CONF["a"], "b": CONF["a"][::-1]})
    r.save(tmp_path / "run")
    before = {n: (tmp_path / "run" / n).read_bytes() for n in os.listdir(tmp_path / "run")}
    calls = []
    original = mushin_io._write_csv

    def failing(path, header, rows):
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError("disk full")
        return original(path, header, rows)

    monkeypatch.setattr(mushin_io, "_write_csv", failing)
    with pytest.raises(OSError, match="disk full"):
        r.save(tmp_path / "run")
    with pytest.raises(OSError, match="disk full"):
        calls.clear()
        r.save(tmp_path / "new")
    assert sorted(os.listdir(tmp_path)) == ["run"]
    assert {n: (tmp_path / "run" / n).read_bytes() for n in os.listdir(tmp_path / "run")} == before


def test_save_refuses_to_clobber_other_files(tmp_path):
    r = BenchmarkResult.from_confusion({"a": CONF["a"], "b": CONF["a"][::-1]})
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="a file is in the way"):
        r.save(tmp_path / "notes.txt")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "data.bin").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="non-empty folder that holds no saved result"):
        r.save(tmp_path / "mine")
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert os.listdir(tmp_path / "mine") == ["data.bin"]
    (tmp_path / "empty").mkdir()
    r.save(tmp_path / "empty")  # an empty folder is fine
    assert (tmp_path / "empty" / "manifest.json").is_file()


def test_save_bad_paths(tmp_path):
    r = BenchmarkResult.from_confusion({"a": CONF["a"], "b": CONF["a"][::-1]})
    # missing parent folders are created (they used to raise FileNotFoundError)
    _assert_same(BenchmarkResult.load(r.save(tmp_path / "missing" / "run")), r)
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        r.save(42)
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        r.save(tmp_path / "file" / "run")


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        BenchmarkResult.load(tmp_path / "nothing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError, match="not a saved mushin result"):
        BenchmarkResult.load(tmp_path / "plain")
    r = BenchmarkResult.from_confusion({"a": CONF["a"], "b": CONF["a"][::-1]})
    path = r.save(tmp_path / "run")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["version"] = 99
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="format version 99"):
        BenchmarkResult.load(path)
    path = r.save(tmp_path / "run2")
    (path / "scores.csv").write_text("method,seed,metric,value\na,0,miou,zero\n")
    with pytest.raises(ValueError, match=r"scores.csv line 2: value 'zero' is not a number.*edited or damaged"):
        BenchmarkResult.load(path)
    (path / "scores.csv").unlink()
    with pytest.raises(ValueError, match=r"missing \['scores.csv'\]"):
        BenchmarkResult.load(path)


def test_seed_labels_that_collide_as_text_are_refused(tmp_path):
    r = BenchmarkResult.from_confusion({"a": CONF["a"][:2], "b": CONF["a"][1:]}, seeds=[1, 1])
    with pytest.raises(ValueError, match="seed labels 1 and 1 are the same as text"):
        r.save(tmp_path / "run")
    assert os.listdir(tmp_path) == []


# -------------------------------------------------------------- dataframe --


def test_to_dataframe_is_tidy_and_skips_missing_seeds():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = BenchmarkResult.from_confusion(CONF, class_names=["sky", "road", "car"])
    frame = r.to_dataframe()
    assert list(frame.columns) == ["method", "seed", "metric", "value"]
    assert len(frame) == (3 + 2) * len(r.metrics)
    pixel = frame[frame["metric"] == "pixel_acc"]
    assert pixel["value"].tolist() == [26 / 30, 25 / 30, 26 / 30, 14 / 30, 16 / 30]
    assert pixel["seed"].tolist() == [0, 1, 2, 0, 1]
    per_class = r.to_dataframe(per_class=True)
    assert list(per_class.columns) == ["method", "seed", "class", "metric", "value"]
    assert len(per_class) == 5 * 3 * 4
    row = per_class[(per_class["method"] == "b") & (per_class["seed"] == 1) & (per_class["class"] == "road")
                    & (per_class["metric"] == "iou")]
    assert row["value"].tolist() == [5 / (5 + 4 + 5)]  # tp / (tp + fp + fn) by hand


# ------------------------------------------------- files of the old layout --

# Saved by mushin at commit b32fd9d, when the per-class values were variables
# ``per_class_<metric>`` of ``result.data`` and the comparisons table put
# diff_ci_low/diff_ci_high right after mean_diff:
#   BenchmarkResult.from_confusion(OLD_CONF, class_names=["sky", "road", "car"], seeds=[7, 8, 9])
#       .save("tests/data/result-saved-with-per-class-in-data")
OLD_FOLDER = os.path.join(os.path.dirname(__file__), "data", "result-saved-with-per-class-in-data")
OLD_CONF = {
    "a": [[[9, 1, 0], [1, 9, 2], [0, 1, 5]], [[8, 2, 1], [1, 9, 0], [2, 0, 4]], [[9, 1, 1], [2, 8, 0], [0, 0, 6]]],
    "b": [[[5, 5, 1], [4, 6, 0], [1, 1, 3]], [[6, 4, 0], [5, 5, 1], [1, 2, 3]], [[5, 5, 2], [5, 5, 0], [2, 2, 2]]],
}


def test_a_result_saved_before_per_class_moved_out_of_data_loads_in_the_new_layout(tmp_path):
    old_columns = next(iter(open(os.path.join(OLD_FOLDER, "comparisons.csv")))).strip().split(",")
    assert old_columns[3:6] == ["mean_diff", "diff_ci_low", "diff_ci_high"]  # the file is of the old layout
    loaded = BenchmarkResult.load(OLD_FOLDER)
    assert list(loaded.data.data_vars) == ["miou", "dice", "pixel_acc", "precision", "recall"]
    assert "class" not in loaded.data.dims
    assert list(loaded.per_class.data_vars) == ["iou", "dice", "precision", "recall"]
    assert loaded.classes == ["sky", "road", "car"]
    assert loaded.data["seed"].values.tolist() == [7, 8, 9]
    # per-class IoU recomputed here from the counts: tp / (tp + fp + fn)
    for m, method in enumerate(["a", "b"]):
        for j, seed in enumerate([7, 8, 9]):
            cm = np.array(OLD_CONF[method][j], dtype=float)
            tp = np.diag(cm)
            iou = tp / (cm.sum(axis=0) + cm.sum(axis=1) - tp)
            got = loaded.per_class("iou").sel({"method": method, "seed": seed}).values
            np.testing.assert_allclose(got, iou, rtol=0, atol=1e-15)
    # the comparisons come back in today's column order, equal to what the scores give
    assert list(loaded.comparisons.columns[:8]) == [
        "metric", "method_a", "method_b", "mean_diff", "effect_size", "p_value", "p_corrected", "significant",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh = BenchmarkResult.from_confusion(OLD_CONF, class_names=["sky", "road", "car"], seeds=[7, 8, 9])
    _assert_same(loaded, fresh)
    # and it saves again in the current layout, round trip intact
    _assert_same(BenchmarkResult.load(loaded.save(tmp_path / "again")), fresh)
