"""inference-gateway: the Kubernetes Gateway API Inference Extension, in Python."""

__all__ = ["__version__"]
__version__ = "0.1.0"
