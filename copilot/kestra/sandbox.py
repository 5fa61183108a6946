"""Where and how a test-run deploys a flow: away from the team's flows, inert, labelled and removable.

    target = test_namespace("company.team", ".copilot_test")        # company.team.copilot_test
    copy = test_copy(flow_yaml, target)                             # what is deployed
    copy.yaml, copy.changes                                         # the text sent; what was changed, worded

A test copy is the flow with its namespace set to the test namespace (on the parsed document), its
triggers removed — a Schedule deployed for a test would go on running; a Webhook would be an open door —
and the label `kestra-copilot: test-run`, which marks it as the tool's own: only a flow carrying it is ever
overwritten or deleted by a test-run.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CopilotError
from ..flows import YamlValue, parse_flow, remove_top_level, set_top_level
from .models import DeployedFlow
from .review import check_namespace, flow_key

__all__ = ["TEST_LABEL", "TestCopy", "is_test_deploy", "test_copy", "test_namespace"]

TEST_LABEL = ("kestra-copilot", "test-run")


def test_namespace(namespace: str, suffix: str) -> str:
    """The flow's namespace plus the test suffix — always appended, so the test namespace is never the
    flow's own (a suffix `.team` on `company.team` gives `company.team.team`, not `company.team`)."""
    if not suffix.strip(". "):
        raise CopilotError(
            "The test namespace suffix is empty: a test-run would deploy into the flow's own namespace.",
            hint="Set test_namespace_suffix (KESTRA_COPILOT_TEST_NAMESPACE_SUFFIX), e.g. .copilot_test.",
        )
    return check_namespace(namespace + suffix)


@dataclass(frozen=True)
class TestCopy:
    yaml: str
    namespace: str
    flow_id: str
    changes: tuple[str, ...]  # worded for the user: "namespace company.team → company.team.copilot_test" …


def test_copy(flow_yaml: str, namespace: str, *, keep: bool = False) -> TestCopy:
    original_namespace, flow_id = flow_key(flow_yaml)
    changes = []
    text = flow_yaml
    if original_namespace != namespace:
        text = set_top_level(text, "namespace", namespace)
        changes.append(f"namespace {original_namespace} → {namespace} (the team's own namespace is not touched)")
    listed = parse_flow(text).data.get("triggers")
    triggers = [t for t in listed if isinstance(t, dict)] if isinstance(listed, list) else []
    if triggers:
        text = remove_top_level(text, "triggers")
        named = ", ".join(f"{t.get('id', '?')} ({str(t.get('type', '?')).rsplit('.', 1)[-1]})" for t in triggers)
        changes.append(f"triggers removed for the test: {named}")
    text = set_top_level(text, "labels", _labelled(parse_flow(text).data.get("labels")))
    after = "kept on the server after the run (asked to keep it)" if keep else "deleted after the run"
    changes.append(f"labelled {TEST_LABEL[0]}: {TEST_LABEL[1]}, and {after}")
    return TestCopy(text, namespace, flow_id, tuple(changes))


def _labelled(labels: YamlValue) -> YamlValue:
    """The flow's labels (a list of key/value items or a mapping) with the test label set."""
    key, value = TEST_LABEL
    if isinstance(labels, list):
        return [*(item for item in labels if not (isinstance(item, dict) and item.get("key") == key)),
                {"key": key, "value": value}]  # fmt: skip
    return {**(labels if isinstance(labels, dict) else {}), key: value}


def is_test_deploy(flow: DeployedFlow) -> bool:
    """Whether a flow on the server is a test copy this tool deployed (it carries TEST_LABEL)."""
    try:
        labels = parse_flow(flow.source).data.get("labels")
    except CopilotError:
        return False
    key, value = TEST_LABEL
    if isinstance(labels, dict):
        return labels.get(key) == value
    return isinstance(labels, list) and any(
        isinstance(item, dict) and item.get("key") == key and item.get("value") == value for item in labels
    )


# Not pytest tests, whatever their names say.
test_copy.__test__ = False  # type: ignore[attr-defined]
test_namespace.__test__ = False  # type: ignore[attr-defined]
TestCopy.__test__ = False  # type: ignore[attr-defined]
