"""Write, execute and store the example notebooks, and put their figures in docs/figures/.

The notebooks are generated from the cells below (nbformat), executed with
nbclient in a scratch folder, and saved with their outputs next to this
script.  Every PNG they draw is copied to ``docs/figures/`` (named after the
notebook and the figure's order), and, where Chromium is installed, the
notebook table of the digits result is photographed in a light and a dark
theme.  tests/test_notebooks.py executes the stored notebooks again.

Run (from the repository root; about a minute):

    python examples/notebooks/build_notebooks.py
"""
from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Tuple

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIGURES = ROOT / "docs" / "figures"
TIMEOUT = 600

Cells = List[Tuple[str, str]]  # ("md" | "code", source)

SEGMENTATION: Cells = [
    ("md", """# Segmentation: is model B really better than model A?

The segmentation guide (`docs/segmentation.md`), cell by cell: the guide's
runnable example, `ignore_index` for void pixels, a `predict_fn` for models
that return dicts, and a `Study` that trains per seed.  Tiny models and
synthetic images, so it runs on a CPU in well under a minute."""),
    ("code", """import tempfile

import torch
from torch import nn
from torch.utils.data import DataLoader

from mushin import BenchmarkResult, Study, compare
from mushin.demos.segmentation import striped_shapes, synthetic_masks

torch.manual_seed(0)


def _tiny_seg_model(in_channels: int, num_classes: int) -> nn.Module:
    \"\"\"The minimal segmentation model: a 1x1 convolution.\"\"\"
    return nn.Conv2d(in_channels, num_classes, kernel_size=1)


def _train(model: nn.Module, loader: DataLoader, epochs: int = 3, lr: float = 0.05) -> nn.Module:
    \"\"\"A few epochs of Adam on cross-entropy; void pixels (255) are ignored.\"\"\"
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss(ignore_index=255)
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y.long()).backward()
            opt.step()
    return model.eval()


# synthetic pixel masks: each pixel's class is a noisy linear function of its 3 channels
loader = DataLoader(synthetic_masks(n=64, size=16), batch_size=16)"""),
    ("md", """## The guide's runnable example

Two tiny models per seed: the same architecture, initialised from
different seeds.  `compare` streams the loader through all six models once
and tests the two methods across seeds."""),
    ("code", """def run(
    loader: DataLoader,
    *,
    in_channels: int = 3,
    num_classes: int = 4,
    seeds=(0, 1, 2),
) -> BenchmarkResult:
    \"\"\"Train two tiny segmentation models per seed, then compare.\"\"\"
    methods: dict[str, list[nn.Module]] = {"model_a": [], "model_b": []}
    for seed in seeds:
        torch.manual_seed(seed)
        methods["model_a"].append(
            _train(_tiny_seg_model(in_channels, num_classes), loader)
        )
        torch.manual_seed(seed + 100)
        methods["model_b"].append(
            _train(_tiny_seg_model(in_channels, num_classes), loader)
        )

    return compare(
        methods,
        data=loader,
        task="segmentation",
        num_classes=num_classes,
        test="welch",
    )


result = run(loader)
result"""),
    ("md", """The two "methods" differ only in their seed, so no difference should be
significant.  The comparisons table says the same per metric:"""),
    ("code", """result.comparisons[["metric", "method_a", "method_b", "mean_diff", "p_value", "p_corrected", "significant"]]"""),
    ("md", """## A real gap, with void labels ignored

Striped and checkered shapes on noise: telling the classes apart needs a
neighbourhood, which a 3x3 CNN has and a 1x1 convolution lacks.  Shape
boundaries are labelled 255 (void, as in PASCAL VOC) and excluded with
`ignore_index=255`."""),
    ("code", """train_loader = DataLoader(striped_shapes(64, seed=1), batch_size=16, shuffle=True,
                          generator=torch.Generator().manual_seed(0))
val_loader = DataLoader(striped_shapes(48, seed=2), batch_size=24)


def _small_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 4, 1))


methods = {"conv1x1": [], "cnn3x3": []}
for seed in range(4):
    torch.manual_seed(seed)
    methods["conv1x1"].append(_train(_tiny_seg_model(1, 4), train_loader, epochs=3, lr=0.05))
    torch.manual_seed(seed)
    methods["cnn3x3"].append(_train(_small_cnn(), train_loader, epochs=3, lr=0.01))

shapes = compare(methods, data=val_loader, task="segmentation", num_classes=4, ignore_index=255, test="welch")
shapes"""),
    ("code", """fig = shapes.plot()"""),
    ("md", """Per class: which classes does the CNN change?  (IoU per class, mean and
confidence interval over seeds.)"""),
    ("code", """ax = shapes.plot_per_class("iou")"""),
    ("md", """## Models that return dicts

torchvision's segmentation models return `{"out": logits}`.  A `predict_fn`
adapts them: it returns `(predictions, probabilities)`."""),
    ("code", """class DictOutput(nn.Module):
    \"\"\"Stands in for a torchvision segmentation model.\"\"\"

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        return {"out": self.body(x)}


def torchvision_seg_predict(model, x):
    \"\"\"Adapt a torchvision segmentation model (returns {"out": logits}).\"\"\"
    logits = model(x)["out"]
    probs = logits.softmax(dim=1)
    return probs.argmax(dim=1), probs


wrapped = compare(
    {"fcn": [DictOutput(m) for m in methods["conv1x1"]], "deeplab": [DictOutput(m) for m in methods["cnn3x3"]]},
    data=val_loader,
    task="segmentation",
    num_classes=4,
    ignore_index=255,
    predict_fn=torchvision_seg_predict,
    test="welch",
)
wrapped.summary().query("metric == 'miou'")"""),
    ("md", """## Training per seed with `Study`

`Study` calls a training function per (method, seed), keeps every
checkpoint, and compares them as `compare` does."""),
    ("code", """checkpoints = tempfile.mkdtemp()


def train_fcn(seed):
    torch.manual_seed(seed)
    model = _train(_tiny_seg_model(1, 4), train_loader, epochs=2, lr=0.05)
    path = f"{checkpoints}/fcn-{seed}.pt"
    torch.save(model, path)
    return path


def train_deeplab(seed):
    torch.manual_seed(seed)
    model = _train(_small_cnn(), train_loader, epochs=2, lr=0.01)
    path = f"{checkpoints}/deeplab-{seed}.pt"
    torch.save(model, path)
    return path


study = Study(
    methods={"fcn": train_fcn, "deeplab": train_deeplab},
    load_fn=lambda p: torch.load(p, weights_only=False),
    seeds=[0, 1, 2],
    data=val_loader,
    task="segmentation",
    num_classes=4,
    ignore_index=255,
    test="welch",
    working_dir=checkpoints,
)
print(study.run())"""),
]

DIGITS: Cells = [
    ("md", """# Classification: a small CNN against an MLP on handwritten digits

scikit-learn's 8x8 digits (bundled with scikit-learn, nothing to download),
a fixed stratified split, five seeds per method, a few epochs on the CPU.
The classification battery: accuracy, macro F1, precision, recall, AUROC and
calibration error (ECE)."""),
    ("code", """import torch
from torch.utils.data import DataLoader

from mushin import compare
from mushin.demos.digits import digits_split, mlp, small_cnn, train, verdict

torch.set_num_threads(1)  # tiny models: threads cost more than they bring
train_set, test_set = digits_split()
print(len(train_set), "training images,", len(test_set), "held out")"""),
    ("code", """methods = {"mlp": [], "cnn": []}
for seed in range(5):
    for name, build in (("mlp", mlp), ("cnn", small_cnn)):
        torch.manual_seed(seed)
        methods[name].append(train(build(), train_set, seed=seed, epochs=4))

result = compare(
    methods,
    data=DataLoader(test_set, batch_size=256),
    task="classification",
    num_classes=10,
    test="welch",
)
result"""),
    ("md", """Each cell is the mean over seeds ± the half-width of its confidence
interval; † marks a difference from the reference (`mlp`) that is
significant after the Holm correction.  The verdicts, one sentence each:"""),
    ("code", """for metric in ("accuracy", "auroc", "ece"):
    print(verdict(result, metric))"""),
    ("code", """fig = result.plot()"""),
    ("md", """Every seed's accuracy: the spread the test weighs the gap against."""),
    ("code", """ax = result.plot_seeds("accuracy")"""),
]

RESULTS: Cells = [
    ("md", """# Reading, exporting and gating a result

One comparison (the digits MLP and CNN, three seeds, two epochs), then
everything a `BenchmarkResult` gives: tables, data, files, another test on
the same scores, and the regression gates of `mushin.testing`."""),
    ("code", """import tempfile

import torch
from torch.utils.data import DataLoader

from mushin import BenchmarkResult, compare
from mushin.demos.digits import digits_split, mlp, small_cnn, train
from mushin.testing import assert_better, assert_not_worse

torch.set_num_threads(1)
train_set, test_set = digits_split()
methods = {"mlp": [], "cnn": []}
for seed in range(3):
    for name, build in (("mlp", mlp), ("cnn", small_cnn)):
        torch.manual_seed(seed)
        methods[name].append(train(build(), train_set, seed=seed, epochs=2))
result = compare(methods, data=DataLoader(test_set, batch_size=256), task="classification",
                 num_classes=10, test="welch")
print(result)"""),
    ("md", """## Reading it

`summary()` (mean and interval per method and metric), `comparisons` (one
row per metric and pair), `data` (per-seed values, an `xarray.Dataset`)
and `confusion` (the counts every metric comes from)."""),
    ("code", """result.summary()"""),
    ("code", """result.comparisons[["metric", "method_a", "method_b", "mean_diff", "effect_size", "p_value", "p_corrected", "significant"]]"""),
    ("code", """result.data["accuracy"].to_pandas()"""),
    ("code", """result.confusion.sel({"method": "cnn", "seed": 0}).to_pandas()  # a dict: sel's own `method` is another thing"""),
    ("md", """## Exporting it

Markdown and LaTeX tables for a paper or a README, a tidy long table, and a
folder of plain CSV and JSON that loads back bit for bit."""),
    ("code", """print(result.to_markdown())"""),
    ("code", """print(result.to_latex(caption="Digits, three seeds.", label="tab:digits"))"""),
    ("code", """result.to_dataframe().head()"""),
    ("code", """folder = tempfile.mkdtemp() + "/digits-result"
result.save(folder)
loaded = BenchmarkResult.load(folder)
print(loaded.data.identical(result.data), loaded.comparisons.equals(result.comparisons))"""),
    ("md", """## Another test on the same scores

No model runs again: `reanalyze` redoes the statistics, and
`from_confusion` rebuilds a result from the counts alone."""),
    ("code", """student = result.reanalyze(test="ttest_ind", correction="bonferroni")
student.comparisons[["metric", "p_value", "p_corrected", "significant"]]"""),
    ("code", """counts = {m: result.confusion.sel({"method": m}).values for m in result.methods}
rebuilt = BenchmarkResult.from_confusion(counts, task="classification", test="welch")
print(rebuilt.metrics)  # the metrics the counts give (AUROC and ECE need the scores)
print(bool((rebuilt.data["accuracy"] == result.data["accuracy"]).all()))"""),
    ("md", """## Gating it

A gate is a one-sided Welch test across seeds.  It returns the test when it
passes and raises an `AssertionError` that explains itself when it does not.
In a pytest suite, the `mushin_baseline` fixture gates a fresh result
against a stored baseline instead (see `docs/testing-plugin.md`)."""),
    ("code", """gate = assert_not_worse(result, "cnn", "mlp", "accuracy", margin=0.01)
print(f"passed: p = {gate.p_value:.3g}, difference {gate.mean_diff:+.4f} "
      f"in [{gate.ci_low:+.4f}, {gate.ci_high:+.4f}]")"""),
    ("code", """try:
    assert_better(result, "mlp", "cnn", "accuracy")
except AssertionError as failure:
    print(failure)"""),
]

NOTEBOOKS = {
    "01_segmentation_walkthrough": SEGMENTATION,
    "02_digits_classification": DIGITS,
    "03_results_export_gate": RESULTS,
}


def make(cells: Cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, source) in enumerate(cells):
        cell = nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source)
        cell["id"] = f"cell-{i:02d}"  # stable ids: a rebuild changes only what changed
        nb.cells.append(cell)
    return nb


def execute(nb: nbformat.NotebookNode, workdir: str) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel, in ``workdir``; raises on the first failing cell."""
    NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3", resources={"metadata": {"path": workdir}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timings: noise in a diff
    return nb


def figures(nb: nbformat.NotebookNode) -> List[bytes]:
    return [
        base64.b64decode(out["data"]["image/png"])
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if "image/png" in out.get("data", {})
    ]


def photograph_table(table_html: str, stem: str) -> None:
    """The notebook table as Chromium draws it, in a light and a dark theme."""
    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
    if chromium is None:
        print("chromium not found: table screenshots not refreshed")
        return
    themes = {"light": "color:#212121;background:#ffffff", "dark": "color:#d4d4d4;background:#111111"}
    with tempfile.TemporaryDirectory() as scratch:
        for theme, style in themes.items():
            page = Path(scratch, f"{theme}.html")
            page.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'></head>"
                            f"<body style='margin:8px;font:14px sans-serif;{style}'>{table_html}</body></html>")
            target = FIGURES / f"{stem}-{theme}.png"
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            "--window-size=800,190", f"--screenshot={target}", page.as_uri()],
                           check=True, capture_output=True, timeout=120)
            print("wrote", target.relative_to(ROOT))


def main() -> int:
    FIGURES.mkdir(parents=True, exist_ok=True)
    # the kernel imports this checkout's mushin, not another installed copy
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    for stem, cells in NOTEBOOKS.items():
        with tempfile.TemporaryDirectory() as workdir:
            nb = execute(make(cells), workdir)
        nbformat.write(nb, HERE / f"{stem}.ipynb")
        print("wrote", (HERE / f"{stem}.ipynb").relative_to(ROOT))
        for old in FIGURES.glob(f"{stem}-fig*.png"):
            old.unlink()
        for k, png in enumerate(figures(nb), start=1):
            (FIGURES / f"{stem}-fig{k}.png").write_bytes(png)
            print("wrote", (FIGURES / f"{stem}-fig{k}.png").relative_to(ROOT))
        if stem == "02_digits_classification":
            tables = [out["data"]["text/html"] for cell in nb.cells if cell.cell_type == "code"
                      for out in cell.outputs if "mushin-result" in out.get("data", {}).get("text/html", "")]
            photograph_table(tables[0], "notebook-table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
