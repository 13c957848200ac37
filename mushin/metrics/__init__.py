"""Metric states and batteries: the metric model shared by every task."""
