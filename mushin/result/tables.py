"""Tables of a :class:`~mushin.BenchmarkResult`: notebook HTML, LaTeX and markdown.

Every table has one row per method and one column per metric.  A cell is the
mean over seeds ± the half-width of the Student-t confidence interval (level
``1 - alpha``); the best mean of each metric is bold (the smallest for a
metric that declares ``higher_is_better=False``, the largest for one that
declares ``True``, compared at the printed precision so ties are all bold); a
dagger (†) marks a method whose difference from the reference is significant
after the result's correction, and "(n/a)" one whose difference could not be
tested, with the reason in the caption.  A caption names the test, the
correction, alpha and the number of seeds.

A metric that declares no direction cannot be bolded: the tables raise a
``ValueError`` saying how to declare it, unless ``bold_best=False`` (no bold
anywhere) or ``bold_best=None`` (bold only where a direction is declared;
the notebook view uses this).

Examples
--------
>>> import numpy as np
>>> from mushin import BenchmarkResult
>>> conf = {"a": [[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]],
...         "b": [[[5, 5], [4, 6]], [[6, 4], [5, 5]], [[5, 5], [5, 5]]]}
>>> r = BenchmarkResult.from_confusion(conf)
>>> print(r.to_markdown().splitlines()[2])
| a (ref) | **0.765** ± 0.114 | **0.866** ± 0.072 | **0.867** ± 0.072 | **0.869** ± 0.067 | **0.867** ± 0.072 |
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from .facts import correction_label, na_reason, pair_p, test_label, undeclared_direction_message

__all__ = ["to_html", "to_latex", "to_markdown"]

@dataclass
class _Cell:
    mean: float
    half: float
    best: bool
    significant: bool
    p_corrected: float
    note: str  # why the pair against the reference is untested ("" when tested)


@dataclass
class _Table:
    reference: str
    methods: List[str]
    metrics: List[str]
    cells: Dict[str, Dict[str, _Cell]]
    directions: Dict[str, Optional[bool]]
    confidence: float
    test: str
    correction: str
    alpha: float
    seeds: str


def _seed_counts(result: Any) -> str:
    """'3 seeds', or '3-5 seeds' when methods have different numbers of them."""
    counts = (result.confusion.values >= 0).all(axis=(-2, -1)).sum(axis=1)
    low, high = int(counts.min()), int(counts.max())
    if low == high:
        return f"{low} seed" + ("" if low == 1 else "s")
    return f"{low}-{high} seeds"


def _build_table(result: Any, reference: Optional[str], digits: int, bold_best: Optional[bool] = True) -> _Table:
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or not 0 <= digits <= 15:
        raise ValueError(f"digits must be an int in [0, 15], got {digits!r}")
    if bold_best is not None and not isinstance(bold_best, bool):
        raise TypeError(f"bold_best must be True, False or None, got {bold_best!r}")
    directions = result.directions
    if bold_best:
        undeclared = [m for m, d in directions.items() if d is None]
        if undeclared:
            raise ValueError(undeclared_direction_message(undeclared[0]))
    summary = result.summary(reference)
    ref = summary.attrs["reference"]
    methods, metrics = result.methods, result.metrics
    cells: Dict[str, Dict[str, _Cell]] = {m: {} for m in methods}
    for metric in metrics:
        rows = summary[summary["metric"] == metric].set_index("method")
        means = {m: float(rows.loc[m, "mean"]) for m in methods}
        finite = [round(v, digits) for v in means.values() if math.isfinite(v)]
        higher = directions.get(metric)
        if finite and bold_best is not False and higher is not None:
            best_value = (max if higher else min)(finite)
        else:
            best_value = math.nan  # equal to nothing: no cell is bold
        for m in methods:
            low, high = float(rows.loc[m, "ci_low"]), float(rows.loc[m, "ci_high"])
            cells[m][metric] = _Cell(
                mean=means[m],
                half=(high - low) / 2 if math.isfinite(low) and math.isfinite(high) else math.nan,
                best=math.isfinite(means[m]) and round(means[m], digits) == best_value,
                significant=rows.loc[m, "significant_vs_ref"] == "*",
                p_corrected=pair_p(result.comparisons, metric, ref, m) if m != ref else math.nan,
                note=str(rows.loc[m, "note"]) if "note" in rows.columns else "",
            )
    settings = result.settings
    return _Table(
        reference=ref,
        methods=methods,
        metrics=metrics,
        cells=cells,
        directions=directions,
        confidence=summary.attrs["confidence"],
        test=str(settings.get("test")),
        correction=str(settings.get("correction")),
        alpha=float(settings.get("alpha", 0.05)),
        seeds=_seed_counts(result),
    )


def _number(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "n/a"


def _caption(
    table: _Table,
    dagger: str,
    ref: str,
    alpha: str,
    pm: str,
    percent: str = "%",
    escape: Callable[[str], str] = str,
) -> str:
    test = test_label(table.test)
    correction = correction_label(table.correction)
    text = (
        f"Mean {pm} half-width of the {100 * table.confidence:.10g}{percent} confidence interval over "
        f"{table.seeds}; best per metric in bold; {dagger} significantly different from "
        f"{ref} ({test}, {correction}, {alpha} = {table.alpha:g})."
    )
    return text + "".join(f" {escape(sentence)}" for sentence in _untested_sentences(table))


def _untested_sentences(table: _Table) -> List[str]:
    """One sentence per (method, reason) whose pair with the reference is n/a."""
    groups: Dict[tuple, List[str]] = {}
    for method in table.methods:
        for metric in table.metrics:
            note = table.cells[method][metric].note
            if note:
                groups.setdefault((method, note), []).append(metric)
    return [
        f"(n/a) not tested: {method} vs {table.reference} on {', '.join(metrics)}: {na_reason(note)}."
        for (method, note), metrics in groups.items()
    ]


def _arrow(table: _Table, metric: str, up: str, down: str) -> str:
    higher = table.directions.get(metric)
    if higher is None:
        return ""
    return " " + (up if higher else down)


# ------------------------------------------------------------- markdown --


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def _text_row(table: Any, method: str, digits: int, escape: Callable[[str], str],
              bold: str, plus_minus: str, dagger: str) -> list:
    """One method's cells for a text table: name, then mean (bold if best) ± half-CI, dagger."""
    row = [escape(method) + (" (ref)" if method == table.reference else "")]
    for metric in table.metrics:
        cell = table.cells[method][metric]
        mean = _number(cell.mean, digits)
        text = bold.format(mean) if cell.best else mean
        if math.isfinite(cell.half):
            text += f"{plus_minus}{cell.half:.{digits}f}"
        if cell.significant:
            text += dagger
        elif cell.note:
            text += " (n/a)"
        row.append(text)
    return row


def to_markdown(
    result: Any, reference: Optional[str] = None, digits: int = 3, *, bold_best: Optional[bool] = True
) -> str:
    """Methods x metrics as a GitHub-flavoured markdown table with a caption line.

    Parameters
    ----------
    result : BenchmarkResult
    reference : str, optional
        The method the daggers compare against (default: the first).
    digits : int
        Decimals of means and half-widths.
    bold_best : bool or None
        Bold the best mean of each metric (needs every metric's direction);
        ``False``: no bold; ``None``: bold where a direction is declared.

    Returns
    -------
    str
        The table, a blank line, then the caption.
    """
    table = _build_table(result, reference, digits, bold_best)
    head = ["method"] + [f"{_md_escape(m)}{_arrow(table, m, '↑', '↓')}" for m in table.metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join([":---"] + ["---:"] * len(table.metrics)) + "|"]
    for method in table.methods:
        row = _text_row(table, method, digits, _md_escape, "**{}**", " ± ", " †")
        lines.append("| " + " | ".join(row) + " |")
    caption = _caption(table, "†", _md_escape(table.reference), "α", "±", escape=_md_escape)
    return "\n".join(lines) + "\n\n" + caption + "\n"


# ---------------------------------------------------------------- LaTeX --

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _tex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(
    result: Any,
    reference: Optional[str] = None,
    digits: int = 3,
    *,
    caption: Optional[str] = None,
    label: Optional[str] = None,
    bold_best: Optional[bool] = True,
) -> str:
    """Methods x metrics as a LaTeX ``table`` (booktabs rules).

    Parameters
    ----------
    result : BenchmarkResult
    reference : str, optional
        The method the daggers compare against (default: the first).
    digits : int
        Decimals of means and half-widths.
    caption : str, optional
        Text put before the generated caption sentence (which names the
        test, correction, alpha and seed count).
    label : str, optional
        ``\\label{...}`` for cross-references.
    bold_best : bool or None
        As in :func:`to_markdown`.

    Returns
    -------
    str
        A ``table`` environment; needs ``\\usepackage{booktabs}``.
    """
    table = _build_table(result, reference, digits, bold_best)
    head = ["Method"] + [
        _tex_escape(m) + _arrow(table, m, "$\\uparrow$", "$\\downarrow$") for m in table.metrics
    ]
    rows = []
    for method in table.methods:
        row = _text_row(table, method, digits, _tex_escape, "\\textbf{{{}}}", " $\\pm$ ", "$^\\dagger$")
        rows.append(" & ".join(row) + r" \\")
    generated = _caption(
        table, "$^\\dagger$", _tex_escape(table.reference), "$\\alpha$", "$\\pm$", percent=r"\%",
        escape=_tex_escape,
    )
    full_caption = (caption.strip() + " " if caption else "") + generated
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        f"\\caption{{{full_caption}}}",
    ]
    if label:
        lines.append(f"\\label{{{label}}}")
    lines += [
        r"\begin{tabular}{l" + "c" * len(table.metrics) + "}",
        r"\toprule",
        " & ".join(head) + r" \\",
        r"\midrule",
        *rows,
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- HTML --

# The notebook view must stay one line per cell in a narrow output area (six
# metrics fit 800 px) and readable in dark themes: no cell wraps, no colour
# or background is set anywhere (text inherits the theme's colour; secondary
# text is dimmed with opacity), and rules use currentColor.
_CELL = "padding:1px 6px;white-space:nowrap;font-variant-numeric:tabular-nums"
_TH = f"{_CELL};text-align:right;border-bottom:1px solid;font-weight:bold"
_TD = f"{_CELL};text-align:right"
_DIM = "opacity:0.7"
_HALF = "font-size:0.85em;opacity:0.75"


def _html_footnote(table: _Table, esc: Callable[[str], str]) -> str:
    """What the marks mean, one sentence each."""
    ref = esc(table.reference)
    notes = [
        f"&dagger; the difference from {ref} is significant at &alpha; = {table.alpha:g} "
        f"({esc(test_label(table.test))}, {esc(correction_label(table.correction))}; hover it for the "
        "corrected p-value); no mark: not shown to differ.",
    ]
    if any(table.cells[m][k].note for m in table.methods for k in table.metrics):
        notes.append("(n/a) the pair could not be tested (hover it for the reason).")
    if any(d is not None for d in table.directions.values()):
        notes.append("&uarr; / &darr; higher / lower is better; bold: the best mean of each metric.")
    return " ".join(notes)


def to_html(
    result: Any, reference: Optional[str] = None, digits: int = 4, *, bold_best: Optional[bool] = True
) -> str:
    """The notebook view of a result: a compact styled HTML table.

    Hovering a dagger shows the corrected p-value of that comparison, and
    hovering an "n/a" why that pair was not tested; a footnote explains
    the marks.  No cell wraps (six metrics fit an 800 px wide output), and
    every colour is inherited from the page, so dark themes read it too.
    ``bold_best`` as in :func:`to_markdown`.
    """
    table = _build_table(result, reference, digits, bold_best)
    esc = html.escape
    settings = result.settings
    n_methods = len(table.methods)
    title = (
        f"<b>BenchmarkResult</b> &middot; task {esc(str(settings.get('task')))} &middot; "
        f"{n_methods} method{'s' if n_methods != 1 else ''} &middot; {esc(table.seeds)}"
    )
    head = "".join(
        f'<th style="{_TH}">{esc(m)}{_arrow(table, m, "&uarr;", "&darr;")}</th>' for m in table.metrics
    )
    body = []
    for method in table.methods:
        ref_mark = f' <span style="{_DIM}">(ref)</span>' if method == table.reference else ""
        cells = [f'<td style="{_TD.replace("right", "left")}">{esc(method)}{ref_mark}</td>']
        for metric in table.metrics:
            cell = table.cells[method][metric]
            mean = _number(cell.mean, digits)
            text = f"<b>{mean}</b>" if cell.best else mean
            if math.isfinite(cell.half):
                text += f'<span style="{_HALF}"> &plusmn; {cell.half:.{digits}f}</span>'
            if cell.significant:
                text += f' <span title="p_corrected = {cell.p_corrected:.3g}">&dagger;</span>'
            elif cell.note:
                text += f' <span title="{esc(cell.note)}">(n/a)</span>'
            cells.append(f'<td style="{_TD}">{text}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    caption = _caption(table, "&dagger;", esc(table.reference), "&alpha;", "&plusmn;", escape=esc)
    small = f"font-size:0.85em;{_DIM};margin-top:4px"
    return (
        '<div class="mushin-result">'
        f'<div style="margin-bottom:4px">{title}</div>'
        '<table style="border-collapse:collapse">'
        f'<thead><tr><th style="{_TH.replace("right", "left")}">method</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
        f'<div style="{small}">{caption}</div>'
        f'<div style="{small}">{_html_footnote(table, esc)}</div>'
        "</div>"
    )
