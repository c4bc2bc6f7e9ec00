"""Errors the service raises.

ServiceError
├── PipelineNotFoundError    no pipeline has that id (HTTP 404)
├── InvalidTransitionError   the requested desired status is not allowed from the current one (HTTP 409)
└── WebhookRejectedError     a pushed event's signature does not verify (HTTP 400)
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of the service's own errors."""


class PipelineNotFoundError(ServiceError):
    """No pipeline has this id (or it was never created)."""


class InvalidTransitionError(ServiceError):
    """A desired status change that the lifecycle forbids (anything after `deleted`)."""


class WebhookRejectedError(ServiceError):
    """A webhook whose signature is missing, malformed, stale or wrong."""
