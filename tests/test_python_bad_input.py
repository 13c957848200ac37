"""Bad input to compare(), Study and saved results: a clear error that says where, and nothing changed.

The same inputs (and more) run one per subprocess in the bad-input catalogue
(``tests/bad_inputs/cases_python.py``); here each fix has a focused test
that also checks what the error must not leave behind.
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mushin import BenchmarkResult, Study, compare
from mushin.metrics.tasks import get_task
from synthetic_batches import classification_batches

C = 3


def tree_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for p in sorted(Path(path).rglob("*")):
        digest.update(str(p.relative_to(path)).encode())
        if p.is_file():
            digest.update(p.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(2, 3, 4, 4, generator=g), torch.randint(0, C, (2, 4, 4), generator=g)) for _ in range(2)]


@pytest.fixture
def methods():
    torch.manual_seed(0)
    return {"a": [nn.Conv2d(3, C, 1) for _ in range(2)], "b": [nn.Conv2d(3, C, 1) for _ in range(2)]}


def _quiet(fn, *args, **kwargs):
    if fn is compare:  # the task and test these cases were written for (compare's old defaults)
        if len(args) < 3:
            kwargs.setdefault("task", "segmentation")
        kwargs.setdefault("test", "welch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# ----------------------------------------------------------------- compare --


def test_empty_data_is_an_error_naming_data(methods):
    with pytest.raises(ValueError, match=r"data is empty \(a list of length 0\)"):
        compare(methods, [], num_classes=C, task="segmentation", test="welch")


class _Passes:
    """Yields the batches of ``passes[k]`` on its k-th iteration (the last one after that)."""

    def __init__(self, *passes):
        self.passes = passes
        self.count = 0

    def __iter__(self):
        batches = self.passes[min(self.count, len(self.passes) - 1)]
        self.count += 1
        return iter(batches)


def test_data_without_len_that_yields_nothing_names_the_model(methods):
    with pytest.raises(ValueError, match=r"data yielded no batches for method 'a', seed 0 \(methods\['a'\]\[0\]\)"):
        compare(methods, _Passes([]), num_classes=C, task="segmentation", test="welch")


def test_data_that_runs_out_after_the_first_model_is_caught(methods, data):
    with pytest.raises(
        ValueError,
        match=r"data yielded no batches for method 'a', seed 1 .*\(it yielded 2 for method 'a', seed 0",
    ):
        compare(methods, _Passes(data, []), num_classes=C, task="segmentation", test="welch", one_pass=False)  # one pass reads data once


def test_data_that_changes_between_models_is_caught(methods, data):
    with pytest.raises(ValueError, match=r"data yielded 1 batch\(es\) for method 'b', seed 0 .* but 2 for method 'a'"):
        compare(methods, _Passes(data, data, data[:1]), num_classes=C, task="segmentation", test="welch", one_pass=False)


def test_a_bad_label_names_method_seed_and_batch(methods, data):
    data[1][1][0, 2, 3] = 7
    with pytest.raises(ValueError) as raised:
        compare(methods, data, num_classes=C, task="segmentation", test="welch")
    message = str(raised.value)
    assert message.startswith("method 'a', seed 0 (methods['a'][0]), batch 1: target holds 1 value outside [0, 3)")
    assert "if 7 marks void pixels, pass ignore_index=7, or check num_classes=3" in message
    assert isinstance(raised.value.__cause__, ValueError)  # the C core's own error, kept


def test_an_error_of_a_later_model_names_that_model(methods, data):
    methods["b"][1] = nn.Conv2d(3, 5, 1)  # logits of 5 classes
    with pytest.raises(ValueError, match=r"^method 'b', seed 1 \(methods\['b'\]\[1\]\), batch 0: .*5 classes in dim 1"):
        compare(methods, data, num_classes=C, task="segmentation", test="welch")


def test_stream_errors_keep_batch_and_metric_behind_method_and_seed():
    data = [(torch.randn(4, 6), torch.tensor([0, 1, 2, 1]))] * 2
    calls = []

    def predict(model, x):
        calls.append(1)
        logits = model(x)
        probs = logits.softmax(-1) * (2 if len(calls) == 2 else 1)  # batch 1 of the first model
        return logits.argmax(-1), probs

    with pytest.raises(ValueError, match=r"^method 'a', seed 0 \(methods\['a'\]\[0\]\), batch 1, metric 'auroc': "):
        compare({"a": [nn.Linear(6, C)]}, data, task="classification", num_classes=C, predict_fn=predict, test="welch")


def test_void_pixels_get_the_ignore_index_hint_only_when_it_is_missing(methods, data):
    data[0][1][0, 0, 0] = 255
    with pytest.raises(ValueError, match=r"batch 0: .*; if 255 marks void pixels, pass ignore_index=255$"):
        compare(methods, data, num_classes=C, task="segmentation", test="welch")
    # with ignore_index=255 the same labels are fine
    _quiet(compare, methods, data, num_classes=C, ignore_index=255)
    # with another ignore_index the error stays, without the hint
    with pytest.raises(ValueError) as raised:
        compare(methods, data, num_classes=C, ignore_index=100, task="segmentation", test="welch")
    assert "not ignore_index=100" in str(raised.value) and "pass ignore_index" not in str(raised.value)


@pytest.mark.parametrize("overlap_batches", [2, 6])
def test_labels_with_a_channel_dim_say_squeeze(methods, data, overlap_batches):
    masks = [(x, y[:, None]) for x, y in (data * 3)[:overlap_batches]]
    with pytest.raises(
        ValueError,
        match=r"^method 'a', seed 0 \(methods\['a'\]\[0\]\), batch 0: labels have shape \(2, 1, 4, 4\), "
        r"i\.e\. \(N, 1, H, W\).*squeeze dim 1 \(y\.squeeze\(1\)\)",
    ):
        compare(methods, masks, num_classes=C, task="segmentation", test="welch")
    # a predict_fn returning class indices gets the same advice, not one about predict_fn
    with pytest.raises(ValueError, match=r"squeeze dim 1 \(y\.squeeze\(1\)\)"):
        compare(methods, masks, num_classes=C, predict_fn=lambda m, x: (m(x).argmax(1), None), task="segmentation", test="welch")


def test_metrics_names_select_battery_entries(methods, data):
    full = _quiet(compare, methods, data, num_classes=C)
    picked = _quiet(compare, methods, data, num_classes=C, metrics=["dice", "miou"])
    assert picked.metrics == ["dice", "miou"]
    for name in picked.metrics:
        np.testing.assert_array_equal(picked.data[name].values, full.data[name].values)


def test_metrics_names_keep_probabilities_for_probability_metrics():
    data = classification_batches(2, 16, 6, C, seed=3)
    torch.manual_seed(1)
    models = {"a": [nn.Linear(6, C) for _ in range(2)]}
    full = _quiet(compare, models, data, task="classification", num_classes=C)
    picked = _quiet(compare, models, data, task="classification", num_classes=C, metrics=["auroc", "accuracy"])
    assert picked.metrics == ["auroc", "accuracy"]
    np.testing.assert_array_equal(picked.data["auroc"].values, full.data["auroc"].values)


def test_unknown_metric_names_list_the_available_ones(methods, data):
    with pytest.raises(ValueError, match=r"no metric\(s\) \['mIoU'\]; available: \['miou', 'dice', 'pixel_acc', 'precision', 'recall'\]"):
        compare(methods, data, num_classes=C, metrics=["miou", "mIoU"], task="segmentation", test="welch")


def test_dict_model_error_suggests_a_predict_fn_that_runs_the_model_once(data):
    forwards = []

    class DictModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, C, 1)

        def forward(self, x):
            forwards.append(1)
            return {"out": self.conv(x)}

    with pytest.raises(TypeError) as raised:
        compare({"a": [DictModel()]}, data, num_classes=C, task="segmentation", test="welch")
    message = str(raised.value)
    assert "model(x)['out'].argmax(1), model(x)['out']" not in message  # the old two-pass lambda
    suggested = message[message.index("def torchvision_seg_predict") :]
    namespace: dict = {}
    exec(suggested.replace("\n    ", "\n"), namespace)  # the advice as written, dedented
    forwards.clear()
    result = _quiet(compare, {"a": [DictModel()]}, data, num_classes=C, predict_fn=namespace["torchvision_seg_predict"])
    assert len(forwards) == len(data)  # one forward pass per batch
    assert result.metrics == list(get_task("segmentation").battery)


def test_num_classes_and_ignore_index_are_checked_before_any_model_runs(data):
    calls = []

    def model(x):
        calls.append(1)
        return torch.zeros(x.shape[0], C, 4, 4)

    with pytest.raises(ValueError, match=r"num_classes must be between 1 and 65536.*got 65537"):
        compare({"a": [model]}, data, num_classes=65537, task="segmentation", test="welch")
    with pytest.raises(ValueError, match=r"ignore_index=9223372036854775808 does not fit in int64"):
        compare({"a": [model]}, data, num_classes=C, ignore_index=2**63, task="segmentation", test="welch")
    with pytest.raises(ValueError, match=r"device='cuda:x' is not a torch device"):
        compare({"a": [model]}, data, num_classes=C, device="cuda:x", task="segmentation", test="welch")
    assert calls == []


def test_a_failing_compare_leaves_the_models_as_they_were(methods, data):
    for model in methods["a"]:
        model.train()
    weights = [p.detach().clone() for m in methods["a"] for p in m.parameters()]
    data[1][1][0, 0, 0] = 9
    with pytest.raises(ValueError):
        compare(methods, data, num_classes=C, task="segmentation", test="welch")
    assert all(m.training for m in methods["a"])
    for before, after in zip(weights, (p for m in methods["a"] for p in m.parameters())):
        assert torch.equal(before, after)


# ------------------------------------------------------------ saved result --

CONF = {"a": [[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]], "b": [[[5, 5], [4, 6]], [[6, 4], [5, 5]]]}


@pytest.fixture
def saved(tmp_path):
    result = _quiet(BenchmarkResult.from_confusion, CONF, class_names=["sky", "road"])
    return result, result.save(tmp_path / "run")


def _rewrite(path: Path, edit) -> None:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    edit(rows)
    with open(path, "w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def _set(path: Path, key: tuple, column: str, value: str) -> int:
    """Set ``column`` of the row starting with ``key``; return its line number."""
    found = []

    def edit(rows):
        for n, row in enumerate(rows):
            if tuple(row[: len(key)]) == key:
                row[rows[0].index(column)] = value
                found.append(n + 1)
                return

    _rewrite(path, edit)
    assert found, key
    return found[0]


def _load_refused(path: Path, pattern: str) -> None:
    before = tree_digest(path.parent)
    with pytest.raises(ValueError, match=pattern):
        BenchmarkResult.load(path)
    assert tree_digest(path.parent) == before  # load never writes


def test_negative_target_is_refused_not_wrapped_around(saved):
    _, path = saved
    line = _set(path / "confusion.csv", ("a", "0", "1", "0"), "target", "-1")
    _load_refused(path, rf"confusion\.csv line {line}: target -1 is outside \[0, 1\]")


def test_negative_and_fractional_counts_are_refused(saved):
    _, path = saved
    line = _set(path / "confusion.csv", ("a", "1", "1", "1"), "count", "-4")
    _load_refused(path, rf"confusion\.csv line {line}: count -4 is negative")
    _set(path / "confusion.csv", ("a", "1", "1", "1"), "count", "9.0")
    _load_refused(path, rf"confusion\.csv line {line}: count '9\.0' is not an integer")


def test_deleted_and_repeated_rows_are_refused(saved):
    _, path = saved
    original = (path / "confusion.csv").read_text()
    _rewrite(path / "confusion.csv", lambda rows: rows.pop(7))
    _load_refused(path, r"confusion\.csv: 1 row\(s\) are missing, the first for method 'a', seed '1', target '1', prediction '0'")
    (path / "confusion.csv").write_text(original)
    _rewrite(path / "confusion.csv", lambda rows: rows.insert(9, rows[3]))
    _load_refused(path, r"confusion\.csv line 10: the row for method 'a', seed '0', target '1', prediction '0' repeats line 4")


def test_edited_scores_are_refused(saved):
    result, path = saved
    line = _set(path / "scores.csv", ("b", "1", "dice"), "value", "0.9")
    expected = result.data["dice"].sel({"method": "b", "seed": 1}).item()
    _load_refused(path, rf"scores\.csv line {line}: dice of method 'b', seed 1 is 0\.9, but its confusion matrix "
                        rf"in confusion\.csv gives {re.escape(repr(expected))}")


def test_edited_counts_no_longer_match_the_scores(saved):
    _, path = saved
    _set(path / "confusion.csv", ("b", "0", "0", "0"), "count", "50")
    _load_refused(path, r"scores\.csv line \d+: miou of method 'b', seed 0 is .*, but its confusion matrix")


def test_edited_per_class_values_and_comparisons_are_refused(saved):
    _, path = saved
    original = (path / "per_class.csv").read_text()
    line = _set(path / "per_class.csv", ("a", "2", "road", "per_class_recall"), "value", "1.0")
    _load_refused(path, rf"per_class\.csv line {line}: per_class_recall of method 'a', seed 2, class 'road' is 1\.0, "
                        r"but the confusion matrix in confusion\.csv gives 0\.8")
    (path / "per_class.csv").write_text(original)
    line = _set(path / "comparisons.csv", ("pixel_acc", "a", "b"), "mean_diff", "0.0")
    _load_refused(path, rf"comparisons\.csv line {line}: mean_diff is 0\.0, but the scores in scores\.csv give")


def test_a_score_off_by_a_rounding_loads_and_one_off_by_more_does_not(saved):
    # repr() round-trips, so only another machine's summation order can move
    # a recomputed score: by at most num_classes roundings.
    result, path = saved
    value = result.data["miou"].sel({"method": "a", "seed": 0}).item()
    _set(path / "scores.csv", ("a", "0", "miou"), "value", repr(float(np.nextafter(value, 2.0))))
    loaded = _quiet(BenchmarkResult.load, path)
    assert loaded.data["miou"].sel({"method": "a", "seed": 0}).item() == np.nextafter(value, 2.0)
    _set(path / "scores.csv", ("a", "0", "miou"), "value", repr(value + 1e-9))
    _load_refused(path, r"scores\.csv line 2: miou of method 'a', seed 0")


def test_a_huge_num_classes_is_refused_before_allocating(saved):
    _, path = saved
    manifest = json.loads((path / "manifest.json").read_text())
    manifest.update(num_classes=8000, classes=[], per_class_metrics=[])
    manifest["settings"]["num_classes"] = 8000
    manifest["variable_attrs"] = {k: v for k, v in manifest["variable_attrs"].items() if not k.startswith("per_class")}
    (path / "manifest.json").write_text(json.dumps(manifest))
    tracemalloc.start()
    try:
        _load_refused(path, r"confusion\.csv: it holds 24 rows, but 2 method\(s\) x 3 seed\(s\) x num_classes=8000\*\*2 need 384000000")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6  # 384e6 int64 counts would be 3.1 GB


@pytest.mark.parametrize(
    "change, pattern",
    [
        (lambda m: m.update(num_classes=-1), r"num_classes is -1, not an int in \[1, 65536\]"),
        (lambda m: m.update(methods=["a", 1]), r"methods\[1\] is 1, not a str"),
        (lambda m: m.update(seeds=[]), r"'seeds' is empty"),
        (lambda m: m.pop("metrics"), r"it has no \['metrics'\] key"),
        (lambda m: m["settings"].update(correction="none?"), r"settings: unknown correction 'none\?'"),
        (lambda m: m.update(variable_attrs={}), r"'variable_attrs' names \[\], not the metrics"),
    ],
)
def test_a_damaged_manifest_is_refused_naming_the_field(saved, change, pattern):
    _, path = saved
    manifest = json.loads((path / "manifest.json").read_text())
    change(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))
    _load_refused(path, r"manifest\.json: " + pattern)


def test_a_custom_metric_named_like_a_battery_metric_round_trips(tmp_path, methods, data):
    # only metrics that were the task's own functions when saved are recomputed on load
    def half_miou(counts, ignore_index):
        return get_task("segmentation").battery["miou"](counts, ignore_index) / 2

    result = _quiet(compare, methods, data, num_classes=C, metrics={"miou": half_miou, "dice": get_task("segmentation").battery["dice"]})
    path = result.save(tmp_path / "custom")
    assert json.loads((path / "manifest.json").read_text())["derived_metrics"] == ["dice"]
    loaded = _quiet(BenchmarkResult.load, path)
    np.testing.assert_array_equal(loaded.data["miou"].values, result.data["miou"].values)


def test_files_written_before_derived_metrics_are_still_checked(saved):
    _, path = saved
    manifest = json.loads((path / "manifest.json").read_text())
    del manifest["derived_metrics"], manifest["derived_comparisons"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    _quiet(BenchmarkResult.load, path)  # an untouched older file loads
    _set(path / "scores.csv", ("a", "0", "precision"), "value", "0.5")
    _load_refused(path, r"scores\.csv line \d+: precision of method 'a', seed 0 is 0\.5")


def test_save_creates_missing_parent_folders(tmp_path, saved):
    result, _ = saved
    path = result.save(tmp_path / "runs" / "2026" / "x")
    assert path == tmp_path / "runs" / "2026" / "x"
    _quiet(BenchmarkResult.load, path)


def test_a_failing_save_leaves_no_files_and_no_new_folders(tmp_path, saved, monkeypatch):
    import mushin.result.files as mushin_io

    result, _ = saved
    before = tree_digest(tmp_path)

    def disk_full(path, header, rows):
        raise OSError("disk full")

    monkeypatch.setattr(mushin_io, "_write_csv", disk_full)
    with pytest.raises(OSError, match="disk full"):
        result.save(tmp_path / "runs" / "deep" / "x")
    assert tree_digest(tmp_path) == before
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------- Study --


def _train_into(folder: Path, calls: list):
    def train(seed):
        calls.append(seed)
        path = folder / f"trained-{seed}-{len(calls)}.pt"
        torch.save(nn.Conv2d(3, C, 1), path)
        return str(path)

    return train


@pytest.fixture
def study_parts(tmp_path, data):
    calls: list = []
    train = _train_into(tmp_path, calls)
    kwargs = dict(load_fn=lambda p: torch.load(p, weights_only=False), seeds=[0, 1], data=data,
                  task="segmentation", num_classes=C, working_dir=tmp_path / "study")
    return train, calls, kwargs


def _trained_study(study_parts):
    train, calls, kwargs = study_parts
    Study({"a": train, "b": train}, **kwargs).train()
    calls.clear()
    manifest_path = kwargs["working_dir"] / "manifest.json"
    return manifest_path, json.loads(manifest_path.read_text())


@pytest.mark.parametrize(
    "checkpoint, problem",
    [
        ("checkpoints/b/seed-0.pt", r"it is not this run's own file checkpoints/a/seed-0<suffix>"),
        ("checkpoints/a/seed-1.pt", r"it is not this run's own file checkpoints/a/seed-0<suffix>"),
        ("../outside.pt", r"it is not a path inside working_dir"),
        ("checkpoints/a/../../../elsewhere/seed-0.pt", r"it is not a path inside working_dir"),
        ("/etc/hostname", r"it is not a path inside working_dir"),
    ],
)
def test_manifest_naming_a_foreign_checkpoint_is_refused(study_parts, tmp_path, checkpoint, problem):
    train, calls, kwargs = study_parts
    manifest_path, manifest = _trained_study(study_parts)
    (tmp_path / "outside.pt").write_bytes(b"not yours")
    manifest["runs"]["a"]["0"]["checkpoint"] = checkpoint
    manifest_path.write_text(json.dumps(manifest))
    before = tree_digest(tmp_path)
    loaded = []
    kwargs = dict(kwargs, load_fn=lambda p: loaded.append(p))
    with pytest.raises(ValueError) as raised:
        Study({"a": train, "b": train}, **kwargs).run()
    message = str(raised.value)
    assert str(manifest_path) in message
    assert f"names {checkpoint!r} as the checkpoint of method 'a', seed 0" in message
    assert re.search(problem, message)
    assert "delete it to train every run again" in message
    assert calls == [] and loaded == []  # nothing trained, nothing loaded
    assert tree_digest(tmp_path) == before  # and no file deleted or replaced


def test_a_symlink_escaping_working_dir_is_refused(study_parts, tmp_path):
    train, calls, kwargs = study_parts
    manifest_path, _ = _trained_study(study_parts)
    own = kwargs["working_dir"] / "checkpoints" / "b" / "seed-1.pt"
    own.unlink()
    own.symlink_to(tmp_path / "trained-0-1.pt")
    with pytest.raises(ValueError, match=r"names 'checkpoints/b/seed-1\.pt' as the checkpoint of method 'b', seed 1, "
                                         r"and it is a link to .*trained-0-1\.pt, outside working_dir"):
        Study({"a": train, "b": train}, **kwargs).train()
    assert calls == []


@pytest.mark.parametrize(
    "damage, pattern",
    [
        (lambda m: "{\"format\": 1, ", r"it is not valid JSON"),
        (lambda m: [], r"it holds a JSON list, not an object"),
        (lambda m: {k: v for k, v in m.items() if k != "runs"}, r"it has no 'runs' key"),
        (lambda m: dict(m, methods=["a", "b"]), r"'methods' is a JSON list"),
        (lambda m: dict(m, runs={"a": {"0": None}}), r"runs\['a'\]\['0'\] is a JSON NoneType, not an object"),
        (lambda m: dict(m, runs={"a": {"0": {"status": "done", "checkpoint": None}}}),
         r"runs\['a'\]\['0'\] is done but names no checkpoint"),
        (lambda m: dict(m, runs={"a": {"0": {"checkpoint": "checkpoints/a/seed-0.pt"}}}),
         r"runs\['a'\]\['0'\]\['status'\] is None, not one of"),
    ],
)
def test_a_damaged_manifest_says_which_file_what_and_what_to_do(study_parts, damage, pattern):
    train, calls, kwargs = study_parts
    manifest_path, manifest = _trained_study(study_parts)
    damaged = damage(manifest)
    manifest_path.write_text(damaged if isinstance(damaged, str) else json.dumps(damaged))
    before = tree_digest(kwargs["working_dir"])
    with pytest.raises(ValueError) as raised:
        Study({"a": train, "b": train}, **kwargs).train()
    message = str(raised.value)
    assert message.startswith(f"the study manifest {manifest_path} is damaged: ")
    assert re.search(pattern, message), message
    assert message.endswith("Restore it from a backup, or delete it to train every run again")
    assert "another working_dir" not in message
    assert calls == [] and tree_digest(kwargs["working_dir"]) == before


@pytest.mark.parametrize(
    "override, error, pattern",
    [
        ({"num_classes": 65537}, ValueError, r"num_classes must be between 1 and 65536"),
        ({"ignore_index": 2**64}, ValueError, r"ignore_index=18446744073709551616 does not fit in int64"),
        ({"metrics": ["miou", "acc"]}, ValueError, r"no metric\(s\) \['acc'\]"),
        ({"data": []}, ValueError, r"data is empty"),
        ({"device": "gpu"}, ValueError, r"device='gpu' is not a torch device"),
        ({"class_names": ["x"]}, ValueError, r"got 1 class_names for num_classes=3"),
    ],
)
def test_study_checks_every_cheap_argument_before_training(study_parts, tmp_path, override, error, pattern):
    train, calls, kwargs = study_parts
    with pytest.raises(error, match=pattern):
        Study({"a": train, "b": train}, **dict(kwargs, **override))
    assert calls == [] and not (tmp_path / "study").exists()


def test_study_refuses_a_working_dir_under_a_file(study_parts, tmp_path):
    train, calls, kwargs = study_parts
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match=r"working_dir .* cannot be created: .*file' is a file"):
        Study({"a": train}, **dict(kwargs, working_dir=tmp_path / "file" / "study"))
    assert calls == []


def test_study_evaluation_errors_name_the_seed_label(study_parts, data):
    train, calls, kwargs = study_parts
    data[0][1][0, 0, 0] = 255
    with pytest.raises(ValueError, match=r"^method 'a', seed 0, batch 0: .*pass ignore_index=255"):
        _quiet(Study({"a": train, "b": train}, **kwargs).run)
    assert calls == [0, 1, 0, 1]  # trained once each; the error came from evaluating


def test_from_checkpoints_errors_name_the_checkpoint_list(tmp_path, data):
    paths = []
    for k, classes in enumerate((C, 5)):  # the second checkpoint predicts 5 classes
        paths.append(str(tmp_path / f"m{k}.pt"))
        torch.save(nn.Conv2d(3, classes, 1), paths[-1])
    study = Study.from_checkpoints({"a": paths}, load_fn=lambda p: torch.load(p, weights_only=False), data=data,
                                   task="segmentation", num_classes=C)
    with pytest.raises(ValueError, match=r"^method 'a', seed 1 \(checkpoints\['a'\]\[1\]\), batch 0: .*5 classes"):
        _quiet(study.run)
