"""A comparison's result and every view of it: tables, plots, files.

Modules, with dependencies running one way (none imports a module to its
right): ``facts`` (names, n/a reasons, labels, the comparisons the scores
give) <- ``per_class``, ``tables``, ``plots``, ``files``, ``loading`` <-
``core`` (:class:`BenchmarkResult`, which delegates to them).

Examples
--------
>>> from mushin.result import BenchmarkResult
>>> r = BenchmarkResult.from_confusion({"a": [[[3, 1], [0, 4]], [[4, 0], [2, 2]]],
...                                     "b": [[[2, 2], [1, 3]], [[3, 1], [2, 2]]]})
>>> r.methods
['a', 'b']
"""
from .core import BenchmarkResult, build_result, load_result
from .facts import (
    PER_CLASS_METRICS,
    PER_CLASS_PREFIX,
    na_reason,
    pair_note,
    undeclared_direction_message,
)
from .files import FORMAT_NAME, FORMAT_VERSION, save_result, to_dataframe
from .per_class import check_class_names, per_class_scores
from .plots import plot_per_class, plot_result, plot_seeds
from .tables import to_html, to_latex, to_markdown

__all__ = [
    "BenchmarkResult",
    "build_result",
    "load_result",
    "save_result",
    "to_dataframe",
    "to_html",
    "to_latex",
    "to_markdown",
    "plot_result",
    "plot_per_class",
    "plot_seeds",
    "check_class_names",
    "per_class_scores",
    "na_reason",
    "pair_note",
    "undeclared_direction_message",
    "PER_CLASS_METRICS",
    "PER_CLASS_PREFIX",
    "FORMAT_NAME",
    "FORMAT_VERSION",
]
