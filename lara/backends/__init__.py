"""Chat-model backends. ``build_backend("openai:gpt-4o", ...)`` turns a model string into a Backend."""

from lara.backends.base import BackendError, EndpointLimits, build_backend

__all__ = ["BackendError", "EndpointLimits", "build_backend"]
