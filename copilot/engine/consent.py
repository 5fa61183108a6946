"""Consent: a model's flow is deployed or executed only after the user said yes to it.

What a model writes is untrusted — so is what it writes after reading Kestra's logs or retrieved pages.
Before a deploy or a test-run, the front end is handed a `ConsentRequest` (where it goes, the diff, what
the flow can do, what the test copy changed) and answers yes or no:

    approvals = Approvals()
    result = await test_run(engine, client, consent=ask_the_user, approvals=approvals, …)

A yes covers the flow's capability signature (its plugin types, hosts, triggers, subflows, writes,
deletes and the code of its script tasks): a repair that stays within it is run without asking again,
one that adds anything is asked about again. Without a person to ask, only an explicit opt-in approves:

- `unattended()` — `ask --test-run --yes`: the flow as first written, and repairs that add nothing to it;
  a repair that adds a capability or changes a script's code is refused, and the run stops there.
- `sandbox()` — the `sandbox_test_runs` setting (a Kestra kept for trials, e.g. for `eval run --live`):
  every request is approved.
- `refuse(reason)` — no terminal and no opt-in: nothing is deployed or run, and the reason says how to allow it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..errors import CopilotError
from ..flows import Capabilities, FlowDiff
from ..kestra.models import flow_ref

__all__ = [
    "Approvals",
    "Consent",
    "ConsentRefused",
    "ConsentRequest",
    "refuse",
    "sandbox",
    "unattended",
]

Signature = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class ConsentRequest:
    action: str  # "test-run" (deploy to the test namespace and execute) or "deploy"
    server: str  # the Kestra URL, as shown to the user
    namespace: str  # where it lands
    flow_id: str
    flow_yaml: str  # exactly what is sent
    capabilities: Capabilities
    new: tuple[str, ...]  # what is not yet approved, worded (all of it, the first time)
    diff: FlowDiff | None = None  # against what the server has, or the last approved revision; None: a new flow
    changes: tuple[str, ...] = ()  # what the test copy changed on the way (namespace, triggers removed, label)
    first: bool = True  # False: a repair asks about what it added

    def summary(self) -> list[str]:
        """The request in lines, for a terminal or a dialog: where, what changed on the way, what it can do."""
        verb = "Test-run" if self.action == "test-run" else "Deploy"
        lines = [f"{verb} {flow_ref(self.namespace, self.flow_id)} on {self.server}"]
        if not self.first:
            lines.append("A repair changed what the flow can do: " + "; ".join(self.new) + ".")
        lines += [f"  {change}" for change in self.changes]
        lines.append("What it can do:")
        lines += [f"  {line}" for line in self.capabilities.lines()]
        return lines


# A front end's answer to a request: True to go ahead.
Consent = Callable[[ConsentRequest], Awaitable[bool]]


class ConsentRefused(CopilotError):
    """The user (or the missing opt-in) said no: nothing was deployed or executed."""


@dataclass
class Approvals:
    """What the user has said yes to in this conversation, by target (namespace, flow id)."""

    granted: dict[tuple[str, str], Signature] = field(default_factory=dict)

    def missing(self, namespace: str, flow_id: str, capabilities: Capabilities) -> tuple[str, ...]:
        """What `capabilities` adds to what was approved for this target; empty when all is covered."""
        approved = self.granted.get((namespace, flow_id))
        if approved is None:
            return capabilities.beyond(frozenset())
        return capabilities.beyond(approved)

    def first(self, namespace: str, flow_id: str) -> bool:
        return (namespace, flow_id) not in self.granted

    def grant(self, namespace: str, flow_id: str, capabilities: Capabilities) -> None:
        key = (namespace, flow_id)
        self.granted[key] = self.granted.get(key, frozenset()) | capabilities.signature


def unattended() -> Consent:
    """`--yes`: approve the first request, then nothing more. The caller asks only when something is not
    yet approved, so a later request is a repair that added a capability or changed a script's code."""
    asked = False

    async def consent(request: ConsentRequest) -> bool:
        nonlocal asked
        if not asked:
            asked = True
            return True
        raise ConsentRefused(
            "A repair went beyond what --yes approved (" + "; ".join(request.new) + "); it was not deployed.",
            hint="Review the flow and run it again (in a terminal to be asked), or set sandbox_test_runs "
            "for a Kestra kept for trials.",
        )

    return consent


def sandbox() -> Consent:
    """`sandbox_test_runs = true`: the server is a sandbox; every request is approved."""

    async def consent(request: ConsentRequest) -> bool:
        return True

    return consent


def refuse(reason: str, hint: str) -> Consent:
    """No one to ask and no opt-in: every request is refused with `reason`."""

    async def consent(request: ConsentRequest) -> bool:
        raise ConsentRefused(reason, hint=hint)

    return consent
