"""Command line: ``python -m mushin demo`` runs the demos and writes a report.

The demos ship with the package (``mushin.demos``), so the command works
after ``pip install`` as well as from a source checkout.  Each comparison is printed, plotted to
PNG (``plot``, ``plot_per_class``, ``plot_seeds``), saved with
``result.save`` and written into ``report.md`` as a markdown table, all
under the output folder (``./demo-output`` by default).

Examples
--------
::

    python -m mushin demo                 # all demos, full size
    python -m mushin demo --quick         # fewer seeds and epochs
    python -m mushin demo --out results/  # another output folder
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple

import torch
from torch.utils.data import DataLoader

from .demos import digits, segmentation, uncertainty
from .result import BenchmarkResult
from .result.plots import _pyplot
from .result.tables import _md_escape

# Class labels of the striped-shapes data set (mushin/demos/segmentation.py).
SHAPES_CLASSES = ["background", "h-stripes", "v-stripes", "checker"]


Demo = Tuple[str, str, str, Callable[[], Any]]  # key, title, description, run


def _demos(quick: bool) -> List[Demo]:
    demos: List[Demo] = []

    def guide() -> Any:
        return segmentation.run(DataLoader(segmentation.synthetic_masks(), batch_size=16))

    def shapes() -> Any:
        seeds = (0, 1, 2) if quick else (0, 1, 2, 3, 4)
        result, _seconds = segmentation.shapes_comparison(seeds=seeds, epochs=3 if quick else 4)
        return _named_classes(result, SHAPES_CLASSES)

    demos.append(
        (
            "guide",
            "The guide's example: two tiny models that differ only by seed",
            "Two 1x1-convolution segmentation models whose only difference is the "
            "initial seed; no significant difference is expected.",
            guide,
        )
    )
    demos.append(
        (
            "shapes",
            "Striped shapes: 1x1 conv vs 3x3 CNN",
            "Images of horizontally striped, vertically striped and checkered shapes on "
            "noise; telling them apart needs spatial context that a 1x1 convolution lacks. "
            "Shape boundaries are void (255) and ignored.",
            shapes,
        )
    )

    def digits_run() -> Any:
        seeds = (0, 1, 2) if quick else (0, 1, 2, 3, 4)
        result, _seconds = digits.run(budget=0.3 if quick else 1.0, seeds=seeds)
        return result

    demos.append(
        (
            "digits",
            "Handwritten digits: MLP vs small CNN",
            "scikit-learn's bundled 8x8 digits (30% held out); an MLP on the flattened "
            "pixels and a small CNN, each trained from every seed, compared with "
            "`task=\"classification\"`.",
            digits_run,
        )
    )
    return demos


def _named_classes(result: Any, names: Sequence[str]) -> Any:
    """``result`` with its class axis labelled by ``names`` (when the counts match)."""
    if len(result.classes) != len(names) or result.classes == list(names):
        return result
    per_class = result.per_class.dataset.assign_coords({"class": list(names)})
    return BenchmarkResult.from_parts(
        result.data, result.comparisons, result.settings, confusion=result.confusion, per_class=per_class
    )


def _per_class_metric(result: Any) -> str:
    """IoU for segmentation; recall (per-class accuracy) for everything else."""
    return "iou" if result.settings.get("task") == "segmentation" else "recall"


def _save_plots(result: Any, out: Path, key: str) -> List[Tuple[str, str]]:
    plt = _pyplot()
    written = []
    metric = _per_class_metric(result)
    views = [
        ("metrics", "Mean and 95% CI per metric", lambda: result.plot()),
        ("per_class", f"Per-class {metric}", lambda: result.plot_per_class(metric).figure),
        ("seeds", "Every seed's value", lambda: result.plot_seeds()),
    ]
    for view, caption, draw in views:
        fig = draw()
        name = f"{key}_{view}.png"
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        written.append((name, caption))
    return written


def _per_class_markdown(result: Any) -> str:
    if len(result.methods) < 2:
        return ""
    metric = _per_class_metric(result)
    table = result.per_class_comparisons(metric)
    lines = [
        f"| method | class | {metric} | reference {metric} | difference | p (FDR) |",
        "|:---|:---|---:|---:|---:|---:|",
    ]
    untested = False
    for row in table.to_dict("records"):
        mark = " †" if row["significant"] else ""
        p = row["p_corrected"]
        untested |= p != p
        lines.append(
            f"| {_md_escape(row['method'])} | {_md_escape(row['class'])} | {row['mean']:.3f} | "
            f"{row['reference_mean']:.3f} | {row['mean_diff']:+.3f}{mark} | "
            f"{'n/a' if p != p else f'{p:.2g}'} |"
        )
    ref = _md_escape(table.attrs["reference"])
    note = (
        " n/a: a method scored the same on every seed (or had fewer than two), so there is no test."
        if untested
        else ""
    )
    return (
        "\n".join(lines)
        + f"\n\nPer-class {metric} against {ref}; Benjamini-Hochberg FDR across classes; "
        f"† significant.{note}\n"
    )


def _uncertainty_section(out: Path) -> List[str]:
    """docs/uncertainty.md as a demo: a 3-seed pilot, its seed plan, the two-level
    interval of a 5-seed run and a CD diagram of four methods on five sets."""
    plt = _pyplot()
    print("== Uncertainty: a seed plan, a two-level interval, a CD diagram ==", flush=True)
    start = time.perf_counter()
    pilot = uncertainty.two_methods(seeds=3, per_image=False)
    plan = uncertainty.seed_plan(pilot)
    boot = uncertainty.two_methods(seeds=5).bootstrap("miou", n=10_000, levels=("seed", "image"), seed=0)
    gap = boot.table.query("term == 'difference'").iloc[0]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(boot.resamples["difference"].sel(pair=gap.method_a + " - " + gap.method_b), bins=60, color="#4c72b0")
    ax.axvline(0.0, color="black", lw=1)
    ax.axvspan(gap.ci_low, gap.ci_high, color="#dd8452", alpha=0.2, label="95% interval")
    ax.set_xlabel(f"mIoU({gap.method_a}) - mIoU({gap.method_b}), 10,000 two-level resamples")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "uncertainty_gap.png", dpi=100)
    plt.close(fig)
    ranking = uncertainty.many_sets()
    ax = ranking.plot_cd()
    ax.figure.savefig(out / "uncertainty_cd.png", dpi=100, bbox_inches="tight")
    plt.close(ax.figure)
    seconds = time.perf_counter() - start
    print(boot)
    print(ranking.friedman)
    print(f"({seconds:.1f} s)\n", flush=True)
    row = pilot.comparisons.query("metric == 'miou'").iloc[0]
    need = plan.iloc[0]
    return [
        "## Uncertainty: seeds, images and many methods",
        "",
        f"A 3-seed pilot of `new` against `baseline` (stand-in models, see docs/uncertainty.md): "
        f"mIoU gap {row.mean_diff:+.4f}, Welch p = {row.p_value:.3f}.  At that gap the t-test has "
        f"{need.power_now:.0%} power with 3 seeds; `seeds_needed` asks for {need.seeds_needed} per method "
        "for 80%.",
        "",
        "With 5 seeds, the two-level (seeds x images) bootstrap of the gap:",
        "",
        "```text",
        str(boot),
        "```",
        "",
        "![The resampled gap](uncertainty_gap.png)",
        "",
        f"Four methods on five validation sets: {ranking.friedman}.",
        "",
        "![Critical-difference diagram](uncertainty_cd.png)",
        "",
        f"Ran in {seconds:.1f} s.",
        "",
    ]


def run_demo(out: Path, quick: bool) -> Path:
    """Run every demo in ``mushin.demos``; return the path of the report."""
    # files only, no window: the report is read afterwards
    _pyplot().switch_backend("Agg")
    torch.set_num_threads(1)  # the demos' models are tiny: threads cost more than they bring
    demos = _demos(quick)
    out.mkdir(parents=True, exist_ok=True)
    report = ["# mushin demo report", ""]
    for key, title, description, run in demos:
        print(f"== {title} ==", flush=True)
        start = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - start
        print(result)
        print(f"({seconds:.1f} s)\n", flush=True)
        plots = _save_plots(result, out, key)
        saved = result.save(out / f"{key}-result")
        report += [f"## {title}", "", description, "", result.to_markdown(), ""]
        per_class = _per_class_markdown(result)
        if per_class:
            report += [per_class, ""]
        for name, caption in plots:
            report += [f"![{caption}]({name})", ""]
        report += [
            f"Ran in {seconds:.1f} s.  The whole result is saved in `{saved.name}/` "
            f"(`BenchmarkResult.load(\"{saved.name}\")`).",
            "",
        ]
    report += _uncertainty_section(out)
    path = out / "report.md"
    path.write_text("\n".join(report), encoding="utf-8")
    print(f"report: {path}")
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mushin", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser("demo", help="run the demos; write plots and a markdown report")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder (default: demo-output)")
    demo.add_argument("--quick", action="store_true", help="fewer seeds and epochs")
    args = parser.parse_args(argv)
    if args.command != "demo":
        parser.print_help()
        return 2
    run_demo(args.out, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
