"""Draw docs/img/cd_diagram.png and docs/img/performance_profiles.png.

The figures of docs/ranking.md, from the page's own example (five
evaluation sets, four methods, three seeds each):

    .venv/bin/python benchmarks/ranking_figures.py
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mushin import BenchmarkResult  # noqa: E402
from mushin.stats import aggregate, rank_methods  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "img"


def main() -> None:
    rng = np.random.default_rng(0)

    def evaluate(quality):
        conf = {}
        for name, q in quality.items():
            conf[name] = [[[800 + q + int(rng.integers(0, 60)), 200 - q], [150, 850]] for _ in range(3)]
        return BenchmarkResult.from_confusion(conf)

    results = {s: evaluate({"fcn": 0, "unet": 30, "deeplab": 60, "segformer": 70})
               for s in ["voc", "ade20k", "cityscapes", "coco", "camvid"]}
    OUT.mkdir(parents=True, exist_ok=True)
    ax = rank_methods(results, "miou").plot_cd()
    ax.figure.savefig(OUT / "cd_diagram.png", dpi=110, bbox_inches="tight")
    plt.close("all")
    ax = aggregate(results, "miou", reps=2000, seed=0).plot_profiles()
    ax.figure.savefig(OUT / "performance_profiles.png", dpi=110, bbox_inches="tight")
    print(f"wrote {OUT / 'cd_diagram.png'} and {OUT / 'performance_profiles.png'}")


if __name__ == "__main__":
    main()
