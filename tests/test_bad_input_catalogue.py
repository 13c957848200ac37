"""The bad-input catalogue: every case in ``tests/bad_inputs/cases_*.py`` is a
bad input that must raise a clear error, naming what was wrong, and leave
state and files as they were.

Each case runs in its own forked child process, so a crash (a segfault in
the C core, an abort) fails that case instead of taking the test run down.
One worker process imports torch and mushin once and forks a child per case;
the worker itself runs in a subprocess, so not even a crash of the worker can
take pytest with it.

Case format (a dict in a module's ``CASES`` list):

``id``     unique name
``setup``  source run first; the namespace holds ``np``, ``torch``, ``mushin``,
           ``_core``, ``warnings``, ``tmp`` (a fresh empty ``pathlib.Path``)
           and ``tree_digest(path)``
``call``   source that must raise
``error``  the exception class name expected (a subclass is fine)
``match``  regex that must occur in ``str(exception)``
``state``  optional expression, evaluated after ``setup`` and again after the
           failing ``call``; both values must be equal
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CASE_DIR = HERE / "bad_inputs"

WORKER = r'''
import builtins, hashlib, json, os, pathlib, re, sys, tempfile, traceback, warnings

import numpy as np
import torch

torch.set_num_threads(1)  # no intra-op pool may be running across fork()
import mushin
from mushin import _core

# Warm every lazy import (xarray, pandas, matplotlib, the stats engine) once
# here, so each forked child starts ready instead of importing them again.
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot
import pandas
import xarray
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _net = torch.nn.Conv2d(1, 2, 1)
    _warm = mushin.compare({"a": [_net, _net], "b": [_net, _net]}, [(torch.zeros(1, 1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))],
                           task="segmentation", num_classes=2, test="welch", progress=False)
    _warm.summary(); _warm.to_markdown(); repr(_warm)
# mushin imports these lazily, and xarray imports dask on its first array (2 s):
# once here, not in every forked child
import pandas, scipy, tqdm.auto, xarray
xarray.Dataset({'warm': ('x', np.zeros(1))})


def tree_digest(path):
    h = hashlib.sha256()
    path = pathlib.Path(path)
    for p in sorted(path.rglob("*")):
        h.update(str(p.relative_to(path)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def run_case(case, out):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="mushin-bad-"))
    ns = {"np": np, "torch": torch, "mushin": mushin, "_core": _core, "warnings": warnings,
          "tmp": tmp, "tree_digest": tree_digest, "pathlib": pathlib}
    result = {"id": case["id"]}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(case.get("setup") or "", ns)
            before = eval(case["state"], ns) if case.get("state") else None
            try:
                exec(case["call"], ns)
            except BaseException as exc:  # noqa: BLE001 - any exception is recorded
                names = [k.__name__ for k in type(exc).__mro__]
                result.update(raised=type(exc).__name__, mro=names, message=str(exc))
            else:
                result.update(raised=None)
            if case.get("state"):
                after = eval(case["state"], ns)
                result["state_same"] = bool(before == after)
                if not result["state_same"]:
                    result["state_diff"] = f"before={before!r:.300} after={after!r:.300}"
    except BaseException:  # noqa: BLE001 - a broken setup is reported, not hidden
        result["setup_error"] = traceback.format_exc(limit=3)
    out.write(json.dumps(result).encode() + b"\n")


for case in json.load(sys.stdin):  # the cases as the test module loaded them
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        with os.fdopen(w, "wb") as out:
            run_case(case, out)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if data:
        line = json.loads(data.decode())
    else:
        line = {"id": case["id"], "crashed": True,
                "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None}
    print("CASE " + json.dumps(line), flush=True)
'''


def _case_files():
    return sorted(CASE_DIR.glob("cases_*.py"))


def _load_cases():
    cases = []
    for path in _case_files():
        namespace: dict = {}
        # the case files import tests/bad_input_case.py; pytest puts tests/ on sys.path
        exec(compile(path.read_text(), str(path), "exec"), namespace)
        for case in namespace["CASES"]:
            cases.append(dict(case, file=path.name))
    return cases


CASES = _load_cases()


@pytest.fixture(scope="module")
def outcomes():
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.run(
        [sys.executable, "-c", WORKER],
        input=json.dumps(CASES),
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    got = {}
    for line in proc.stdout.splitlines():
        if line.startswith("CASE "):
            record = json.loads(line[5:])
            got[record["id"]] = record
    if proc.returncode != 0 and len(got) < len(CASES):
        pytest.fail(f"the catalogue worker died (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return got


def test_catalogue_is_large_and_ids_are_unique():
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert len(ids) >= 150, f"the catalogue holds {len(ids)} cases; the issue asks for at least 150"


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_bad_input_is_refused_clearly(case, outcomes):
    import re

    got = outcomes.get(case["id"])
    assert got is not None, "the worker produced no outcome for this case"
    assert not got.get("crashed"), f"the process crashed: {got}"
    assert "setup_error" not in got, f"setup failed:\n{got['setup_error']}"
    assert got["raised"] is not None, "the bad input was accepted without an error"
    assert case["error"] in got["mro"], f"raised {got['raised']}: {got['message']!r}, expected {case['error']}"
    assert re.search(case["match"], got["message"]), f"message {got['message']!r} does not match {case['match']!r}"
    if case.get("state"):
        assert got["state_same"], f"state changed: {got.get('state_diff')}"
