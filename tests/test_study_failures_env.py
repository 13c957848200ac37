"""Study(on_error="nan") leaves NaN cells named in mushin_failures; capture_env records each run's environment."""
from __future__ import annotations

import functools
import importlib.metadata
import json
import pickle
import platform
import shutil
import subprocess
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

import _study_helpers as h
from _study_helpers import calls, make_study, seg_methods
import mushin
from mushin import BenchmarkResult, IncompleteSweepError
from mushin.study.errors import failure_key
from mushin.study.provenance import git_state

REPO = Path(__file__).resolve().parent.parent


def flaky_methods(tmp_path: Path, log: Path, failing: str) -> dict:
    marker = tmp_path / "fail-seeds"
    marker.write_text(failing)
    return {
        "fcn": functools.partial(h.train_fcn, out_dir=str(tmp_path / "out"), log=str(log)),
        "flaky": functools.partial(
            h.train_fcn_unless_marked, out_dir=str(tmp_path / "out2"), log=str(log), marker=str(marker)
        ),
    }


# ------------------------------------------------------------ on_error="nan" --


def test_on_error_nan_evaluates_completed_runs_and_names_the_failed_ones(tmp_path):
    log = tmp_path / "calls.log"
    methods = flaky_methods(tmp_path, log, "1")
    work = tmp_path / "study"
    with pytest.warns(UserWarning, match=r"1 training run\(s\) failed: \['method=flaky,seed=1'\]"):
        with pytest.raises(IncompleteSweepError) as info:
            make_study(methods, work, on_error="nan").run()
    err = info.value
    assert err.failed == [("flaky", 1)]
    assert sum(calls(log).values()) == 6  # every other run was trained
    data = err.data
    assert data["method"].values.tolist() == ["fcn", "flaky"]
    assert data["seed"].values.tolist() == [0, 1, 2]
    assert json.loads(data.attrs["mushin_failures"]) == ["method=flaky,seed=1"]
    scores = [name for name, var in data.data_vars.items() if var.dims == ("method", "seed")]
    assert scores == ["miou", "dice", "pixel_acc", "precision", "recall"]
    for name in scores:
        values = data[name].values
        assert np.isnan(values[1, 1]), name
        assert np.isfinite(np.delete(values.ravel(), 4)).all(), name

    # fixed: the next run trains only the failed run, and the completed cells are what they were
    (tmp_path / "fail-seeds").write_text("")
    result = make_study(methods, work, on_error="nan").run()
    assert calls(log)["flaky:1"] == 2 and sum(calls(log).values()) == 7
    assert "mushin_failures" not in result.data.attrs
    for name in scores:
        expected = result.data[name].values.copy()
        expected[1, 1] = np.nan
        np.testing.assert_array_equal(data[name].values, expected)


def test_on_error_nan_data_travels_with_the_pickled_error(tmp_path):
    methods = flaky_methods(tmp_path, tmp_path / "log", "0 2")
    with pytest.warns(UserWarning, match="2 training run"), pytest.raises(IncompleteSweepError) as info:
        make_study(methods, tmp_path / "study", on_error="nan").run()
    again = pickle.loads(pickle.dumps(info.value))
    assert again.failed == [("flaky", 0), ("flaky", 2)]
    assert str(again) == str(info.value)
    assert json.loads(again.data.attrs["mushin_failures"]) == ["method=flaky,seed=0", "method=flaky,seed=2"]
    np.testing.assert_array_equal(again.data["miou"].values, info.value.data["miou"].values)


def test_on_error_nan_with_every_run_of_a_method_failing(tmp_path):
    methods = flaky_methods(tmp_path, tmp_path / "log", "0 1 2")
    with pytest.warns(UserWarning, match="3 training run"), pytest.raises(IncompleteSweepError) as info:
        make_study(methods, tmp_path / "study", on_error="nan").run()
    miou = info.value.data["miou"].values
    assert np.isfinite(miou[0]).all() and np.isnan(miou[1]).all()


def test_on_error_nan_when_no_run_completed(tmp_path):
    with pytest.warns(UserWarning, match="2 training run"), pytest.raises(IncompleteSweepError) as info:
        make_study({"a": h.return_none}, tmp_path / "study", seeds=[0, 1], on_error="nan").run()
    data = info.value.data
    assert sorted(data.data_vars) == sorted(["miou", "dice", "pixel_acc", "precision", "recall"])
    assert np.isnan(data["miou"].values).all() and data["miou"].shape == (1, 2)
    assert json.loads(data.attrs["mushin_failures"]) == ["method=a,seed=0", "method=a,seed=1"]


def test_train_alone_with_on_error_nan_evaluates_nothing(tmp_path):
    loads = []
    methods = flaky_methods(tmp_path, tmp_path / "log", "1")
    study = make_study(methods, tmp_path / "study", on_error="nan", load_fn=lambda p: loads.append(p))
    with pytest.raises(IncompleteSweepError) as info:
        study.train()
    assert info.value.data is None and loads == []


def test_failure_key_escapes_delimiters():
    # upstream's combination keys: sorted names, "," "=" "%" percent-encoded
    assert failure_key("deeplab", 3) == "method=deeplab,seed=3"
    assert failure_key("a=b,c%", -1) == "method=a%3Db%2Cc%25,seed=-1"


def test_incomplete_sweep_error_from_a_message_alone():
    err = IncompleteSweepError("2 run(s) failed")
    assert str(err) == "2 run(s) failed" and err.failed == [] and err.data is None
    assert str(pickle.loads(pickle.dumps(err))) == "2 run(s) failed"
    assert isinstance(err, RuntimeError)


# ---------------------------------------------------------------- capture_env --


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def test_capture_env_records_each_run_and_the_result_shows_it(tmp_path):
    study = make_study(seg_methods(tmp_path, tmp_path / "log"), tmp_path / "study", capture_env=True)
    result = study.run()
    manifest = study.manifest
    ids = {manifest["runs"][n][str(s)]["environment"] for n in ("fcn", "deeplab") for s in (0, 1, 2)}
    assert len(ids) == 1  # six runs, one process: one record, stored once
    (env_id,) = ids
    env = manifest["environments"][env_id]
    assert env["versions"] == {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "mushin": mushin.__version__,
        "numpy": np.__version__,
    }
    assert env["packages"]["torch"] == importlib.metadata.version("torch")
    assert env["packages"]["numpy"] == importlib.metadata.version("numpy")
    assert env["threads"]["torch"] == torch.get_num_threads()
    assert env["threads"]["mushin"] == mushin.get_num_threads()
    assert env["cpu"]["logical_cores"] is not None and env["cpu"]["model"]
    assert env["gpu"]["cuda"] == torch.version.cuda
    assert env["gpu"]["devices"] == [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    if shutil.which("git") and (REPO / ".git").exists():
        # the training code lives in tests/_study_helpers.py, inside this checkout
        assert env["git"]["commit"] == _git("rev-parse", "HEAD", cwd=REPO)
        assert env["git"]["root"] == _git("rev-parse", "--show-toplevel", cwd=REPO)
        assert env["git"]["dirty"] == bool(_git("status", "--porcelain", "--untracked-files=no", cwd=REPO))

    shown = json.loads(result.data.attrs["mushin_provenance"])
    assert shown["runs"] == {n: {str(s): env_id for s in (0, 1, 2)} for n in ("fcn", "deeplab")}
    assert shown["environments"] == {env_id: env}
    assert study.provenance == {(n, s): env for n in ("fcn", "deeplab") for s in (0, 1, 2)}
    loaded = BenchmarkResult.load(result.save(tmp_path / "saved"))
    assert json.loads(loaded.data.attrs["mushin_provenance"]) == shown


def test_without_capture_env_nothing_is_recorded(tmp_path):
    study = make_study(seg_methods(tmp_path, tmp_path / "log"), tmp_path / "study", seeds=[0, 1])
    result = study.run()
    assert "environments" not in study.manifest
    assert all("environment" not in run for runs in study.manifest["runs"].values() for run in runs.values())
    assert "mushin_provenance" not in result.data.attrs
    assert study.provenance == {(n, s): None for n in ("fcn", "deeplab") for s in (0, 1)}


def test_resumed_runs_keep_what_was_recorded_when_they_trained(tmp_path):
    log = tmp_path / "log"
    make_study(seg_methods(tmp_path, log), tmp_path / "study", seeds=[0, 1]).run()
    with pytest.warns(UserWarning, match="seed list changed"):
        study = make_study(seg_methods(tmp_path, log), tmp_path / "study", seeds=[0, 1, 2], capture_env=True)
        result = study.run()
    shown = json.loads(result.data.attrs["mushin_provenance"])["runs"]
    assert {n: [shown[n][s] is not None for s in ("0", "1", "2")] for n in shown} == {
        "fcn": [False, False, True], "deeplab": [False, False, True]
    }


def test_capture_env_on_a_process_pool_records_the_workers(tmp_path):
    with ProcessPoolExecutor(2) as pool:
        study = make_study(seg_methods(tmp_path, tmp_path / "log"), tmp_path / "study", seeds=[0, 1],
                           capture_env=True, executor=pool)
        study.run()
    records = study.provenance
    assert all(record is not None for record in records.values())
    assert {r["versions"]["torch"] for r in records.values()} == {torch.__version__}


def test_failed_runs_record_their_environment_too(tmp_path):
    methods = flaky_methods(tmp_path, tmp_path / "log", "1")
    study = make_study(methods, tmp_path / "study", capture_env=True, on_error="record")
    with pytest.raises(IncompleteSweepError):
        study.run()
    assert study.provenance[("flaky", 1)] is not None


def test_manifest_naming_an_unknown_environment_is_refused(tmp_path):
    study = make_study(seg_methods(tmp_path, tmp_path / "log"), tmp_path / "study", seeds=[0], capture_env=True)
    study.train()
    path = tmp_path / "study" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["runs"]["fcn"]["0"]["environment"] = "not-there"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"runs\['fcn'\]\['0'\]\['environment'\] is 'not-there'"):
        make_study(seg_methods(tmp_path, tmp_path / "log"), tmp_path / "study", seeds=[0]).train()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_state_commit_and_dirty_flag(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git("init", "-q", cwd=repo)
    (repo / "train.py").write_text("x = 1\n")
    _git("add", "train.py", cwd=repo)
    _git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "first", cwd=repo)
    head = _git("rev-parse", "HEAD", cwd=repo)
    assert git_state(str(repo)) == {"commit": head, "dirty": False, "root": str(repo.resolve())}
    (repo / "mushin-study").mkdir()
    (repo / "mushin-study" / "manifest.json").write_text("{}")  # untracked: not dirty
    assert git_state(str(repo))["dirty"] is False
    (repo / "train.py").write_text("x = 2\n")
    assert git_state(str(repo)) == {"commit": head, "dirty": True, "root": str(repo.resolve())}
    assert git_state(str(tmp_path / "elsewhere-not-a-dir"))["commit"] in (None, _git_head_or_none(Path.cwd()))


def _git_head_or_none(cwd: Path):
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None
