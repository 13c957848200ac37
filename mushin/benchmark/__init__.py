"""Upstream mushin-py's namespace: ``from mushin.benchmark import compare, compare_methods, ...``.

Every name upstream's ``mushin.benchmark`` exports is here, under the same
name and signature; they are the same objects as ``mushin.compare``,
``mushin.BenchmarkResult`` and so on.

Examples
--------
>>> import mushin
>>> from mushin.benchmark import compare, BenchmarkResult, list_tasks
>>> compare is mushin.compare and BenchmarkResult is mushin.BenchmarkResult
True
>>> sorted(list_tasks())[:3]
['audio', 'classification', 'detection']
"""
from ..evaluation.compare import compare
from ..metrics.batteries import (
    audio_battery,
    detection_battery,
    image_quality_battery,
    regression_battery,
    retrieval_battery,
)
from ..metrics.tasks import (
    Task,
    classification_battery,
    get_task,
    list_tasks,
    register_task,
    segmentation_battery,
)
from ..result import BenchmarkResult
from ..study.errors import IncompleteSweepError
from .scores import compare_methods

__all__ = [
    "compare",
    "compare_methods",
    "IncompleteSweepError",
    "BenchmarkResult",
    "Task",
    "register_task",
    "get_task",
    "list_tasks",
    "audio_battery",
    "classification_battery",
    "segmentation_battery",
    "detection_battery",
    "regression_battery",
    "retrieval_battery",
    "image_quality_battery",
]
