"""Run the scenarios of tests/_upstream_study_scenario.py with upstream mushin-py 0.16.0.

Not a test and never imported by one: it is the script that produced the
answers recorded in tests/test_study_upstream.py.  Run it with the oracle
venv, outside the repository (so that ``import mushin`` is upstream's):

    cd /tmp && /work/oracle-venv/bin/python <repo>/tests/upstream_study_oracle.py /tmp/upstream_study.json

Each scenario calls ``Study`` the way upstream's guide does.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # the scenario module; the repository root stays off the path

import _upstream_study_scenario as sc  # noqa: E402
import mushin  # noqa: E402
from mushin.study import Study  # noqa: E402

assert "site-packages" in mushin.__file__, f"not upstream's mushin: {mushin.__file__}"


def methods(train, kinds, out):
    return {kind: functools.partial(train, kind, out_dir=out) for kind in kinds}


def describe(result) -> dict:
    data = result.data
    return {
        "methods": data["method"].values.tolist(),
        "seeds": [int(s) for s in data["seed"].values.tolist()],
        "variables": list(data.data_vars),
        "values": {name: data[name].values.tolist() for name in data.data_vars},
        "columns": list(result.comparisons.columns),
        "comparisons": json.loads(result.comparisons.to_json(orient="records")),
    }


def run(name: str, make) -> dict:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = describe(make().run())
        except Exception as exc:  # noqa: BLE001 - recorded as the scenario's answer
            out = {"raised": type(exc).__name__, "bases": [c.__name__ for c in type(exc).__mro__[1:3]]}
    # hydra and lightning chatter is not part of the answer
    out["warnings"] = [
        {"category": w.category.__name__, "message": str(w.message)}
        for w in caught
        if w.category is UserWarning and "mushin" in (w.filename or "")
    ]
    return out


def main() -> dict:
    tmp = tempfile.mkdtemp()
    data = sc.classification_data(48, seed=7)
    seg_data = sc.segmentation_data(seed=11)
    answers = {}
    answers["classification_defaults_6_seeds"] = run("cls6", lambda: Study(
        methods(sc.train_classifier, ["linear", "mlp"], f"{tmp}/c6"), sc.load, [0, 1, 2, 3, 4, 5], data,
        num_classes=sc.N_CLASSES, working_dir=f"{tmp}/w-c6"))
    answers["classification_defaults_3_seeds"] = run("cls3", lambda: Study(
        methods(sc.train_classifier, ["linear", "mlp"], f"{tmp}/c3"), sc.load, [10, 11, 12], data,
        num_classes=sc.N_CLASSES, working_dir=f"{tmp}/w-c3"))
    checkpoints = {kind: [sc.train_classifier(kind, s, f"{tmp}/given") for s in range(5)] for kind in ("linear", "mlp")}
    answers["from_checkpoints_welch_bonferroni"] = run("given", lambda: Study.from_checkpoints(
        checkpoints, sc.load, data, num_classes=sc.N_CLASSES, test="welch", correction="bonferroni", alpha=0.1))
    answers["segmentation_ttest_rel"] = run("seg", lambda: Study(
        methods(sc.train_segmenter, ["pointwise", "spatial"], f"{tmp}/s"), sc.load, [0, 1, 2, 3], seg_data,
        task="segmentation", num_classes=sc.SEG_CLASSES, ignore_index=sc.SEG_VOID, test="ttest_rel",
        working_dir=f"{tmp}/w-s"))

    def failing(seed):
        if seed == 1:
            raise RuntimeError("diverged")
        return sc.train_classifier("mlp", seed, f"{tmp}/f")

    answers["on_error_nan"] = run("nan", lambda: Study(
        {"linear": functools.partial(sc.train_classifier, "linear", out_dir=f"{tmp}/f"), "mlp": failing},
        sc.load, [0, 1, 2], data, num_classes=sc.N_CLASSES, working_dir=f"{tmp}/w-f", on_error="nan"))
    return answers


if __name__ == "__main__":
    target = os.path.abspath(sys.argv[1])  # stdout carries hydra's log lines
    os.chdir(tempfile.mkdtemp())  # upstream's sweeps write hydra folders into the working directory
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(main(), handle, indent=1, sort_keys=True)
