"""Upstream-compatible import path: ``from mushin.benchmark import compare, BenchmarkResult``."""
from .evaluation.compare import compare
from .result import BenchmarkResult

__all__ = ["compare", "BenchmarkResult"]
