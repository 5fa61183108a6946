"""What every front end checks before a flow goes onto a Kestra server, in one place (`deploy` on the
command line, the chat's deploy, the test-run's own deploy):

    review = await review_deploy(client, text, allow=settings.deploy_namespaces)
    if review.problems: …                 # the server refuses the flow: show them, deploy nothing
    elif review.up_to_date: …             # the server already has exactly this
    else: show review.diff (or the whole flow) and review.capabilities, confirm, client.deploy(…)
    check_deployed(result, review.namespace, review.flow_id)   # the server stored it where it was meant to

The namespace allow-list is checked first, then the server's own validation, then what the server has.
Namespaces and ids are read from, and written into, the parsed document (flows.set_top_level): a
`namespace:` line inside a description block or a quoted key cannot steer a flow elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import CopilotError
from ..flows import Capabilities, Diagnostic, FlowDiff, diff_flows, flow_capabilities, parse_flow, set_top_level
from .client import KestraClient
from .errors import KestraError
from .models import DeployedFlow, Execution, flow_ref
from .validation import server_diagnostics

__all__ = [
    "DeployReview",
    "allowed_namespace",
    "check_deployed",
    "check_flow_id",
    "check_namespace",
    "deploy_reviewed",
    "ensure_allowed",
    "ensure_calls_allowed",
    "execution_link",
    "flow_key",
    "review_deploy",
    "ui_link",
    "with_namespace",
]

# Kestra's own rules for a namespace and a flow id (the flow schema's patterns and lengths).
NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
MAX_NAMESPACE = 150
FLOW_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")
MAX_FLOW_ID = 100


def flow_key(flow_yaml: str) -> tuple[str, str]:
    """The flow's (namespace, id) as Kestra reads them; a flow without both, or with either written twice,
    cannot be deployed or run."""
    parsed = parse_flow(flow_yaml)
    twice = {d.path for d in parsed.problems if d.code == "duplicate-key"} & {"namespace", "id"}
    if twice:
        key = sorted(twice)[0]
        raise CopilotError(f"The flow sets `{key}` twice; Kestra refuses it.", hint=f"Keep one `{key}:`.")
    data = parsed.data
    namespace, flow_id = data.get("namespace"), data.get("id")
    if not isinstance(namespace, str) or not isinstance(flow_id, str) or not namespace or not flow_id:
        raise CopilotError("The flow has no `id` or `namespace`.", hint="A flow needs both to be deployed.")
    return namespace, flow_id


def check_namespace(namespace: str) -> str:
    """`namespace` when Kestra accepts it as one (lower-case, dotted); a CopilotError otherwise."""
    hint = "Lower-case letters, digits, `.`, `_` and `-`, starting with a letter or digit (e.g. company.team)."
    return _kestra_name(namespace, NAMESPACE, MAX_NAMESPACE, "namespace", hint)


def check_flow_id(flow_id: str) -> str:
    """`flow_id` when Kestra accepts it as a flow id; a CopilotError otherwise (it goes into a URL path)."""
    hint = "Letters, digits, `.`, `_` and `-`, starting with a letter or digit (e.g. taxi_monthly)."
    return _kestra_name(flow_id, FLOW_ID, MAX_FLOW_ID, "flow id", hint)


def _kestra_name(value: str, pattern: re.Pattern[str], limit: int, what: str, hint: str) -> str:
    if not pattern.match(value) or len(value) > limit:
        raise CopilotError(f"{value!r} is not a Kestra {what}.", hint=hint)
    return value


def allowed_namespace(namespace: str, allow: str | None) -> bool:
    """`allow` is a comma-separated list of namespaces; each also allows its children."""
    if not allow:
        return True
    prefixes = [p.strip() for p in allow.split(",") if p.strip()]
    return any(namespace == p or namespace.startswith(p + ".") for p in prefixes)


def ensure_allowed(namespace: str, allow: str | None, *, nothing: str = "deployed") -> None:
    """Raise unless the allow-list (`deploy_namespaces`) lets the tool write to or run in `namespace`."""
    if not allowed_namespace(namespace, allow):
        raise CopilotError(
            f"Namespace {namespace!r} is not in the deploy allow-list ({allow}); nothing was {nothing}.",
            hint="Use a namespace in the list, or change `deploy_namespaces` (KESTRA_COPILOT_DEPLOY_NAMESPACES).",
        )


def ensure_calls_allowed(capabilities: Capabilities, allow: str | None) -> None:
    """Raise when the flow calls a flow (Subflow, ForEachItem) in a namespace the allow-list does not
    cover: the tool may not start executions there either, even as a test-run's subflow."""
    if not allow:
        return
    for capability in capabilities.items:
        namespace = capability.value.split("/", 1)[0]
        if capability.kind != "subflow":
            continue
        if "{{" in namespace or "{%" in namespace:
            where = "a namespace an expression picks at run time, which the allow-list cannot vouch for"
        elif not allowed_namespace(namespace, allow):
            where = "a namespace outside the deploy allow-list"
        else:
            continue
        raise CopilotError(
            f"The flow calls {capability.value} ({capability.where}), in {where} ({allow}); nothing was deployed.",
            hint="Call a flow in an allowed namespace, written out, or change `deploy_namespaces`.",
        )


def with_namespace(flow_yaml: str, namespace: str) -> str:
    """The flow with its top-level `namespace` set on the parsed document (the rest of the text kept)."""
    return set_top_level(flow_yaml, "namespace", check_namespace(namespace))


def check_deployed(deployed: DeployedFlow, namespace: str, flow_id: str) -> None:
    """After a deploy: the server must report the flow where it was meant to go. A mismatch is an error,
    and nothing is deleted (what the server holds there may be someone's own flow)."""
    if (deployed.namespace, deployed.id) != (namespace, flow_id):
        raise KestraError(
            f"Kestra stored the flow as {flow_ref(deployed.namespace, deployed.id)}, "
            f"not {flow_ref(namespace, flow_id)} as intended "
            f"(server revision {deployed.revision}); nothing was deleted.",
            hint="Check that flow in the Kestra UI and remove it yourself if it should not be there.",
        )


def ui_link(client: KestraClient, namespace: str, flow_id: str) -> str:
    return f"{client.url}/ui/{client.tenant}/flows/edit/{namespace}/{flow_id}"


def execution_link(client: KestraClient, execution: Execution) -> str:
    """The execution's page in Kestra's UI: the server's own `url` for it, or the one the UI uses."""
    ui = f"{client.url}/ui/{client.tenant}/executions/{execution.namespace}/{execution.flow_id}/{execution.id}"
    return execution.url or ui


@dataclass
class DeployReview:
    namespace: str
    flow_id: str
    capabilities: Capabilities  # what the flow can do, for the confirmation
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
    ensure_allowed(namespace, allow)
    review = DeployReview(namespace, flow_id, capabilities=flow_capabilities(flow_yaml))
    ensure_calls_allowed(review.capabilities, allow)
    verdict = await client.validate_one(flow_yaml)
    review.problems = [d for d in server_diagnostics(verdict, parse_flow(flow_yaml), client.url) if d.is_error]
    if review.problems:
        return review
    review.deployed = await client.get_flow(namespace, flow_id)
    if review.deployed is not None:
        old_label = f"server revision {review.deployed.revision}"
        review.diff = diff_flows(review.deployed.source, flow_yaml, old_label=old_label, new_label=label)
    return review


async def deploy_reviewed(client: KestraClient, review: DeployReview, flow_yaml: str) -> DeployedFlow:
    """Deploy what the user said yes to, as reviewed: a new flow only as a creation, an existing one only if
    the server still has the revision the diff was made against; then check where the server stored it."""
    current = await client.get_flow(review.namespace, review.flow_id)
    reviewed = review.deployed.revision if review.deployed is not None else None
    if (current.revision if current is not None else None) != reviewed:
        now = f"revision {current.revision}" if current is not None else "no such flow"
        was = f"revision {reviewed}" if reviewed is not None else "no such flow"
        raise KestraError(
            f"{flow_ref(review.namespace, review.flow_id)} changed on the server while you were deciding "
            f"({was} → {now}); "
            "nothing was deployed.",
            hint="Deploy again to review the diff against what the server has now.",
        )
    deployed = await client.deploy(flow_yaml, review.namespace, review.flow_id, update=current is not None)
    check_deployed(deployed, review.namespace, review.flow_id)
    return deployed
