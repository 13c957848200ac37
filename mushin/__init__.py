"""mushin: is method A really better than method B, or is the gap seed noise?

Hand it trained models (one per seed, per method) and an evaluation loader:
it streams the data through every model, accumulates confusion matrices in C,
derives the metric battery and tests every method pair across seeds.

>>> from mushin import compare, BenchmarkResult, ConfusionMatrix
"""
from ._core import ConfusionMatrix
from .evaluation.compare import compare
from .benchmark.scores import compare_methods
from .result import BenchmarkResult
from .study import IncompleteSweepError, Study
from .metrics.tasks import Task, get_task, list_tasks, register_task
from .threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "compare",
    "compare_methods",
    "Study",
    "IncompleteSweepError",
    "BenchmarkResult",
    "ConfusionMatrix",
    "Task",
    "register_task",
    "get_task",
    "list_tasks",
    "set_num_threads",
    "get_num_threads",
    "__version__",
]
