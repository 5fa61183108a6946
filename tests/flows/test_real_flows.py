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
# Errors of the project's own policy, not of Kestra: a plugin example may well paste a real-looking token.
POLICY_CODES = {"hardcoded-secret"}


def covered_flows(version: int = 1) -> list[dict]:
    """Flows whose every plugin type is in the bundled catalog (by name or alias)."""
    schema = bundled_schema(version)
    return [r for r in real_flows() if r["task_types"] and all(t in schema.type_index for t in r["task_types"])]


def _sweep(flows: list[dict], version: int) -> tuple[Counter, dict[str, list[str]]]:
    by_code: Counter = Counter()
    offenders: dict[str, list[str]] = {}
    for record in flows:
        result = validate_flow(record["yaml"], kestra_version=version)
        for d in result.errors:
            by_code[d.code] += 1
            if d.code in POLICY_CODES:
                continue
            offenders.setdefault(record["id"], []).append(f"{record['kind']} {d.format()}")
    return by_code, offenders


def test_no_false_errors_on_covered_real_flows(capsys: pytest.CaptureFixture[str]) -> None:
    flows = covered_flows()
    current = [r for r in flows if r["kind"] in CURRENT_KINDS]
    by_code, offenders = _sweep(current, 1)
    with capsys.disabled():
        print(
            f"\n[real flows] {len(flows)} flows use only catalog types; {len(current)} of them current kinds; "
            f"flows with errors: {len(offenders)}; errors by code: {dict(by_code)}"
        )
    assert len(current) >= 300, "the catalog should cover a large share of Kestra's own flows"
    assert not offenders, "\n".join(line for lines in list(offenders.values())[:20] for line in lines)


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
    return [r for r in covered_flows() if r["kind"] in CURRENT_KINDS and validate_flow(r["yaml"]).valid]


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
    flows = _clean_covered()[::4]  # a fixed quarter keeps the default suite quick; `-m slow` runs all
    with capsys.disabled():
        _check_mutations(flows, "every 4th flow")


@pytest.mark.slow
def test_mutations_on_every_covered_flow(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        _check_mutations(_clean_covered(), "all")
