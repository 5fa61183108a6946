"""Kestra's REST API: an async client and its errors.

KestraClient(url, tenant=…, username/password or api_token)
    server_info()        the server's version
    validate(yaml)       the server's own verdict on a flow (strict parse + bean validation)
    get_flow / deploy / delete_flow      flows (deploy = create, or update when it exists)
    execute / execution / follow / kill  executions (follow: the live SSE stream until finished)
    logs(execution_id)   an execution's log entries
server_diagnostics()     that verdict as flow diagnostics, at the right lines
review_deploy()          allow-list, server verdict, diff against the server and capabilities, before a deploy
check_deployed()         after a deploy: the server stored the flow where it was meant to go
sandbox.test_copy()      the inert, labelled copy a test-run deploys to the test namespace
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
from .models import GOOD_STATES, TERMINAL_STATES, DeployedFlow, Execution, LogEntry, TaskRun, error_lines, flow_ref
from .needs import MissingOnServer, ServerNeeds, check_needs
from .review import (
    DeployReview,
    allowed_namespace,
    check_deployed,
    check_flow_id,
    check_namespace,
    deploy_reviewed,
    ensure_allowed,
    ensure_calls_allowed,
    execution_link,
    flow_key,
    review_deploy,
    ui_link,
    with_namespace,
)
from .validation import server_diagnostics

__all__ = [
    "GOOD_STATES",
    "TERMINAL_STATES",
    "DeployReview",
    "DeployedFlow",
    "Execution",
    "KestraAuthError",
    "KestraClient",
    "KestraConflict",
    "KestraError",
    "KestraNotFound",
    "KestraRejected",
    "KestraServerError",
    "KestraUnavailable",
    "LogEntry",
    "MissingOnServer",
    "ServerInfo",
    "ServerNeeds",
    "ServerValidation",
    "TaskRun",
    "allowed_namespace",
    "check_deployed",
    "check_flow_id",
    "check_namespace",
    "check_needs",
    "deploy_reviewed",
    "ensure_allowed",
    "ensure_calls_allowed",
    "error_lines",
    "execution_link",
    "flow_key",
    "flow_ref",
    "review_deploy",
    "server_diagnostics",
    "ui_link",
    "with_namespace",
]
