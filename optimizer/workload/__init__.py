"""Agentic workload descriptions turned into requests the performance model serves."""

from optimizer.workload.requests import RequestShape, representative_request

__all__ = ["RequestShape", "representative_request"]
