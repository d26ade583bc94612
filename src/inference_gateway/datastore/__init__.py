"""The in-memory truth: pools, models, endpoints and their latest metrics."""

from inference_gateway.datastore.types import Endpoint, Metrics

__all__ = ["Endpoint", "Metrics"]
