"""Study: the guide's snippet, resume after SIGKILL, failures, bad input, manifest."""
from __future__ import annotations

import functools
import json
import importlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import _study_helpers as h
from _study_helpers import assert_same_result, calls, make_study, seg_methods
from mushin import IncompleteSweepError, Study, compare
from mushin.study import StaleCheckpointError, train_fn_fingerprint, write_json_atomic

TESTS_DIR = Path(__file__).resolve().parent


# ------------------------------------------------------------- the guide --


def test_guide_study_snippet_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "models"
    val_loader = h.val_loader()

    def train_fcn(seed):
        return h.train_fcn(seed, out_dir=str(out))

    def train_deeplab(seed):
        return h.train_deeplab(seed, out_dir=str(out))

    # --- the guide, verbatim ---
    from mushin import Study

    study = Study(
        methods={"fcn": train_fcn, "deeplab": train_deeplab},
        load_fn=lambda p: torch.load(p, weights_only=False),
        seeds=[0, 1, 2],
        data=val_loader,
        task="segmentation",
        num_classes=21,
        ignore_index=255,
    )
    result = study.run()
    # ---------------------------

    assert result.methods == ["fcn", "deeplab"]
    assert result.data["seed"].values.tolist() == [0, 1, 2]
    assert sorted(result.metrics) == ["dice", "miou", "pixel_acc", "precision", "recall"]
    root = tmp_path / "mushin-study"
    assert study.working_dir == root
    assert study.checkpoints == {
        name: [str(root / "checkpoints" / name / f"seed-{s}.pt") for s in (0, 1, 2)]
        for name in ("fcn", "deeplab")
    }
    # the user's own files are left where train_fn wrote them (copied, not moved)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{n}-seed{s}.pt" for n in ("fcn", "deeplab") for s in (0, 1, 2)
    )
    # same numbers as compare() on the same models held in memory
    models = {name: [h.load(p) for p in paths] for name, paths in study.checkpoints.items()}
    direct = compare(models, val_loader, task="segmentation", num_classes=21, ignore_index=255)
    for metric in result.metrics:
        np.testing.assert_array_equal(result.data[metric].values, direct.data[metric].values)
    np.testing.assert_array_equal(result.confusion.values, direct.confusion.values)


def test_manifest_records_each_run(tmp_path):
    log = tmp_path / "calls.log"
    study = make_study(seg_methods(tmp_path, log), tmp_path / "study")
    study.run()
    manifest = json.loads((tmp_path / "study" / "manifest.json").read_text())
    assert manifest["seeds"] == [0, 1, 2]
    assert set(manifest["methods"]) == {"fcn", "deeplab"}
    assert manifest["methods"]["fcn"]["train_fn"] == "partial(_study_helpers.train_fcn)"
    for name in ("fcn", "deeplab"):
        for seed in (0, 1, 2):
            run = manifest["runs"][name][str(seed)]
            assert run["status"] == "done"
            assert run["checkpoint"] == f"checkpoints/{name}/seed-{seed}.pt"
            assert run["returned_path"] == str(tmp_path / "out" / f"{name}-seed{seed}.pt")
            assert run["duration_s"] > 0
            assert run["error"] is None
            assert run["code_hash"] == manifest["methods"][name]["code_hash"]
    assert study.manifest == manifest


def test_checkpoint_written_inside_working_dir_is_moved_not_copied(tmp_path):
    work = tmp_path / "study"
    methods = {"fcn": functools.partial(h.train_fcn, out_dir=str(work / "scratch"))}
    study = make_study(methods, work, seeds=[0, 1])
    study.train()
    assert list((work / "scratch").iterdir()) == []
    assert [Path(p).name for p in study.checkpoints["fcn"]] == ["seed-0.pt", "seed-1.pt"]


def test_directory_checkpoints_are_copied_whole(tmp_path):
    def train_dir(seed):
        folder = tmp_path / f"ckpt-{seed}"
        folder.mkdir(exist_ok=True)
        torch.manual_seed(seed)
        torch.save(h.TinyFCN(), folder / "model.pt")
        return folder

    study = make_study(
        {"fcn": train_dir, "fcn2": train_dir},
        tmp_path / "study",
        load_fn=lambda p: h.load(os.path.join(p, "model.pt")),
        seeds=[0, 1],
    )
    result = study.run()
    assert study.checkpoints["fcn"][1].endswith(os.path.join("checkpoints", "fcn", "seed-1"))
    assert os.path.isfile(os.path.join(study.checkpoints["fcn"][1], "model.pt"))
    np.testing.assert_array_equal(result.data["miou"].values[0], result.data["miou"].values[1])


class _LoadWatch:
    """A load_fn that records, at each load, how many loaded models are still alive."""

    def __init__(self):
        self.alive: "weakref.WeakSet[nn.Module]" = weakref.WeakSet()
        self.most_alive = []

    def __call__(self, path):
        self.most_alive.append(len(self.alive))
        model = h.load(path)
        self.alive.add(model)
        return model


class _CountedPasses(list):
    """Data that counts the passes taken over it."""

    passes = 0

    def __iter__(self):
        self.passes += 1
        return super().__iter__()


def test_evaluation_holds_one_model_at_a_time(tmp_path, monkeypatch):
    # a group budget below one checkpoint: every model is evaluated alone
    monkeypatch.setattr(importlib.import_module("mushin.evaluation.compare"), "DEFAULT_GROUP_BYTES", 1)
    load = _LoadWatch()
    study = make_study(seg_methods(tmp_path, tmp_path / "log"), tmp_path / "study", load_fn=load)
    study.run()
    assert len(load.most_alive) == 6
    assert max(load.most_alive) == 0  # the previous model is gone before the next one loads


def test_evaluation_loads_a_group_that_fits_the_budget_and_reads_the_data_once(tmp_path):
    load = _LoadWatch()
    study = make_study(seg_methods(tmp_path, tmp_path / "log"), tmp_path / "study", load_fn=load)
    study._data = _CountedPasses(study._data)
    study.run()
    assert load.most_alive == [0, 1, 2, 3, 4, 5]  # six small checkpoints: one group
    assert study._data.passes == 1


@pytest.mark.parametrize("from_checkpoints", [False, True], ids=["Study", "from_checkpoints"])
def test_group_bytes_makes_smaller_groups_with_the_same_result(tmp_path, from_checkpoints):
    methods = seg_methods(tmp_path, tmp_path / "log")
    load, data = _LoadWatch(), _CountedPasses(h.val_loader())
    trained = make_study(methods, tmp_path / "study", load_fn=load, data=data)
    default = trained.run()
    assert load.most_alive == [0, 1, 2, 3, 4, 5] and data.passes == 1  # the default budget: one group
    sizes = [os.path.getsize(p) for paths in trained.checkpoints.values() for p in paths]
    assert 3 * min(sizes) > 2 * max(sizes)  # so a budget of two checkpoints' bytes holds exactly two
    for group_bytes, most_alive, passes in [(2 * max(sizes), [0, 1, 0, 1, 0, 1], 3), (1, [0] * 6, 6)]:
        load, data = _LoadWatch(), _CountedPasses(h.val_loader())
        if from_checkpoints:
            study = Study.from_checkpoints(
                trained.checkpoints, load, data, task="segmentation", test="welch", num_classes=h.NUM_CLASSES,
                ignore_index=h.IGNORE_INDEX, seeds=[0, 1, 2], group_bytes=group_bytes,
            )
        else:  # the same working_dir: the runs are done, only evaluation repeats
            study = make_study(methods, tmp_path / "study", load_fn=load, data=data, group_bytes=group_bytes)
        result = study.run()
        assert load.most_alive == most_alive, group_bytes
        assert data.passes == passes, group_bytes
        assert_same_result(result, default)
    assert sum(calls(tmp_path / "log").values()) == 6  # each (method, seed) trained once


@pytest.mark.parametrize("group_bytes, error", [(0, ValueError), (-5, ValueError), (2.5, TypeError),
                                                (True, TypeError), ("4GB", TypeError)])
def test_group_bytes_must_be_a_positive_int(tmp_path, group_bytes, error):
    match = r"group_bytes must be a positive int \(parameter bytes per group\) or None, got "
    with pytest.raises(error, match=match):
        make_study({"a": h.return_none}, tmp_path / "study", group_bytes=group_bytes)
    with pytest.raises(error, match=match):
        Study.from_checkpoints({"a": [__file__]}, h.load, h.val_loader(), num_classes=3, group_bytes=group_bytes)


def test_evaluation_options_reach_compare(tmp_path):
    seen = []

    def predict(model, x):
        seen.append(x.shape[0])
        probs = model(x).softmax(dim=1)
        return probs.argmax(dim=1), probs

    study = make_study(
        seg_methods(tmp_path, tmp_path / "log"),
        tmp_path / "study",
        predict_fn=predict,
        alpha=0.01,
        correction="none",
        device="cpu",
    )
    result = study.run()
    assert len(seen) == 6 * 3  # 6 models x 3 batches
    assert result.settings["alpha"] == 0.01
    assert result.settings["correction"] == "none"
    assert result.settings["ignore_index"] == 255
    assert result.settings["num_classes"] == 21


# ----------------------------------------------------------------- resume --

CHILD = textwrap.dedent(
    """
    import functools, sys
    import _study_helpers as h
    from mushin import Study

    out, log, work = sys.argv[1:4]
    methods = {
        "fcn": functools.partial(h.train_fcn, out_dir=out, log=log),
        "deeplab": functools.partial(h.train_deeplab, out_dir=out, log=log),
    }
    Study(methods, load_fn=h.load, seeds=[0, 1, 2], data=h.val_loader(), task="segmentation",
          num_classes=h.NUM_CLASSES, ignore_index=h.IGNORE_INDEX, working_dir=work).run()
    """
)


def test_resume_after_sigkill_trains_only_what_is_missing(tmp_path):
    log = tmp_path / "calls.log"
    work = tmp_path / "study"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]))
    env[h.KILL_AT_ENV] = "deeplab:1"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "out"), str(log), str(work)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    # the manifest survived the kill: four runs done, the killed one left "started"
    manifest = json.loads((work / "manifest.json").read_text())
    status = {(n, s): r["status"] for n, runs in manifest["runs"].items() for s, r in runs.items()}
    assert status == {
        ("fcn", "0"): "done",
        ("fcn", "1"): "done",
        ("fcn", "2"): "done",
        ("deeplab", "0"): "done",
        ("deeplab", "1"): "started",
    }
    assert calls(log) == {"fcn:0": 1, "fcn:1": 1, "fcn:2": 1, "deeplab:0": 1, "deeplab:1": 1}

    resumed = make_study(seg_methods(tmp_path, log), work).run()
    assert calls(log) == {"fcn:0": 1, "fcn:1": 1, "fcn:2": 1, "deeplab:0": 1, "deeplab:1": 2, "deeplab:2": 1}

    clean_log = tmp_path / "clean.log"
    uninterrupted = make_study(seg_methods(tmp_path / "clean", clean_log), tmp_path / "clean-study").run()
    assert sum(calls(clean_log).values()) == 6
    assert_same_result(resumed, uninterrupted)


def test_second_run_trains_nothing(tmp_path):
    log = tmp_path / "calls.log"
    first = make_study(seg_methods(tmp_path, log), tmp_path / "study").run()
    second = make_study(seg_methods(tmp_path, log), tmp_path / "study").run()
    assert sum(calls(log).values()) == 6
    assert_same_result(first, second)


def test_changed_train_fn_code_is_reported(tmp_path):
    log = tmp_path / "calls.log"
    work = tmp_path / "study"
    out = str(tmp_path / "out")
    make_study({"fcn": lambda s: h.train_fcn(s, out_dir=out, log=str(log))}, work, seeds=[0, 1]).train()
    edited = {"fcn": lambda s: h.train_deeplab(s, out_dir=out, log=str(log))}
    with pytest.raises(StaleCheckpointError, match=r"'fcn' \(seeds \[0, 1\]\).*on_change='retrain'"):
        make_study(edited, work, seeds=[0, 1]).train()
    assert sum(calls(log).values()) == 2  # nothing trained by the refused run

    make_study(edited, work, seeds=[0, 1], on_change="reuse").train()
    assert sum(calls(log).values()) == 2
    make_study(edited, work, seeds=[0, 1]).train()  # the reused runs now carry the new fingerprint
    assert sum(calls(log).values()) == 2

    make_study({"fcn": lambda s: h.train_fcn(s, out_dir=out, log=str(log))}, work, seeds=[0, 1],
               on_change="retrain").train()
    assert calls(log) == {"fcn:0": 2, "fcn:1": 2}


def test_changed_partial_arguments_are_reported(tmp_path):
    work = tmp_path / "study"
    make_study({"fcn": functools.partial(h.train_fcn, out_dir=str(tmp_path / "a"))}, work, seeds=[0]).train()
    with pytest.raises(StaleCheckpointError):
        make_study({"fcn": functools.partial(h.train_fcn, out_dir=str(tmp_path / "b"))}, work, seeds=[0]).train()


def test_fingerprint_sees_code_closures_and_defaults():
    def factory(lr):
        def train_fn(seed):
            return (seed, lr)

        return train_fn

    assert train_fn_fingerprint(factory(0.1)) == train_fn_fingerprint(factory(0.1))
    assert train_fn_fingerprint(factory(0.1)) != train_fn_fingerprint(factory(0.2))
    a, b = (lambda s: s + 1), (lambda s: s + 2)  # one source line, two lambdas
    assert train_fn_fingerprint(a) != train_fn_fingerprint(b)
    assert train_fn_fingerprint(functools.partial(h.train_fcn, out_dir="x")) == train_fn_fingerprint(
        functools.partial(h.train_fcn, out_dir="x")
    )


def test_changed_seed_list_is_reported_and_only_new_seeds_train(tmp_path):
    log = tmp_path / "calls.log"
    work = tmp_path / "study"
    make_study(seg_methods(tmp_path, log), work, seeds=[0, 1]).train()
    with pytest.warns(UserWarning, match=r"seed list changed.*was \[0, 1\], now \[0, 1, 2\]"):
        result = make_study(seg_methods(tmp_path, log), work, seeds=[0, 1, 2]).run()
    assert calls(log) == {f"{n}:{s}": 1 for n in ("fcn", "deeplab") for s in (0, 1, 2)}
    assert result.data["seed"].values.tolist() == [0, 1, 2]


def test_rerun_forces_training_of_named_methods(tmp_path):
    log = tmp_path / "calls.log"
    work = tmp_path / "study"
    make_study(seg_methods(tmp_path, log), work).train()
    make_study(seg_methods(tmp_path, log), work, rerun=["deeplab"]).train()
    assert calls(log) == {"fcn:0": 1, "fcn:1": 1, "fcn:2": 1, "deeplab:0": 2, "deeplab:1": 2, "deeplab:2": 2}


def test_deleted_checkpoint_is_trained_again(tmp_path):
    log = tmp_path / "calls.log"
    work = tmp_path / "study"
    study = make_study(seg_methods(tmp_path, log), work)
    study.train()
    os.unlink(study.checkpoints["fcn"][1])
    with pytest.warns(UserWarning, match=r"\('fcn', 1\).*gone"):
        make_study(seg_methods(tmp_path, log), work).train()
    assert calls(log)["fcn:1"] == 2 and sum(calls(log).values()) == 7


def test_concurrent_study_in_same_working_dir_is_refused(tmp_path):
    work = tmp_path / "study"
    holder = make_study(seg_methods(tmp_path, tmp_path / "log"), work, seeds=[0])
    work.mkdir()
    with holder._lock():
        with pytest.raises(RuntimeError, match="another Study is running"):
            make_study(seg_methods(tmp_path, tmp_path / "log"), work, seeds=[0]).train()


# --------------------------------------------------------------- failures --


def test_on_error_record_trains_the_rest_then_raises(tmp_path):
    log = tmp_path / "calls.log"
    marker = tmp_path / "fail-seeds"
    marker.write_text("1")
    loads = []

    def load(path):
        loads.append(path)
        return h.load(path)

    methods = {
        "fcn": functools.partial(h.train_fcn, out_dir=str(tmp_path / "out"), log=str(log)),
        "flaky": functools.partial(
            h.train_fcn_unless_marked, out_dir=str(tmp_path / "out2"), log=str(log), marker=str(marker)
        ),
    }
    work = tmp_path / "study"
    study = make_study(methods, work, on_error="record", load_fn=load)
    with pytest.raises(IncompleteSweepError) as info:
        study.run()
    err = info.value
    assert err.failed == [("flaky", 1)]
    assert err.errors == {("flaky", 1): "RuntimeError: simulated divergence at seed 1"}
    assert "'flaky' seed 1: RuntimeError: simulated divergence at seed 1" in str(err)
    assert calls(log) == {"fcn:0": 1, "fcn:1": 1, "fcn:2": 1, "flaky:0": 1, "flaky:1": 1, "flaky:2": 1}
    assert loads == []  # no statistics on an incomplete study
    run = study.manifest["runs"]["flaky"]["1"]
    assert run["status"] == "failed" and run["checkpoint"] is None
    assert run["error"]["type"] == "RuntimeError"
    assert "train_fcn_unless_marked" in run["error"]["traceback"]
    assert study.checkpoints["flaky"][1] is None

    marker.write_text("")
    result = make_study(methods, work, on_error="record").run()
    assert calls(log)["flaky:1"] == 2 and sum(calls(log).values()) == 7
    assert result.methods == ["fcn", "flaky"]


def test_on_error_raise_stops_at_first_failure(tmp_path):
    log = tmp_path / "calls.log"
    marker = tmp_path / "fail-seeds"
    marker.write_text("0")
    methods = {
        "flaky": functools.partial(
            h.train_fcn_unless_marked, out_dir=str(tmp_path / "out"), log=str(log), marker=str(marker)
        ),
        "fcn": functools.partial(h.train_fcn, out_dir=str(tmp_path / "out"), log=str(log)),
    }
    study = make_study(methods, tmp_path / "study")
    with pytest.raises(RuntimeError, match="simulated divergence at seed 0") as info:
        study.run()
    assert any("method 'flaky', seed 0" in note for note in getattr(info.value, "__notes__", []))
    assert calls(log) == {"flaky:0": 1}
    assert study.manifest["runs"]["flaky"]["0"]["status"] == "failed"


@pytest.mark.parametrize(
    "train_fn, error, match",
    [
        (h.return_none, TypeError, r"method 'bad' for seed 1 returned None; it must return the path"),
        (h.return_missing_path, FileNotFoundError, r"method 'bad' for seed 1 returned '/nonexistent/.*', but no such"),
        (lambda seed: h.TinyFCN(), TypeError, r"method 'bad' for seed 1 returned a TinyFCN, not a path.*model itself"),
    ],
    ids=["none", "missing-path", "model-instead-of-path"],
)
def test_bad_train_fn_return_names_method_and_seed(tmp_path, train_fn, error, match):
    out = str(tmp_path / "out")
    methods = {
        "good": functools.partial(h.train_fcn, out_dir=out),
        "bad": lambda s: h.train_fcn(s, out_dir=out) if s == 0 else train_fn(s),
    }
    study = make_study(methods, tmp_path / "study", seeds=[0, 1], on_error="record")
    with pytest.raises(IncompleteSweepError) as info:
        study.train()
    assert info.value.failed == [("bad", 1)]
    with pytest.raises(error, match=match):
        make_study(methods, tmp_path / "study", seeds=[0, 1]).train()


@pytest.mark.parametrize(
    "loaded, match",
    [
        ({"weight": torch.zeros(1)}, r"load_fn returned a dict for method 'fcn', seed 1 .*state_dict"),
        (42, r"load_fn returned a int for method 'fcn', seed 1 .*callable such as a torch.nn.Module"),
    ],
    ids=["state-dict", "int"],
)
def test_load_fn_returning_no_model_names_method_and_seed(tmp_path, loaded, match):
    def load(path):
        return loaded if path.endswith("seed-1.pt") else h.load(path)

    study = make_study(seg_methods(tmp_path, tmp_path / "log"), tmp_path / "study", load_fn=load)
    with pytest.raises(TypeError, match=match):
        study.run()


def test_load_fn_failure_is_located(tmp_path):
    def load(path):
        raise OSError("disk on fire")

    study = make_study(seg_methods(tmp_path, tmp_path / "log"), tmp_path / "study", load_fn=load)
    with pytest.raises(OSError, match="disk on fire") as info:
        study.run()
    assert any("method 'fcn', seed 0" in note for note in getattr(info.value, "__notes__", []))


def test_evaluation_failure_is_located(tmp_path):
    def predict(model, x):
        return model(x)  # not a 2-tuple

    study = make_study(seg_methods(tmp_path, tmp_path / "log"), tmp_path / "study", predict_fn=predict)
    with pytest.raises(TypeError, match="2-tuple") as info:
        study.run()
    assert any("while evaluating method 'fcn', seed 0" in n for n in getattr(info.value, "__notes__", []))


# -------------------------------------------------------------- bad input --

GOOD = dict(load_fn=h.load, seeds=[0, 1], data=[(torch.zeros(1, 3, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long))],
            num_classes=21)


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"methods": {}}, TypeError, "non-empty dict"),
        ({"methods": [h.train_fcn]}, TypeError, "non-empty dict"),
        ({"methods": {"a": ["x.pt"]}}, TypeError, r"methods\['a'\] is a list.*Study.from_checkpoints"),
        ({"methods": {1: h.train_fcn}}, TypeError, "method names must be non-empty strings"),
        ({"seeds": []}, ValueError, "seeds is empty"),
        ({"seeds": [0, 1, 0]}, ValueError, r"seeds repeats \[0\]"),
        ({"seeds": [0, 1.5]}, TypeError, r"seeds\[1\] is 1.5"),
        ({"seeds": [True]}, TypeError, "seeds must be ints"),
        ({"seeds": 3}, TypeError, "seeds must be a list of ints"),
        ({"load_fn": "torch.load"}, TypeError, "load_fn must be callable"),
        ({"data": iter([])}, TypeError, "one-shot"),
        ({"num_classes": None}, ValueError, "needs num_classes"),
        ({"ignore_index": 2.5}, TypeError, "ignore_index must be an int"),
        ({"task": "depth-estimation"}, ValueError, "unknown task"),
        ({"test": "ttest"}, ValueError, "unknown test"),
        ({"correction": "sidak"}, ValueError, "unknown correction"),
        ({"alpha": 1.5}, ValueError, "alpha must be in"),
        ({"predict_fn": 3}, TypeError, "predict_fn must be callable"),
        ({"on_error": "ignore"}, ValueError, "on_error must be one of"),
        ({"on_change": "keep"}, ValueError, "on_change must be one of"),
        ({"rerun": ["vit"]}, ValueError, r"rerun names unknown method\(s\) \['vit'\]"),
        ({"executor": object()}, TypeError, "executor must be a concurrent.futures.Executor"),
        ({"progress": "yes"}, TypeError, "progress must be True, False or None"),
        ({"working_dir": 3}, TypeError, "working_dir must be a path"),
    ],
)
def test_bad_study_arguments_raise_before_any_work(tmp_path, monkeypatch, change, error, match):
    monkeypatch.chdir(tmp_path)
    options = dict(GOOD, methods={"a": h.return_none})
    options.update(change)
    methods = options.pop("methods")
    with pytest.raises(error, match=match):
        Study(methods, **options)
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------- from_checkpoints --


def test_from_checkpoints_equals_training_study(tmp_path):
    study = make_study(seg_methods(tmp_path, tmp_path / "log"), tmp_path / "study")
    trained = study.run()
    given = Study.from_checkpoints(
        checkpoints={name: [Path(p) for p in paths] for name, paths in study.checkpoints.items()},
        load_fn=lambda p: torch.load(p, weights_only=False),
        data=h.val_loader(),
        seeds=[0, 1, 2],
        task="segmentation",
        test="welch",  # as make_study
        num_classes=21,
        ignore_index=255,
    )
    assert given.working_dir is None and given.checkpoints == study.checkpoints
    assert_same_result(given.run(), trained)


def test_from_checkpoints_without_seeds_numbers_them(tmp_path):
    paths = [h.train_fcn(s, out_dir=str(tmp_path)) for s in (3, 4)]
    result = Study.from_checkpoints(
        checkpoints={"a": paths, "b": paths[::-1]}, load_fn=h.load, data=h.val_loader(), num_classes=21,
        ignore_index=255, task="segmentation",
    ).run()
    assert result.data["seed"].values.tolist() == [0, 1]


@pytest.mark.parametrize(
    "checkpoints, seeds, error, match",
    [
        ({"a": ["missing.pt"]}, None, FileNotFoundError, r"checkpoints\['a'\]\[0\]: 'missing.pt' does not exist"),
        ({"a": "x.pt"}, None, TypeError, r"checkpoints\['a'\] must be a list of paths"),
        ({"a": []}, None, ValueError, r"checkpoints\['a'\] is empty"),
        ({"a": [3]}, None, TypeError, r"checkpoints\['a'\]\[0\] is a int"),
        ({}, None, TypeError, "non-empty dict"),
        ({"a": ["EXISTS"]}, [0, 1], ValueError, r"checkpoints\['a'\] has 1 paths for 2 seeds"),
    ],
)
def test_from_checkpoints_bad_input(tmp_path, checkpoints, seeds, error, match):
    real = tmp_path / "m.pt"
    real.write_bytes(b"")
    checkpoints = {k: [str(real) if p == "EXISTS" else p for p in v] if isinstance(v, list) else v
                   for k, v in checkpoints.items()}
    with pytest.raises(error, match=match):
        Study.from_checkpoints(checkpoints, load_fn=h.load, data=h.val_loader(), seeds=seeds, num_classes=21)


# ---------------------------------------------------------------- manifest --


def test_write_json_atomic_crash_mid_write_keeps_old_manifest(tmp_path, monkeypatch):
    path = tmp_path / "manifest.json"
    write_json_atomic(path, {"version": 1})
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()
            return False

        def write(self, text):
            self.handle.write(text[: len(text) // 2])
            raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: HalfWriter(real_fdopen(fd, *a, **k)))
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(path, {"version": 2, "padding": "x" * 10000})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"version": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]  # temp file removed


def test_write_json_atomic_crash_before_rename_keeps_old_manifest(tmp_path, monkeypatch):
    path = tmp_path / "manifest.json"
    write_json_atomic(path, {"version": 1})

    def crash(*args):
        raise OSError("killed before rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        write_json_atomic(path, {"version": 2})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"version": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_unserialisable_manifest_never_touches_disk(tmp_path):
    path = tmp_path / "manifest.json"
    write_json_atomic(path, {"version": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"version": object()})
    assert json.loads(path.read_text()) == {"version": 1}


WRITER = textwrap.dedent(
    """
    import sys
    from mushin.study import write_json_atomic
    generation, i = int(sys.argv[2]), 0
    while True:
        write_json_atomic(sys.argv[1], {"generation": generation, "i": i, "runs": {str(k): {"status": "done", "pad": "x" * 200} for k in range(300)}})
        i += 1
    """
)


def test_manifest_stays_valid_json_when_writer_is_sigkilled(tmp_path):
    path = tmp_path / "manifest.json"
    rng = np.random.default_rng(7)
    last = (-1, -1)
    for generation in range(4):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(generation)])
        deadline = time.monotonic() + 30
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(float(rng.uniform(0.05, 0.3)))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        manifest = json.loads(path.read_text())  # never torn
        assert len(manifest["runs"]) == 300
        # each writer counts from 0 again: order by (writer, write)
        current = (manifest["generation"], manifest["i"])
        assert current >= last
        last = current


def test_corrupt_or_foreign_manifest_is_refused(tmp_path):
    work = tmp_path / "study"
    work.mkdir()
    (work / "manifest.json").write_text('{"hello": 1}')
    with pytest.raises(ValueError, match=r"study manifest .*manifest.json is damaged: it has no 'format' key"):
        make_study(seg_methods(tmp_path, tmp_path / "log"), work, seeds=[0]).train()
    (work / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"study manifest .*manifest.json is damaged: it is not valid JSON"):
        make_study(seg_methods(tmp_path, tmp_path / "log"), work, seeds=[0]).train()


# ---------------------------------------------------------------- progress --


@pytest.mark.filterwarnings("ignore:.*valid seed")  # one seed: no p-value
def test_progress_bars_show_when_asked(tmp_path, capsys):
    make_study(seg_methods(tmp_path, tmp_path / "log"), tmp_path / "study", seeds=[0], progress=True).run()
    err = capsys.readouterr().err
    assert "mushin: training" in err and "2/2" in err
    assert "mushin: evaluating" in err and "6/6" in err  # 2 models x 3 batches


@pytest.mark.filterwarnings("ignore:.*valid seed")  # one seed: no p-value
@pytest.mark.parametrize("progress", [None, False])
def test_progress_is_silent_off_a_terminal_or_when_disabled(tmp_path, capsys, progress):
    make_study(seg_methods(tmp_path, tmp_path / "log"), tmp_path / "study", seeds=[0], progress=progress).run()
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_leftovers_of_a_killed_write_are_removed(tmp_path):
    work = tmp_path / "study"
    (work / "checkpoints" / "fcn").mkdir(parents=True)
    stale = [work / ".manifest.json.x1.tmp", work / "checkpoints" / "fcn" / ".seed-0.pt.abc.tmp"]
    for path in stale:
        path.write_text("half")
    make_study(seg_methods(tmp_path, tmp_path / "log"), work, seeds=[0]).train()
    assert not any(path.exists() for path in stale)


def test_train_fn_returning_the_working_dir_is_refused(tmp_path):
    work = tmp_path / "study"
    study = make_study({"fcn": lambda seed: str(work)}, work, seeds=[0])
    with pytest.raises(ValueError, match="method 'fcn' for seed 0 returned .* contains the study's working_dir"):
        study.train()


def test_from_checkpoints_has_no_manifest(tmp_path):
    path = h.train_fcn(0, out_dir=str(tmp_path))
    study = Study.from_checkpoints({"a": [path]}, load_fn=h.load, data=h.val_loader(), num_classes=21)
    with pytest.raises(ValueError, match="has no manifest"):
        study.manifest


def test_study_passes_class_names_and_custom_battery_to_evaluation(tmp_path):
    from mushin.metrics.tasks import miou

    paths = {"a": [], "b": []}
    for seed in (0, 1, 2):
        for name in paths:
            torch.manual_seed(seed + (0 if name == "a" else 50))
            paths[name].append(str(tmp_path / f"{name}-{seed}.pt"))
            torch.save(torch.nn.Conv2d(3, 3, 1), paths[name][-1])
    data = [(torch.randn(2, 3, 8, 8), torch.randint(0, 3, (2, 8, 8))) for _ in range(2)]
    result = Study.from_checkpoints(
        checkpoints=paths, load_fn=lambda p: torch.load(p, weights_only=False), data=data,
        task="segmentation", num_classes=3, class_names=["sky", "road", "car"],
        metrics={"miou_only": miou},
    ).run()
    assert result.metrics == ["miou_only"]
    assert result.classes == ["sky", "road", "car"]


def test_paired_test_with_unequal_checkpoint_lists_fails_before_any_model_loads(tmp_path):
    loads = []
    paths = {"a": [], "b": []}
    for name, n in (("a", 3), ("b", 2)):
        for seed in range(n):
            paths[name].append(str(tmp_path / f"{name}-{seed}.pt"))
            torch.save(torch.nn.Conv2d(3, 3, 1), paths[name][-1])
    with pytest.raises(ValueError, match="ttest_rel"):
        Study.from_checkpoints(
            checkpoints=paths, load_fn=lambda p: loads.append(p),
            data=[(torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))],
            task="segmentation", num_classes=3, test="ttest_rel",
        )
    assert loads == []
