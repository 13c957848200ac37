"""Coverage of 95% intervals when the true gap is known: two-level bootstrap vs seed-only Welch.

A generative model of a segmentation evaluation in which both seeds and
images matter:

* every method m has a true pixel accuracy ``mu[m]`` (the population value:
  the mean over infinitely many seeds and images), so the true gap is
  ``mu[a] - mu[b]``;
* image i has a difficulty ``d[i] ~ N(0, sd_image)`` shared by every model,
  and a method-specific part ``e[m, i] ~ N(0, sd_interaction)`` (a method is
  better on some kinds of images than another);
* training seed s of method m shifts every image by ``u[m, s] ~ N(0, sd_seed)``;
* pixel noise: image i, scored by model (m, s), has ``correct ~
  Binomial(pixels, p)`` with ``p = mu[m] + d[i] + e[m, i] + u[m, s]``
  (clipped to [0.01, 0.99]; at the default settings the clip never binds).

Each simulated evaluation draws a fresh set of images and seeds, builds the
per-image TP/FP/FN counts, and asks whether each 95% interval contains the
truth: the two-level bootstrap (seeds and images, ``bootstrap_counts``) for
each method's score and for the gap, and, for contrast, the seed-only Welch
interval of the gap (what a t-test over per-seed scores gives).

Run:  python benchmarks/coverage_study.py [--evaluations 1000] [--seeds 5] [--images 200]
      [--resamples 1000] [--seed 0]
"""
from __future__ import annotations

import argparse
import time
from typing import Dict

import numpy as np

from mushin.stats import welch
from mushin.stats.bootstrap import bootstrap_counts

DEFAULTS = dict(
    mu=(0.62, 0.60),
    sd_image=0.06,
    sd_interaction=0.05,
    sd_seed=0.005,
    pixels=400,
)


def simulate_evaluation(rng, seeds, images, mu, sd_image, sd_interaction, sd_seed, pixels):
    """Per-image counts ``{method: (seeds, images, 2, 3)}`` of one evaluation.

    Class 0 is "correct", class 1 the rest: TP of class 0 = correct pixels,
    FN of class 0 (= FP of class 1) = the others, so pixel accuracy is the
    share of correct pixels.
    """
    difficulty = rng.normal(0.0, sd_image, images)
    counts = {}
    for m, mean in enumerate(mu):
        interaction = rng.normal(0.0, sd_interaction, images)
        offsets = rng.normal(0.0, sd_seed, seeds)
        p = np.clip(mean + difficulty[None, :] + interaction[None, :] + offsets[:, None], 0.01, 0.99)
        correct = rng.binomial(pixels, p)
        c = np.zeros((seeds, images, 2, 3), np.int64)
        c[:, :, 0, 0] = correct
        c[:, :, 0, 2] = pixels - correct
        c[:, :, 1, 1] = pixels - correct
        counts[f"m{m}"] = c
    return counts


def coverage(evaluations=1000, seeds=5, images=200, resamples=1000, seed=0, confidence=0.95, **model) -> Dict[str, float]:
    """Empirical coverage of each interval over ``evaluations`` simulated evaluations."""
    params = {**DEFAULTS, **model}
    mu = params["mu"]
    rng = np.random.default_rng(seed)
    hits = {"two-level: score m0": 0, "two-level: score m1": 0, "two-level: gap": 0, "seed-only Welch: gap": 0,
            "image-only bootstrap: gap": 0, "seed-only bootstrap: gap": 0}
    widths = {"two-level: gap": [], "seed-only Welch: gap": []}
    true_gap = mu[0] - mu[1]
    for k in range(evaluations):
        counts = simulate_evaluation(rng, seeds, images, **params)
        boot = bootstrap_counts(counts, "pixel_acc", n=resamples, seed=k, confidence=confidence).table
        score = boot[boot.term == "score"].set_index("method_a")
        gap = boot[boot.term == "difference"].iloc[0]
        hits["two-level: score m0"] += score.loc["m0", "ci_low"] <= mu[0] <= score.loc["m0", "ci_high"]
        hits["two-level: score m1"] += score.loc["m1", "ci_low"] <= mu[1] <= score.loc["m1", "ci_high"]
        hits["two-level: gap"] += gap.ci_low <= true_gap <= gap.ci_high
        widths["two-level: gap"].append(gap.ci_high - gap.ci_low)
        for levels, name in ((("image",), "image-only bootstrap: gap"), (("seed",), "seed-only bootstrap: gap")):
            g = bootstrap_counts(counts, "pixel_acc", n=resamples, levels=levels, seed=k, confidence=confidence).table
            g = g[g.term == "difference"].iloc[0]
            hits[name] += g.ci_low <= true_gap <= g.ci_high
        per_seed = {m: c[:, :, 0, 0].sum(axis=1) / (images * params["pixels"]) for m, c in counts.items()}
        w = welch(per_seed["m0"], per_seed["m1"], confidence=confidence)
        hits["seed-only Welch: gap"] += w.ci_low <= true_gap <= w.ci_high
        widths["seed-only Welch: gap"].append(w.ci_high - w.ci_low)
    out = {name: h / evaluations for name, h in hits.items()}
    out.update({f"median width, {name}": float(np.median(v)) for name, v in widths.items()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sd-seed", type=float, default=DEFAULTS["sd_seed"])
    parser.add_argument("--sd-interaction", type=float, default=DEFAULTS["sd_interaction"])
    args = parser.parse_args()
    t0 = time.perf_counter()
    result = coverage(args.evaluations, args.seeds, args.images, args.resamples, args.seed,
                      sd_seed=args.sd_seed, sd_interaction=args.sd_interaction)
    params = {**DEFAULTS, "sd_seed": args.sd_seed, "sd_interaction": args.sd_interaction}
    print(f"{args.evaluations} simulated evaluations: {args.seeds} seeds x {args.images} images x "
          f"{params['pixels']} pixels, true pixel accuracies {params['mu']}, sd image {params['sd_image']}, "
          f"sd method x image {params['sd_interaction']}, sd seed {params['sd_seed']}; "
          f"{args.resamples} resamples per interval")
    se = (0.95 * 0.05 / args.evaluations) ** 0.5
    for name, value in result.items():
        if name.startswith("median"):
            print(f"  {name:<38} {value:.4f}")
        else:
            print(f"  {name:<38} {value:6.1%} (Monte Carlo s.e. {se:.1%})")
    print(f"  ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
