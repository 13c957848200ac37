"""`python -m mushin demo` and the pasteable examples in the results modules' docstrings."""
from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

import mushin.__main__ as cli  # noqa: E402
import mushin.result  # noqa: E402
import mushin.result.facts  # noqa: E402
import mushin.result.files  # noqa: E402
import mushin.result.loading  # noqa: E402
import mushin.result.per_class  # noqa: E402
import mushin.result.plots  # noqa: E402
import mushin.result.tables  # noqa: E402
import mushin.testing  # noqa: E402
from mushin import BenchmarkResult  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "module",
    [
        mushin.result, mushin.result.facts, mushin.result.tables, mushin.result.files,
        mushin.result.loading, mushin.result.per_class, mushin.result.plots, mushin.testing,
    ],
    ids=lambda m: m.__name__,
)
def test_docstring_examples_run(module):
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0


@pytest.mark.parametrize("name", ["per_class_scores", "BenchmarkResult.per_class_comparisons"])
def test_result_docstring_examples_run(name):
    obj = mushin.result
    for part in name.split("."):
        obj = getattr(obj, part)
    tests = doctest.DocTestFinder().find(obj, name, globs={})
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    assert runner.tries > 0 and runner.failures == 0


def _small_result():
    conf = {
        "conv": [[[9, 1, 0], [1, 8, 1], [0, 1, 9]], [[8, 2, 0], [1, 9, 0], [0, 2, 8]], [[9, 0, 1], [2, 8, 0], [1, 0, 9]]],
        "cnn": [[[5, 3, 2], [4, 4, 2], [2, 3, 5]], [[6, 2, 2], [3, 5, 2], [3, 2, 5]], [[5, 2, 3], [4, 5, 1], [2, 2, 6]]],
    }
    return BenchmarkResult.from_confusion(conf)


def test_demo_writes_plots_results_and_a_markdown_report(tmp_path, monkeypatch):
    result = _small_result()
    monkeypatch.setattr(cli, "_demos", lambda quick: [("toy", "A toy comparison", "Made by hand.", lambda: result)])
    monkeypatch.setattr(cli, "_uncertainty_section", lambda out: [])  # tested on its own below
    report = cli.run_demo(tmp_path / "out", quick=True)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "report.md", "toy-result", "toy_metrics.png", "toy_per_class.png", "toy_seeds.png",
    ]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = report.read_text()
    assert "## A toy comparison" in text
    assert result.to_markdown() in text
    for name in ("toy_metrics.png", "toy_per_class.png", "toy_seeds.png"):
        assert f"]({name})" in text
    assert "| method | class | iou | reference iou | difference | p (FDR) |" in text
    BenchmarkResult.load(out / "toy-result")  # a loadable result


def test_the_uncertainty_section_writes_its_plots_and_the_seed_plan(tmp_path):
    from mushin.demos import uncertainty

    lines = cli._uncertainty_section(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uncertainty_cd.png", "uncertainty_gap.png"]
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = "\n".join(lines)
    assert "](uncertainty_gap.png)" in text and "](uncertainty_cd.png)" in text
    # the plan it reports is the planner's, for the pilot it describes
    pilot = uncertainty.two_methods(seeds=3, per_image=False)
    need = uncertainty.seed_plan(pilot).iloc[0]
    assert f"`seeds_needed` asks for {need.seeds_needed} per method" in text


def test_cli_without_a_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_class_labels_of_the_shapes_demo_are_applied():
    result = _small_result()
    named = cli._named_classes(result, ["bg", "x", "y"])
    assert named.classes == ["bg", "x", "y"]
    assert cli._named_classes(result, ["bg", "x"]) is result  # wrong count: left alone


@pytest.mark.slow
def test_python_m_mushin_demo_quick(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mushin", "demo", "--quick", "--out", str(tmp_path / "demo")],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = {p.name for p in (tmp_path / "demo").iterdir()}
    assert {"report.md", "shapes_metrics.png", "shapes_per_class.png", "shapes_seeds.png",
            "uncertainty_gap.png", "uncertainty_cd.png"} <= names
    assert "Striped shapes" in (tmp_path / "demo" / "report.md").read_text()
