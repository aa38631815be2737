"""The HTTP API: ``create_app(settings)`` and ``serve(settings)`` (processors/api/app.py);
its OpenAPI description is processors/api/openapi.json, served at /api/v1/openapi.json."""

from processors.api.app import PREFIX, create_app, serve

__all__ = ["PREFIX", "create_app", "serve"]
