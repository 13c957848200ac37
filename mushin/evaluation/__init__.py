"""Evaluation: the shared parameters (:class:`EvalSpec`) and the journey of data through models.

Kept free of imports of :mod:`mushin.evaluation.compare` so that the modules of the
pipeline can import the spec without a cycle.
"""
from .spec import EvalSpec

__all__ = ["EvalSpec"]
