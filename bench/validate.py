"""Validation speed of a 50-task flow, every figure measured in this run.

    plain jsonschema.validate   python-jsonschema, schema checked and validator built on every call
    compiled python validator   python-jsonschema validator built once (the reference engine)
    compiled jsonschema-rs      the fast path `FlowSchema.is_valid` uses
    structure walker            strict keys and type discrimination
    rules                       semantic checks beyond the schema (duplicate ids, secrets, …)
    validate_flow               everything: parse + schema + walker + rules

Run: .venv/bin/python bench/validate.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jsonschema

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from copilot.flows import bundled_schema, parse_flow, validate_flow
from copilot.flows._rules import check_rules
from copilot.flows._structure import check_structure


def fifty_task_flow() -> str:
    lines = [
        "id: bench_fifty_tasks",
        "namespace: company.bench",
        "inputs:",
        "  - id: day",
        "    type: DATE",
        "    defaults: '2024-01-01'",
        "tasks:",
    ]
    for i in range(10):
        lines += [
            f"  - id: log_{i}",
            "    type: io.kestra.plugin.core.log.Log",
            f"    message: 'step {i} for {{{{ inputs.day }}}}'",
            f"  - id: ret_{i}",
            "    type: io.kestra.plugin.core.debug.Return",
            f"    format: '{{{{ outputs.log_{i} }}}}'",
            f"  - id: get_{i}",
            "    type: io.kestra.plugin.core.http.Request",
            f"    uri: https://example.com/api/{i}",
            "    method: GET",
            f"  - id: par_{i}",
            "    type: io.kestra.plugin.core.flow.Parallel",
            "    tasks:",
            f"      - id: sleep_{i}",
            "        type: io.kestra.plugin.core.flow.Sleep",
            "        duration: PT1S",
        ]
    lines += [
        "triggers:",
        "  - id: daily",
        "    type: io.kestra.plugin.core.trigger.Schedule",
        "    cron: '0 9 * * *'",
    ]
    return "\n".join(lines) + "\n"


def measure(fn: Callable[[], object], *, seconds: float = 1.0, min_runs: int = 5) -> float:
    """Median seconds per call."""
    fn()  # warm up
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(samples) < min_runs or time.perf_counter() < deadline:
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    text = fifty_task_flow()
    schema = bundled_schema(1)
    parsed = parse_flow(text)
    data = parsed.data
    n_tasks = sum(1 for line in text.splitlines() if line.strip().startswith("- id:")) - 2
    assert validate_flow(text, schema).valid, [d.format() for d in validate_flow(text, schema).diagnostics]
    reference = schema.reference_validator()

    figures = {
        "plain jsonschema.validate": measure(lambda: jsonschema.validate(data, schema.raw), min_runs=3),
        "compiled python validator": measure(lambda: reference.is_valid(data)),
        "compiled jsonschema-rs": measure(lambda: schema.is_valid(data)),
        "structure walker": measure(lambda: check_structure(parsed, schema, 1)),
        "rules": measure(lambda: check_rules(parsed, 1)),
        "parse": measure(lambda: parse_flow(text)),
        "validate_flow (all)": measure(lambda: validate_flow(text, schema)),
    }
    baseline = figures["plain jsonschema.validate"]
    print(f"flow: {n_tasks} tasks, {len(text.splitlines())} lines; schema: {len(schema.definitions)} definitions")
    for name, seconds in figures.items():
        print(f"  {name:<28} {seconds * 1000:9.3f} ms   {baseline / seconds:8.1f}x faster than plain")
    schema_time = figures["compiled jsonschema-rs"]
    semantic = figures["structure walker"] + figures["rules"]
    print(
        f"  semantic checks (walker + rules) add {semantic * 1000:.3f} ms to schema validation "
        f"({schema_time * 1000:.3f} ms with jsonschema-rs, "
        f"{figures['compiled python validator'] * 1000:.3f} ms with python-jsonschema)"
    )


if __name__ == "__main__":
    main()
