"""Every public callable that upstream mushin-py 0.16.0 has takes the same parameters here.

Same names, in the same order, of the same kinds, with the same defaults;
mushin's own parameters may only follow them, keyword-only and with a
default, so that every upstream call binds the same way.  Annotations are
not compared (upstream writes ``int | None``, this package ``Optional[int]``).

UPSTREAM is data, recorded from the oracle virtual environment (upstream is
never imported here) with:

    cd /tmp && /work/oracle-venv/bin/python record_sigs.py

where record_sigs.py prints ``(name, kind, default)`` of every parameter of
``inspect.signature(obj)`` for the objects named below, taken from
``mushin.benchmark`` (and ``mushin.Study``) of ``mushin-py[eval]==0.16.0``.
"""
from __future__ import annotations

import inspect

import pytest

import mushin
import mushin.benchmark

POSITIONAL_OR_KEYWORD = inspect.Parameter.POSITIONAL_OR_KEYWORD
KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY
REQUIRED = inspect.Parameter.empty

UPSTREAM = {
    "compare": [("methods", POSITIONAL_OR_KEYWORD, REQUIRED), ("data", POSITIONAL_OR_KEYWORD, REQUIRED), ("task", POSITIONAL_OR_KEYWORD, "classification"), ("num_classes", KEYWORD_ONLY, None), ("predict_fn", KEYWORD_ONLY, None), ("metrics", KEYWORD_ONLY, None), ("prob_metrics", KEYWORD_ONLY, None), ("test", KEYWORD_ONLY, "wilcoxon"), ("alpha", KEYWORD_ONLY, 0.05), ("correction", KEYWORD_ONLY, "holm"), ("ignore_index", KEYWORD_ONLY, None), ("device", KEYWORD_ONLY, None)],  # noqa: E501
    "compare_methods": [("ds", POSITIONAL_OR_KEYWORD, REQUIRED), ("test", POSITIONAL_OR_KEYWORD, "wilcoxon"), ("alpha", POSITIONAL_OR_KEYWORD, 0.05), ("correction", POSITIONAL_OR_KEYWORD, "holm"), ("allow_incomplete", POSITIONAL_OR_KEYWORD, False)],  # noqa: E501
    "BenchmarkResult": [("data", POSITIONAL_OR_KEYWORD, REQUIRED), ("comparisons", POSITIONAL_OR_KEYWORD, REQUIRED), ("alpha", POSITIONAL_OR_KEYWORD, 0.05)],  # noqa: E501
    "BenchmarkResult.summary": [("self", POSITIONAL_OR_KEYWORD, REQUIRED), ("reference", POSITIONAL_OR_KEYWORD, None)],
    "Study": [("methods", POSITIONAL_OR_KEYWORD, REQUIRED), ("load_fn", POSITIONAL_OR_KEYWORD, REQUIRED), ("seeds", POSITIONAL_OR_KEYWORD, REQUIRED), ("data", POSITIONAL_OR_KEYWORD, REQUIRED), ("num_classes", KEYWORD_ONLY, None), ("task", KEYWORD_ONLY, "classification"), ("test", KEYWORD_ONLY, "wilcoxon"), ("alpha", KEYWORD_ONLY, 0.05), ("correction", KEYWORD_ONLY, "holm"), ("ignore_index", KEYWORD_ONLY, None), ("predict_fn", KEYWORD_ONLY, None), ("metrics", KEYWORD_ONLY, None), ("prob_metrics", KEYWORD_ONLY, None), ("working_dir", KEYWORD_ONLY, None), ("on_error", KEYWORD_ONLY, "raise"), ("resume", KEYWORD_ONLY, False), ("capture_env", KEYWORD_ONLY, False)],  # noqa: E501
    "Study.from_checkpoints": [("checkpoints", POSITIONAL_OR_KEYWORD, REQUIRED), ("load_fn", POSITIONAL_OR_KEYWORD, REQUIRED), ("data", POSITIONAL_OR_KEYWORD, REQUIRED), ("num_classes", KEYWORD_ONLY, None), ("task", KEYWORD_ONLY, "classification"), ("test", KEYWORD_ONLY, "wilcoxon"), ("alpha", KEYWORD_ONLY, 0.05), ("correction", KEYWORD_ONLY, "holm"), ("ignore_index", KEYWORD_ONLY, None), ("predict_fn", KEYWORD_ONLY, None), ("metrics", KEYWORD_ONLY, None), ("prob_metrics", KEYWORD_ONLY, None)],  # noqa: E501
    "Study.run": [("self", POSITIONAL_OR_KEYWORD, REQUIRED)],
    "Task": [("battery", POSITIONAL_OR_KEYWORD, REQUIRED), ("predict_fn", POSITIONAL_OR_KEYWORD, REQUIRED), ("prob_metrics", POSITIONAL_OR_KEYWORD, frozenset()), ("requires_num_classes", POSITIONAL_OR_KEYWORD, True), ("description", POSITIONAL_OR_KEYWORD, ""), ("update_fn", POSITIONAL_OR_KEYWORD, None)],  # noqa: E501
    "register_task": [("name", POSITIONAL_OR_KEYWORD, REQUIRED), ("task", POSITIONAL_OR_KEYWORD, REQUIRED), ("overwrite", KEYWORD_ONLY, False)],  # noqa: E501
    "get_task": [("task", POSITIONAL_OR_KEYWORD, REQUIRED)],
    "list_tasks": [],
    "audio_battery": [("num_classes", POSITIONAL_OR_KEYWORD, None), ("ignore_index", POSITIONAL_OR_KEYWORD, None)],
    "classification_battery": [("num_classes", POSITIONAL_OR_KEYWORD, REQUIRED), ("ignore_index", POSITIONAL_OR_KEYWORD, None)],  # noqa: E501
    "detection_battery": [("num_classes", POSITIONAL_OR_KEYWORD, None), ("ignore_index", POSITIONAL_OR_KEYWORD, None)],
    "image_quality_battery": [("num_classes", POSITIONAL_OR_KEYWORD, None), ("ignore_index", POSITIONAL_OR_KEYWORD, None)],  # noqa: E501
    "regression_battery": [("num_classes", POSITIONAL_OR_KEYWORD, None), ("ignore_index", POSITIONAL_OR_KEYWORD, None)],
    "retrieval_battery": [("num_classes", POSITIONAL_OR_KEYWORD, None), ("ignore_index", POSITIONAL_OR_KEYWORD, None)],
    "segmentation_battery": [("num_classes", POSITIONAL_OR_KEYWORD, REQUIRED), ("ignore_index", POSITIONAL_OR_KEYWORD, None)],  # noqa: E501
}

# upstream's mushin.benchmark.__all__ (0.16.0), recorded the same way
UPSTREAM_BENCHMARK_NAMES = [
    "compare", "compare_methods", "IncompleteSweepError", "BenchmarkResult", "Task", "register_task",
    "get_task", "list_tasks", "audio_battery", "classification_battery", "segmentation_battery",
    "detection_battery", "regression_battery", "retrieval_battery", "image_quality_battery",
]


def _ours(name: str):
    owner, _, attribute = name.partition(".")
    obj = mushin.Study if owner == "Study" else getattr(mushin.benchmark, owner)
    return getattr(obj, attribute) if attribute else obj


def _described(parameter: inspect.Parameter) -> tuple:
    return (parameter.name, parameter.kind, parameter.default)


@pytest.mark.parametrize("name", list(UPSTREAM))
def test_signature_starts_with_upstreams_and_adds_only_keyword_only_parameters(name):
    ours = [_described(p) for p in inspect.signature(_ours(name)).parameters.values()]
    upstream = UPSTREAM[name]
    assert ours[: len(upstream)] == upstream, f"{name}: upstream's parameters are {upstream}, ours start {ours}"
    extras = inspect.signature(_ours(name)).parameters
    for extra in list(extras.values())[len(upstream):]:
        assert extra.kind == KEYWORD_ONLY and extra.default is not REQUIRED, (
            f"{name}: mushin's own parameter {extra.name!r} must come after upstream's, keyword-only, "
            "with a default, so that every upstream call binds as before"
        )


def test_the_benchmark_namespace_has_every_upstream_name_as_the_top_level_object():
    for name in UPSTREAM_BENCHMARK_NAMES:
        assert hasattr(mushin.benchmark, name), name
        if hasattr(mushin, name):
            assert getattr(mushin, name) is getattr(mushin.benchmark, name), name
    assert set(UPSTREAM_BENCHMARK_NAMES) <= set(mushin.benchmark.__all__)


def test_benchmark_result_fields_are_settable_as_upstreams_dataclass_fields():
    import numpy as np
    import xarray as xr

    ds = xr.Dataset({"acc": (("method", "seed"), [[0.7, 0.72, 0.71], [0.6, 0.62, 0.66]])},
                    coords={"method": ["a", "b"], "seed": [0, 1, 2]})
    table = mushin.benchmark.compare_methods(ds, test="welch")
    result = mushin.BenchmarkResult(ds, table)
    assert result.alpha == 0.05
    result.alpha = 0.1
    assert result.alpha == 0.1 and result.summary().attrs["confidence"] == pytest.approx(0.9)
    other = ds.copy()
    other["acc"].values[:] = np.array([[0.5, 0.5, 0.6], [0.4, 0.4, 0.45]])
    result.data = other
    assert result.data is other
    result.comparisons = table.iloc[:0]
    assert len(result.comparisons) == 0
    with pytest.raises(ValueError, match="alpha"):
        result.alpha = 1.5
