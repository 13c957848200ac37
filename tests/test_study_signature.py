"""Study is called as upstream mushin-py 0.16.0's: same parameters, order, kinds and defaults.

Upstream's signatures are recorded below as data (upstream is never imported
here).  They were printed in the oracle venv, outside the repository, by::

    cd /tmp && /work/oracle-venv/bin/python -c "
    import inspect
    from mushin.study import Study
    for f in (Study, Study.from_checkpoints):
        print([(p.name, p.kind.name, p.default if p.default is not inspect.Parameter.empty
                else '<required>') for p in inspect.signature(f).parameters.values()])"
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import _study_helpers as h
from _study_helpers import assert_same_result, calls, make_study, seg_methods
from mushin import Study
from mushin.evaluation import EvalSpec
from synthetic_batches import classification_batches

REQUIRED = "<required>"
P, K = "POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY"

UPSTREAM_STUDY = [
    ("methods", P, REQUIRED), ("load_fn", P, REQUIRED), ("seeds", P, REQUIRED), ("data", P, REQUIRED),
    ("num_classes", K, None), ("task", K, "classification"), ("test", K, "wilcoxon"), ("alpha", K, 0.05),
    ("correction", K, "holm"), ("ignore_index", K, None), ("predict_fn", K, None), ("metrics", K, None),
    ("prob_metrics", K, None), ("working_dir", K, None), ("on_error", K, "raise"), ("resume", K, False),
    ("capture_env", K, False),
]
UPSTREAM_FROM_CHECKPOINTS = [
    ("checkpoints", P, REQUIRED), ("load_fn", P, REQUIRED), ("data", P, REQUIRED),
    ("num_classes", K, None), ("task", K, "classification"), ("test", K, "wilcoxon"), ("alpha", K, 0.05),
    ("correction", K, "holm"), ("ignore_index", K, None), ("predict_fn", K, None), ("metrics", K, None),
    ("prob_metrics", K, None),
]
# mushin's own additions, after upstream's parameters and keyword-only
OURS_STUDY = ["device", "class_names", "spec", "on_change", "rerun", "executor", "progress", "group_bytes"]
OURS_FROM_CHECKPOINTS = ["seeds", "device", "class_names", "spec", "progress", "group_bytes"]


def _described(fn):
    return [
        (p.name, p.kind.name, REQUIRED if p.default is inspect.Parameter.empty else p.default)
        for p in inspect.signature(fn).parameters.values()
    ]


@pytest.mark.parametrize(
    "fn, upstream, ours",
    [(Study, UPSTREAM_STUDY, OURS_STUDY), (Study.from_checkpoints, UPSTREAM_FROM_CHECKPOINTS, OURS_FROM_CHECKPOINTS)],
    ids=["Study", "Study.from_checkpoints"],
)
def test_signature_starts_with_upstreams_and_adds_keyword_only(fn, upstream, ours):
    described = _described(fn)
    assert described[: len(upstream)] == upstream
    # the defaults compare by type too: 0.05 is a float, False a bool
    assert [type(d) for _, _, d in described[: len(upstream)]] == [type(d) for _, _, d in upstream]
    extra = described[len(upstream):]
    assert [name for name, _, _ in extra] == ours
    assert all(kind == K for _, kind, _ in extra)


def test_run_takes_no_arguments_as_upstreams():
    assert list(inspect.signature(Study.run).parameters) == ["self"]


# ------------------------------------------------------ positional calls --


def test_study_called_by_position_as_upstream(tmp_path):
    log = tmp_path / "calls.log"
    by_keyword = make_study(seg_methods(tmp_path, log), tmp_path / "study")
    by_position = Study(
        seg_methods(tmp_path, log), h.load, [0, 1, 2], h.val_loader(),
        task="segmentation", test="welch", num_classes=21, ignore_index=255, working_dir=tmp_path / "study",
    )
    first = by_keyword.run()
    assert_same_result(by_position.run(), first)
    assert sum(calls(log).values()) == 6  # the second study reused the first one's runs


def test_from_checkpoints_called_by_position_as_upstream(tmp_path):
    study = make_study(seg_methods(tmp_path, tmp_path / "log"), tmp_path / "study")
    trained = study.run()
    given = Study.from_checkpoints(
        study.checkpoints, h.load, h.val_loader(), task="segmentation", test="welch", num_classes=21,
        ignore_index=255, seeds=[0, 1, 2],
    )
    assert_same_result(given.run(), trained)


def test_defaults_are_upstreams_classification_and_wilcoxon(tmp_path):
    paths = {"a": [], "b": []}
    for seed in range(3):
        for name, width in (("a", 4), ("b", 4)):
            torch.manual_seed(seed + (0 if name == "a" else 10))
            paths[name].append(str(tmp_path / f"{name}-{seed}.pt"))
            torch.save(torch.nn.Linear(width, 3), paths[name][-1])
    data = classification_batches(2, 8, 4, 3, seed=0)
    with pytest.warns(UserWarning, match="wilcoxon"):  # 3 seeds: the underpowered warning
        result = Study.from_checkpoints(paths, h.load, data, num_classes=3).run()
    assert result.settings["task"] == "classification"
    assert result.settings["test"] == "wilcoxon"
    assert list(result.metrics) == ["accuracy", "f1", "precision", "recall", "auroc", "ece"]


# ------------------------------------------------------------------ spec= --


def test_spec_gives_the_same_result_as_the_parameters(tmp_path):
    log = tmp_path / "calls.log"
    spec = EvalSpec(task="segmentation", num_classes=21, ignore_index=255, test="welch", alpha=0.01,
                    correction="bonferroni")
    one_by_one = make_study(seg_methods(tmp_path, log), tmp_path / "study", alpha=0.01,
                            correction="bonferroni").run()
    with_spec = Study(seg_methods(tmp_path, log), h.load, [0, 1, 2], h.val_loader(), spec=spec,
                      working_dir=tmp_path / "study").run()
    assert_same_result(with_spec, one_by_one)
    assert with_spec.settings["alpha"] == 0.01 and with_spec.settings["correction"] == "bonferroni"
    paths = {name: [p for p in ps] for name, ps in make_study(seg_methods(tmp_path, log),
                                                                tmp_path / "study").checkpoints.items()}
    given = Study.from_checkpoints(paths, h.load, h.val_loader(), spec=spec, seeds=[0, 1, 2]).run()
    assert_same_result(given, one_by_one)


@pytest.mark.parametrize(
    "given, match",
    [
        ({"num_classes": 21}, r"spec= and num_classes= were both given"),
        ({"test": "welch", "alpha": 0.1}, r"spec= and test=, alpha= were both given"),
        ({"task": "segmentation"}, r"spec= and task= were both given"),
        ({"device": "cpu"}, r"spec= and device= were both given"),
        ({"class_names": ["a"] * 21}, r"spec= and class_names= were both given"),
    ],
)
def test_spec_and_individual_parameters_are_exclusive(tmp_path, given, match):
    spec = EvalSpec(task="segmentation", num_classes=21)
    with pytest.raises(TypeError, match=match):
        Study({"a": h.return_none}, h.load, [0, 1], h.val_loader(), spec=spec, working_dir=tmp_path / "s", **given)
    with pytest.raises(TypeError, match=match):
        Study.from_checkpoints({"a": [__file__]}, h.load, h.val_loader(), spec=spec, **given)
    assert not (tmp_path / "s").exists()


def test_spec_must_be_an_evalspec(tmp_path):
    with pytest.raises(TypeError, match="spec must be a mushin.evaluation.EvalSpec, got dict"):
        Study({"a": h.return_none}, h.load, [0, 1], h.val_loader(), spec={"task": "segmentation"})


def test_spec_design_is_checked_for_paired_tests(tmp_path):
    paths = {"a": [__file__] * 3, "b": [__file__] * 2}
    with pytest.raises(ValueError, match="ttest_rel"):
        Study.from_checkpoints(paths, h.load, h.val_loader(),
                               spec=EvalSpec(task="segmentation", num_classes=21, test="ttest_rel"))


# ---------------------------------------------------------------- resume= --


@pytest.mark.parametrize("resume", [False, True])
def test_resume_either_way_reuses_completed_runs(tmp_path, resume):
    log = tmp_path / "calls.log"
    first = make_study(seg_methods(tmp_path, log), tmp_path / "study").run()
    again = make_study(seg_methods(tmp_path, log), tmp_path / "study", resume=resume).run()
    assert sum(calls(log).values()) == 6
    assert_same_result(first, again)


@pytest.mark.parametrize("name", ["resume", "capture_env"])
def test_resume_and_capture_env_must_be_bools(tmp_path, name):
    with pytest.raises(TypeError, match=f"{name} must be True or False, got 'yes'"):
        make_study(seg_methods(tmp_path, tmp_path / "log"), tmp_path / "study", **{name: "yes"})
    assert not (tmp_path / "study").exists()
    make_study(seg_methods(tmp_path, tmp_path / "log"), tmp_path / "study", **{name: np.bool_(True)})
