"""The validator on real flows written by Kestra (../shared/kestra-flows): no false errors, and
mutations of those flows caught at the right line. Both print their figures."""

from __future__ import annotations

from collections import Counter

import pytest

from copilot.flows import bundled_schema, validate_flow
from tests.conftest import real_flows
from tests.flows.mutations import mutations_of

# Kinds of flows Kestra publishes as current; archived examples and 2024 test fixtures may use syntax
# that Kestra has since removed, so they are measured but not held to zero.
CURRENT_KINDS = {"blueprint", "docs", "example", "plugin-doc", "plugin-example"}


# Flows Kestra published that its own server would refuse, each checked by hand: the validator must
# report them, with this code, rather than be excused from them.
KNOWN_INVALID = {
    "docs-d0307b4a7a83": ("unknown-property", "a Log task with `errorMessage:` instead of `message:`"),
    "docs-d1174a1fc969": ("missing-property", "a WorkingDirectory snippet with no `tasks`"),
    "plgex-68fa5c2351a4": ("missing-type", "a Schedule example whose trigger lost its `type:` line"),
    "docs-8ed68d7b75af": ("missing-property", "an R Script snippet with no `script`"),
    "plgex-44e6490d2b8f": ("unknown-type", "a git example mixing Loop (2.x only) with pluginDefaults (1.x only)"),
    "plgex-53bcbfda6134": ("unknown-type", "its sibling PushFlows example, with the same mix"),
    "plgex-f53eb4181a6d": (
        "unknown-property",
        "a SendGrid example with `htmlTextContent` (the property is `htmlContent`)",
    ),
}


def covered_flows() -> list[dict]:
    """Flows whose every plugin type is in the bundled catalog (by name or alias) for Kestra 1.x or 2.x."""
    known = set(bundled_schema(1).type_index) | set(bundled_schema(2).type_index)
    # `task_types` also lists pluginDefaults types, which may be package prefixes such as io.kestra.plugin.jdbc
    packages = {name.rsplit(".", n)[0] for name in known for n in range(1, name.count("."))}
    return [r for r in real_flows() if r["task_types"] and all(t in known or t in packages for t in r["task_types"])]


def kestra_errors(text: str, version: int) -> list:
    """What Kestra refuses; the project's `policy` findings (a plugin example pasting a real-looking token) are
    not errors."""
    return validate_flow(text, kestra_version=version).errors


def _sweep(flows: list[dict]) -> tuple[Counter, dict[str, list[str]], int]:
    """A flow is falsely refused when it has errors for both Kestra 1.x and 2.x: docs are written for
    either. Errors are counted by code for the version that fits the flow best."""
    by_code: Counter = Counter()
    offenders: dict[str, list[str]] = {}
    only_v2 = 0
    for record in flows:
        errors = kestra_errors(record["yaml"], 1)
        if errors:
            v2_errors = kestra_errors(record["yaml"], 2)
            only_v2 += not v2_errors
            errors = min(errors, v2_errors, key=len)
        by_code.update(d.code for d in errors)
        if errors and record["id"] not in KNOWN_INVALID:
            offenders[record["id"]] = [f"{record['kind']} {d.format()}" for d in errors]
    return by_code, offenders, only_v2


def test_no_false_errors_on_covered_real_flows(capsys: pytest.CaptureFixture[str]) -> None:
    flows = covered_flows()
    current = [r for r in flows if r["kind"] in CURRENT_KINDS]
    by_code, offenders, only_v2 = _sweep(current)
    with capsys.disabled():
        print(
            f"\n[real flows] {len(flows)} flows use only catalog types; {len(current)} of them current kinds "
            f"({only_v2} valid only for Kestra 2.x); known invalid: {len(KNOWN_INVALID)}; other flows with "
            f"errors: {len(offenders)}; errors by code: {dict(by_code)}"
        )
    assert len(current) >= 300, "the catalog should cover a large share of Kestra's own flows"
    assert not offenders, "\n".join(line for lines in list(offenders.values())[:20] for line in lines)


def test_known_invalid_real_flows_are_reported() -> None:
    records = {r["id"]: r for r in real_flows() if r["id"] in KNOWN_INVALID}
    assert records.keys() == KNOWN_INVALID.keys()
    for flow_id, (code, why) in KNOWN_INVALID.items():
        assert code in {d.code for d in kestra_errors(records[flow_id]["yaml"], 1)}, f"{flow_id}: {why}"


def _mutation_rate(flows: list[dict]) -> tuple[int, int, Counter, list[str]]:
    schema = bundled_schema(1)
    attempted = detected = 0
    missed_by_kind: Counter = Counter()
    examples: list[str] = []
    for seed, record in enumerate(flows):
        for mutation in mutations_of(record["yaml"], schema, seed):
            attempted += 1
            result = validate_flow(mutation.text, schema)
            if any(d.code in mutation.codes and d.line == mutation.line for d in result.errors):
                detected += 1
            else:
                missed_by_kind[mutation.name] += 1
                if len(examples) < 10:
                    got = "; ".join(f"{d.line}:{d.code}" for d in result.errors) or "no error"
                    examples.append(f"{record['id']}: {mutation.name} at line {mutation.line} -> {got}")
    return attempted, detected, missed_by_kind, examples


def _clean_covered() -> list[dict]:
    return [
        r for r in covered_flows() if r["kind"] in CURRENT_KINDS and validate_flow(r["yaml"], kestra_version=1).valid
    ]


def _check_mutations(flows: list[dict], label: str) -> None:
    attempted, detected, missed, examples = _mutation_rate(flows)
    rate = detected / attempted
    print(
        f"\n[mutations/{label}] {len(flows)} flows, {attempted} mutations, detected at the right line: "
        f"{detected} ({rate:.1%}); missed by mutation: {dict(missed)}"
    )
    assert attempted > 0
    assert rate >= 0.95, "\n".join(examples)


def test_mutations_are_detected_at_the_right_line(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        _check_mutations(_clean_covered(), "every clean covered flow")
