"""Run upstream mushin-py 0.16.0 on tests/_upstream_examples.py and print its answers as JSON.

Run only in the scratch virtual environment that holds upstream (never by
the test suite, which must not import upstream); its output is
tests/data/upstream-0.16.0-examples.json:

    cd /tmp && /work/oracle-venv/bin/python <repo>/tests/data/record_upstream_examples.py \\
        <repo>/tests > <repo>/tests/data/upstream-0.16.0-examples.json

Here ``mushin`` is upstream's package (mushin-py[eval]==0.16.0, torch 2.13.0,
torchmetrics 1.9.0).
"""
import json, sys, warnings
sys.path.insert(0, sys.argv[1])
import numpy as np
import torch
import torchmetrics
import _upstream_examples as ex
from mushin.benchmark import BenchmarkResult, IncompleteSweepError, compare, compare_methods

COLS = ["metric", "method_a", "method_b", "mean_diff", "effect_size", "p_value", "p_corrected", "significant"]

def table(df):
    return {"columns": list(df.columns), "rows": [[(None if isinstance(v, float) and np.isnan(v) else (bool(v) if isinstance(v, (bool, np.bool_)) else (float(v) if isinstance(v, (float, np.floating)) else v))) for v in row] for row in df.itertuples(index=False, name=None)]}

def data(ds):
    return {name: ds[name].values.tolist() for name in ds.data_vars}

def run(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [(w.category.__name__, str(w.message)) for w in caught]

rec = {}
methods, batches = ex.classifiers()
r, w = run(lambda: compare(methods, batches, num_classes=ex.NUM_CLASSES))
rec["classification_defaults"] = {"data": data(r.data), "comparisons": table(r.comparisons), "summary": table(r.summary()), "alpha": r.alpha, "warnings": w}
methods, batches = ex.classifiers()
r, w = run(lambda: compare(methods, batches, num_classes=ex.NUM_CLASSES, test="welch", alpha=0.1))
rec["classification_welch"] = {"data": data(r.data), "comparisons": table(r.comparisons), "summary": table(r.summary(reference="mlp")), "alpha": r.alpha, "warnings": w}
methods, batches = ex.segmenters()
r, w = run(lambda: compare(methods, batches, task="segmentation", num_classes=ex.NUM_CLASSES, ignore_index=255))
rec["segmentation_void"] = {"data": data(r.data), "comparisons": table(r.comparisons), "summary": table(r.summary()), "warnings": w}
methods, batches = ex.classifiers()
r, w = run(lambda: compare(methods, batches, metrics={"acc": torchmetrics.classification.MulticlassAccuracy(ex.NUM_CLASSES), "kappa": torchmetrics.classification.MulticlassCohenKappa(ex.NUM_CLASSES)}, test="ttest_rel"))
rec["custom_battery_without_num_classes"] = {"data": data(r.data), "comparisons": table(r.comparisons), "warnings": w}
ds = ex.sweep_scores()
for test in ["wilcoxon", "ttest_rel", "welch", "ttest_ind", "mannwhitney"]:
    for correction in ["holm", "bonferroni", "fdr_bh", "none"]:
        t, w = run(lambda: compare_methods(ds, test=test, correction=correction))
        rec[f"compare_methods_{test}_{correction}"] = {"comparisons": table(t), "warnings": w}
t, w = run(lambda: compare_methods(ds))
res = BenchmarkResult(ds, t)
rec["result_from_compare_methods"] = {"summary": table(res.summary()), "summary_new": table(res.summary(reference="new"))}
res.alpha = 0.2
rec["result_alpha_0.2"] = {"summary": table(res.summary())}
bad = ex.sweep_with_a_failed_run()
try:
    compare_methods(bad)
    rec["incomplete_raises"] = None
except IncompleteSweepError as e:
    rec["incomplete_raises"] = type(e).__name__
for test in ["wilcoxon", "welch"]:
    t, w = run(lambda: compare_methods(bad, test=test, allow_incomplete=True))
    rec[f"incomplete_allowed_{test}"] = {"comparisons": table(t), "warnings": w}
for index, ds in ex.generated_sweeps():
    for test in ["wilcoxon", "ttest_rel", "welch", "ttest_ind", "mannwhitney"]:
        t, w = run(lambda: compare_methods(ds, test=test, correction=["holm", "fdr_bh", "bonferroni", "none"][index % 4],
                                           allow_incomplete=True))
        rec[f"generated_{index}_{test}"] = {"comparisons": table(t), "warnings": w}
print(json.dumps(rec, separators=(",", ":")))
