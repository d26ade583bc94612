"""The EPP's own Prometheus metrics, logging setup and the guarded-task helper."""

from inference_gateway.observability.logging import setup_logging
from inference_gateway.observability.metrics import EppMetrics

__all__ = ["EppMetrics", "setup_logging"]
