"""Study training jobs on executors: ProcessPoolExecutor, job-like futures, and (slow) Dask, submitit and Ray."""
from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

import _study_helpers as h
from _study_helpers import assert_same_result, calls, make_study, seg_methods
from mushin import IncompleteSweepError, Study




@pytest.fixture(scope="module")
def in_process_result(tmp_path_factory):
    root = tmp_path_factory.mktemp("in-process")
    return make_study(seg_methods(root, root / "calls.log"), root / "study").run()


def check_executor_run(study: Study, log: Path, reference) -> None:
    result = study.run()
    assert calls(log) == {f"{n}:{s}": 1 for n in ("fcn", "deeplab") for s in (0, 1, 2)}
    assert all(run["status"] == "done" for runs in study.manifest["runs"].values() for run in runs.values())
    assert_same_result(result, reference)
    # and a second run over the same working_dir trains nothing
    study.run()
    assert sum(calls(log).values()) == 6


# ------------------------------------------------------- ProcessPoolExecutor --


def test_process_pool_matches_in_process(tmp_path, in_process_result):
    log = tmp_path / "calls.log"
    with ProcessPoolExecutor(2) as pool:
        study = make_study(seg_methods(tmp_path, log), tmp_path / "study", executor=pool)
        check_executor_run(study, log, in_process_result)


def test_process_pool_unpicklable_train_fn_names_the_method(tmp_path):
    log = tmp_path / "calls.log"
    methods = seg_methods(tmp_path, log)
    methods["deeplab"] = lambda seed: h.train_deeplab(seed, out_dir=str(tmp_path))
    with ProcessPoolExecutor(2) as pool:
        study = make_study(methods, tmp_path / "study", executor=pool)
        with pytest.raises(TypeError, match=r"method 'deeplab': the executor could not send its train_fn"):
            study.run()
    assert not log.exists()  # refused before any training


def test_process_pool_failures_come_back_with_worker_traceback(tmp_path):
    log = tmp_path / "calls.log"
    marker = tmp_path / "fail-seeds"
    marker.write_text("0 2")
    methods = {
        "fcn": functools.partial(h.train_fcn, out_dir=str(tmp_path / "out"), log=str(log)),
        "flaky": functools.partial(
            h.train_fcn_unless_marked, out_dir=str(tmp_path / "out"), log=str(log), marker=str(marker)
        ),
    }
    with ProcessPoolExecutor(2) as pool:
        study = make_study(methods, tmp_path / "study", executor=pool, on_error="record")
        with pytest.raises(IncompleteSweepError) as info:
            study.run()
        assert info.value.failed == [("flaky", 0), ("flaky", 2)]
        assert sum(calls(log).values()) == 6
        error = study.manifest["runs"]["flaky"]["2"]["error"]
        assert error["type"] == "RuntimeError"
        assert "train_fcn_unless_marked" in error["traceback"]

        raising = make_study(methods, tmp_path / "study", executor=pool)
        with pytest.raises(RuntimeError, match="simulated divergence at seed [02]") as info:
            raising.run()
        seed = str(info.value)[-1]  # whichever of the two parallel runs failed first
        notes = getattr(info.value, "__notes__", [])
        assert any(f"method 'flaky', seed {seed}" in note for note in notes)
        assert any("Traceback from the worker" in note for note in notes)


# ------------------------------------------------------------ job-like futures --


class _FinishedJob:
    """A submitit-style job: done() and result(), not a concurrent.futures.Future."""

    def __init__(self, fn):
        self._result = fn()

    def done(self) -> bool:
        return True

    def result(self):
        return self._result


class JobExecutor:
    def submit(self, fn, *args, **kwargs):
        return _FinishedJob(functools.partial(fn, *args, **kwargs))


def test_executor_returning_job_like_futures(tmp_path, in_process_result):
    log = tmp_path / "calls.log"
    study = make_study(seg_methods(tmp_path, log), tmp_path / "study", executor=JobExecutor())
    check_executor_run(study, log, in_process_result)


# ------------------------------------------------------------------ Dask --


@pytest.mark.slow  # starting two worker processes that import torch takes 20-40 s
def test_dask_local_cluster_matches_in_process(tmp_path, in_process_result):
    distributed = pytest.importorskip("distributed")
    log = tmp_path / "calls.log"
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        study = make_study(seg_methods(tmp_path, log), tmp_path / "study", executor=client.get_executor())
        check_executor_run(study, log, in_process_result)
        workers = {run["returned_path"] for runs in study.manifest["runs"].values() for run in runs.values()}
        assert len(workers) == 6

        lock = threading.Lock()  # cannot be pickled, even by cloudpickle
        unpicklable = {"locked": lambda seed: (lock, h.train_fcn(seed, out_dir=str(tmp_path)))[1]}
        with pytest.raises(TypeError, match=r"method 'locked': the executor could not send its train_fn"):
            make_study(unpicklable, tmp_path / "study2", executor=client.get_executor()).run()


# ------------------------------------------------------------ interruption --


def test_interrupt_cancels_queued_jobs_and_marks_them(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    log = tmp_path / "calls.log"

    def train_or_interrupt(seed):
        h._log_call(str(log), "fcn", seed)
        if seed == 0:
            raise KeyboardInterrupt
        return h.train_fcn(seed, out_dir=str(tmp_path / "out"))

    with ThreadPoolExecutor(1) as pool:
        study = make_study({"fcn": train_or_interrupt}, tmp_path / "study", executor=pool)
        with pytest.raises(KeyboardInterrupt):
            study.run()
    # seed 1 may already have been picked up by the worker thread; seed 2 was still
    # queued behind it and is cancelled
    assert calls(log)["fcn:0"] == 1 and calls(log)["fcn:2"] == 0
    assert [r["status"] for r in study.manifest["runs"]["fcn"].values()] == ["cancelled"] * 3


# ------------------------------------------------- submitit and Ray, as documented --

DOCS = Path(__file__).resolve().parent.parent / "docs" / "studies.md"
REPO = Path(__file__).resolve().parent.parent


def documented_block(marker: str) -> str:
    """The ```python block of docs/studies.md that contains ``marker``, as written."""
    blocks = []
    lines = DOCS.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            j = i + 1
            while lines[j].strip() != "```":
                j += 1
            blocks.append("\n".join(lines[i + 1:j]))
            i = j
        i += 1
    (block,) = [b for b in blocks if marker in b]
    return block


def run_documented_block(marker: str, tmp_path: Path, monkeypatch) -> tuple:
    """Run the docs block in tmp_path with the page's names bound to the test's
    one-thread training functions; return (its namespace, the calls log)."""
    import torch

    log = tmp_path / "calls.log"
    monkeypatch.chdir(tmp_path)
    # workers are new processes: they import mushin and the training helpers from here
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]))
    methods = seg_methods(tmp_path, log)
    namespace = {
        "__name__": "studies_md",
        "torch": torch,
        "Study": Study,
        "train_fcn": methods["fcn"],
        "train_deeplab": methods["deeplab"],
        "val_loader": h.val_loader(),
    }
    exec(compile(documented_block(marker), str(DOCS), "exec"), namespace)
    return namespace, log


def in_process_like_the_docs(tmp_path: Path):
    """The documented study's parameters (upstream's default test included), trained here."""
    root = tmp_path / "reference"
    return Study(seg_methods(root, root / "calls.log"), h.load, [0, 1, 2], h.val_loader(), task="segmentation",
                 num_classes=21, ignore_index=255, working_dir=root / "study").run()


def check_documented_run(namespace: dict, log: Path, tmp_path: Path) -> None:
    assert calls(log) == {f"{n}:{s}": 1 for n in ("fcn", "deeplab") for s in (0, 1, 2)}
    study = namespace["study"]
    assert all(run["status"] == "done" for runs in study.manifest["runs"].values() for run in runs.values())
    with pytest.warns(UserWarning, match="wilcoxon"):
        reference = in_process_like_the_docs(tmp_path)
    assert_same_result(namespace["result"], reference)


@pytest.mark.slow  # one new Python process per run, each importing torch
def test_submitit_documented_block_matches_in_process(tmp_path, monkeypatch):
    pytest.importorskip("submitit", reason="submitit is not installed: pip install 'mushin[scale]'")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)  # AutoExecutor must pick its local executor
    with pytest.warns(UserWarning, match="wilcoxon"):
        namespace, log = run_documented_block("submitit.AutoExecutor(", tmp_path, monkeypatch)
    assert namespace["executor"].cluster == "local"
    assert len(list((tmp_path / "slurm-logs").glob("*_result.pkl"))) == 6  # six jobs ran through submitit
    assert len(set(worker_pids(tmp_path / "calls.log"))) == 6 and os.getpid() not in worker_pids(tmp_path / "calls.log")
    check_documented_run(namespace, log, tmp_path)


@pytest.mark.slow  # starting a Ray cluster and its workers takes tens of seconds
def test_ray_documented_block_matches_in_process(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'mushin[scale]'")
    assert not ray.is_initialized()
    try:
        with pytest.warns(UserWarning, match="wilcoxon"):
            namespace, log = run_documented_block("class RayExecutor(", tmp_path, monkeypatch)
    finally:
        ray.shutdown()
    assert os.getpid() not in worker_pids(log)  # the runs were trained by Ray workers, not here
    check_documented_run(namespace, log, tmp_path)


def worker_pids(log: Path) -> list:
    return [int(line.split("@")[1]) for line in (log.with_suffix(".pids")).read_text().split()]
