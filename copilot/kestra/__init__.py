"""Kestra's REST API: an async client and its errors.

KestraClient(url, tenant=…, username/password or api_token)
    server_info()        the server's version
    validate(yaml)       the server's own verdict on a flow (strict parse + bean validation)
server_diagnostics()     that verdict as flow diagnostics, at the right lines
"""

from .client import KestraClient, ServerInfo, ServerValidation
from .errors import (
    KestraAuthError,
    KestraConflict,
    KestraError,
    KestraNotFound,
    KestraRejected,
    KestraServerError,
    KestraUnavailable,
)
from .validation import server_diagnostics

__all__ = [
    "KestraAuthError",
    "KestraClient",
    "KestraConflict",
    "KestraError",
    "KestraNotFound",
    "KestraRejected",
    "KestraServerError",
    "KestraUnavailable",
    "ServerInfo",
    "ServerValidation",
    "server_diagnostics",
]
