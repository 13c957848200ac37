"""The notebook table (``BenchmarkResult._repr_html_``) as a real browser lays it out.

Headless Chromium loads a page holding the table, 800 px wide, twice: in a
light theme and in a dark one (light text on a dark background, as JupyterLab's
dark theme sets them).  A script in the page measures every cell with the
browser's own layout (the line boxes of its text) and writes the numbers into
the DOM, which ``--dump-dom`` hands back.  Debian: ``apt-get install chromium``.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import warnings

import pytest
import torch
from torch import nn

from mushin import BenchmarkResult, compare

NO_CHROMIUM = (
    "needs a Chromium binary (chromium, chromium-browser or google-chrome on PATH); `make test-slow` "
    "installs it when run as root on Debian, elsewhere: apt-get install chromium"
)
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)

WIDTH = 800

# Each cell's line boxes: the distinct tops of the rectangles its text is laid out in.
MEASURE = """
<script>
const cells = [];
for (const cell of document.querySelectorAll('.mushin-result td, .mushin-result th')) {
  const range = document.createRange();
  range.selectNodeContents(cell);
  const tops = new Set();
  for (const r of range.getClientRects()) { if (r.width > 0) tops.add(Math.round(r.bottom)); }
  cells.push({text: cell.textContent, lines: tops.size, height: cell.getBoundingClientRect().height});
}
const styled = [];
for (const el of document.querySelectorAll('.mushin-result, .mushin-result *')) {
  const s = getComputedStyle(el);
  styled.push({tag: el.tagName, color: s.color, background: s.backgroundColor, opacity: s.opacity});
}
const table = document.querySelector('.mushin-result table').getBoundingClientRect();
const out = document.createElement('pre');
out.id = 'measured';
out.textContent = JSON.stringify({cells, styled, tableRight: table.right, viewport: window.innerWidth,
                                  body: getComputedStyle(document.body).color});
document.body.appendChild(out);
</script>
"""

THEMES = {
    "light": "color: rgb(33, 33, 33); background: rgb(255, 255, 255);",
    "dark": "color: rgb(212, 212, 212); background: rgb(17, 17, 17);",
}


@pytest.fixture(scope="module")
def six_metric_result():
    """Three methods, three seeds, the six-metric classification battery, daggers included."""
    torch.manual_seed(0)
    weights = torch.randn(5, 20)
    data = []
    for _ in range(4):
        x = torch.randn(64, 20)
        data.append((x, (x @ weights.T + 2.0 * torch.randn(64, 5)).argmax(dim=1)))

    def model(noise: float, seed: int) -> nn.Module:
        g = torch.Generator().manual_seed(seed)
        layer = nn.Linear(20, 5)
        with torch.no_grad():
            layer.weight.copy_(weights + noise * torch.randn(5, 20, generator=g))
            layer.bias.zero_()
        return layer

    methods = {
        "resnet-baseline": [model(1.5, s) for s in range(3)],
        "resnet+mixup": [model(0.4, 10 + s) for s in range(3)],
        "resnet+cutmix": [model(3.0, 20 + s) for s in range(3)],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare(methods, data, task="classification", num_classes=5, test="welch", progress=False)


def _measure(page_html: str, tmp_path, name: str) -> dict:
    page = tmp_path / f"{name}.html"
    page.write_text(page_html, encoding="utf-8")
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--window-size={WIDTH},900", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    found = re.search(r'<pre id="measured">(.*?)</pre>', out.stdout, re.S)
    assert found, f"chromium wrote no measurements (rc {out.returncode}): {out.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def _page(table: str, theme: str) -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'></head>"
        f"<body style='margin: 8px; font: 14px sans-serif; {THEMES[theme]}'>{table}{MEASURE}</body></html>"
    )


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
@pytest.mark.parametrize("theme", sorted(THEMES))
def test_no_cell_wraps_at_800px_with_six_metrics(six_metric_result, tmp_path, theme):
    table = six_metric_result._repr_html_()
    assert len(six_metric_result.metrics) == 6
    assert "&dagger;" in table  # the widest cells, with a significance marker, are in it
    measured = _measure(_page(table, theme), tmp_path, theme)
    assert measured["viewport"] == WIDTH
    cells = measured["cells"]
    assert len(cells) == 4 * 7  # header + 3 methods, method column + 6 metrics
    wrapped = [c for c in cells if c["lines"] != 1]
    assert not wrapped, f"cells laid out on more than one line at {WIDTH} px: {wrapped}"
    one_line = min(c["height"] for c in cells)
    assert all(c["height"] < 1.5 * one_line for c in cells), cells
    # and the whole table fits the window, with no horizontal scrolling
    assert measured["tableRight"] <= WIDTH, measured["tableRight"]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_colours_follow_the_theme(six_metric_result, tmp_path):
    measured = _measure(_page(six_metric_result._repr_html_(), "dark"), tmp_path, "dark")
    # every element inherits the page's text colour (dimmed by opacity at most) ...
    assert {s["color"] for s in measured["styled"]} == {measured["body"]}
    # ... and paints no background of its own
    assert {s["background"] for s in measured["styled"]} == {"rgba(0, 0, 0, 0)"}
    assert all(float(s["opacity"]) >= 0.6 for s in measured["styled"])


# ------------------------------------------------- the markup itself (fast) --


def test_footnote_explains_every_mark_shown():
    conf = {
        "base": [[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]],
        "worse": [[[5, 5], [4, 6]], [[6, 4], [5, 5]], [[5, 5], [5, 5]]],
    }
    table = BenchmarkResult.from_confusion(conf)._repr_html_()
    assert "&dagger;</span>" in table  # worse differs from base
    assert (
        "&dagger; the difference from base is significant at &alpha; = 0.05 (Welch&#x27;s t-test, "
        "Holm correction; hover it for the corrected p-value); no mark: not shown to differ." in table
    )
    assert "&uarr; / &darr; higher / lower is better; bold: the best mean of each metric." in table
    assert "(n/a) the pair could not be tested" not in table  # no n/a cell, no n/a sentence
    flat = {"base": [[[5, 5], [5, 5]]] * 3, "flat": [[[6, 4], [4, 6]]] * 3}  # no variance on either side
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        untested = BenchmarkResult.from_confusion(flat)._repr_html_()
    assert "(n/a) the pair could not be tested (hover it for the reason)." in untested


def test_markup_sets_no_colour_no_background_and_no_wrapping_cell():
    conf = {"a": [[[9, 1], [1, 9]], [[8, 2], [1, 9]]], "b": [[[5, 5], [4, 6]], [[6, 4], [5, 5]]]}
    table = BenchmarkResult.from_confusion(conf)._repr_html_()
    styles = re.findall(r'style="([^"]*)"', table)
    assert styles and not [s for s in styles if "color" in s.replace("currentColor", "") or "background" in s]
    cells = re.findall(r"<t[dh] style=\"([^\"]*)\"", table)
    assert len(cells) == 3 * 6 and all("white-space:nowrap" in s for s in cells)
