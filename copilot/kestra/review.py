"""What every front end checks before a flow goes onto a Kestra server, in one place (`deploy` on the
command line, the chat's deploy, the test-run's own deploy):

    review = await review_deploy(client, text, allow=settings.deploy_namespaces)
    if review.problems: …                 # the server refuses the flow: show them, deploy nothing
    elif review.up_to_date: …             # the server already has exactly this
    else: show review.diff (or the whole flow when review.deployed is None), confirm, client.deploy(…)

The namespace allow-list is checked first, then the server's own validation, then what the server has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import CopilotError
from ..flows import Diagnostic, FlowDiff, diff_flows, parse_flow
from .client import KestraClient
from .models import DeployedFlow
from .validation import server_diagnostics

__all__ = ["DeployReview", "allowed_namespace", "flow_key", "review_deploy", "ui_link", "with_namespace"]


def flow_key(flow_yaml: str) -> tuple[str, str]:
    """The flow's (namespace, id); a flow without both cannot be deployed or run."""
    data = parse_flow(flow_yaml).data
    data = data if isinstance(data, dict) else {}
    namespace, flow_id = str(data.get("namespace") or ""), str(data.get("id") or "")
    if not namespace or not flow_id:
        raise CopilotError("The flow has no `id` or `namespace`.", hint="A flow needs both to be deployed.")
    return namespace, flow_id


def allowed_namespace(namespace: str, allow: str | None) -> bool:
    """`allow` is a comma-separated list of namespaces; each also allows its children."""
    if not allow:
        return True
    prefixes = [p.strip() for p in allow.split(",") if p.strip()]
    return any(namespace == p or namespace.startswith(p + ".") for p in prefixes)


def with_namespace(flow_yaml: str, namespace: str) -> str:
    """The flow with its top-level `namespace:` set (the rest of the text untouched)."""
    updated, count = re.subn(r"(?m)^namespace:[^\n]*$", f"namespace: {namespace}", flow_yaml, count=1)
    return updated if count else f"namespace: {namespace}\n{flow_yaml}"


def ui_link(client: KestraClient, namespace: str, flow_id: str) -> str:
    return f"{client.url}/ui/{client.tenant}/flows/edit/{namespace}/{flow_id}"


@dataclass
class DeployReview:
    namespace: str
    flow_id: str
    problems: list[Diagnostic] = field(default_factory=list)  # the server's errors: nothing may be deployed
    deployed: DeployedFlow | None = None  # what the server has (None: a new flow)
    diff: FlowDiff | None = None  # against `deployed`

    @property
    def up_to_date(self) -> bool:
        return self.diff is not None and not self.diff.changed


async def review_deploy(
    client: KestraClient, flow_yaml: str, *, allow: str | None = None, label: str = "flow"
) -> DeployReview:
    """The allow-list, the server's verdict and the diff against the server, for `flow_yaml`.
    `label` names the new side of the diff (a file name, a revision)."""
    namespace, flow_id = flow_key(flow_yaml)
    if not allowed_namespace(namespace, allow):
        raise CopilotError(
            f"Namespace {namespace!r} is not in the deploy allow-list ({allow}).",
            hint="Deploy into another namespace, or change `deploy_namespaces` (KESTRA_COPILOT_DEPLOY_NAMESPACES).",
        )
    review = DeployReview(namespace, flow_id)
    verdict = await client.validate_one(flow_yaml)
    review.problems = [d for d in server_diagnostics(verdict, parse_flow(flow_yaml), client.url) if d.is_error]
    if review.problems:
        return review
    review.deployed = await client.get_flow(namespace, flow_id)
    if review.deployed is not None:
        old_label = f"server revision {review.deployed.revision}"
        review.diff = diff_flows(review.deployed.source, flow_yaml, old_label=old_label, new_label=label)
    return review
