"""How much of Kestra's real flows each schema source covers, and how many invented properties it catches.

Sources: the bundled catalog, and a full-format flow schema (every plugin type Kestra documents, in Kestra's own
format: tests/fakes/hosted_schema.py) served by a loopback "api.kestra.io" and obtained the way the product
obtains it — `Workspace(Settings(live_schema=True, live_schema_url=…)).flow_schema(1)` — so whatever the product
does with a live schema (caching, the version-aware merge) is what is measured.

On the real flows of ../shared/kestra-flows (dev.jsonl + unlabeled.jsonl), for each source: the distinct plugin
types the flows use and how many it defines; how many flows it judges valid; and invented-property mutations —
for each plugin task or trigger of a flow both sources judge valid, one property a model might invent (a
near-miss of one of its real properties, or a common invention), seeded — how many it reports as
`unknown-property`. Prints figures, asserts nothing.

Run: .venv/bin/python bench/catalog_coverage.py
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from copilot.config import Settings
from copilot.flows import FlowSchema, bundled_schema, validate_flow
from copilot.workspace import Workspace
from tests.fakes.hosted_schema import HostedSchema, full_flow_schema_bytes

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KESTRA_COPILOT_SHARED", REPO.parent / "shared")).resolve()
SEED = 20
# Properties models invent for plugins they half-remember (none is a property of a Kestra plugin type).
INVENTIONS = (
    "timeoutSeconds", "maxRetries", "retries", "credentials", "endpoint", "outputFormat", "async", "verbose",
    "queryParams", "batchSize", "region_name", "connectionString", "api_key", "dryRun", "overwrite",
)  # fmt: skip


def real_flows() -> list[dict[str, Any]]:
    flows = []
    for name in ("dev.jsonl", "unlabeled.jsonl"):
        with (SHARED / "kestra-flows" / name).open(encoding="utf-8") as lines:
            flows += [json.loads(line) for line in lines]
    return flows


def typed_nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every task or trigger of a parsed flow (a mapping with an `id` and a plugin class as `type`)."""
    if isinstance(node, dict):
        if isinstance(node.get("type"), str) and "." in node["type"] and "id" in node:
            yield node
        for value in node.values():
            yield from typed_nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from typed_nodes(item)


def near_miss(name: str, rng: random.Random) -> str:
    """A property a model writes for `name`: plural/singular, snake_case, or a letter dropped."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    options = [name[:-1] if name.endswith("s") else name + "s"]
    if snake != name:
        options.append(snake)
    if len(name) > 5:
        cut = rng.randrange(1, len(name) - 1)
        options.append(name[:cut] + name[cut + 1 :])
    return rng.choice(options)


def known_properties(schemas: list[FlowSchema], type_name: str) -> set[str]:
    known: set[str] = set()
    for schema in schemas:
        definition = schema.type_index.get(type_name)
        if definition is not None:
            for member in schema.flatten({"$ref": f"#/definitions/{definition}"}):
                properties = member.get("properties")
                known |= set(properties) if isinstance(properties, dict) else set()
    return known


def is_valid(text: str, schema: FlowSchema) -> bool:
    return validate_flow(text, schema).valid


def main() -> None:
    flows = real_flows()
    with tempfile.TemporaryDirectory() as tmp, HostedSchema(full_flow_schema_bytes()) as hosted:
        settings = Settings(live_schema=True, live_schema_url=hosted.url, cache_dir=Path(tmp), data_dir=Path(tmp))
        started = time.perf_counter()
        loaded = Workspace(settings).flow_schema(1)
        fetched = time.perf_counter() - started
        if loaded.note:
            print(f"note: {loaded.note}")
        sources = {"bundled catalog": bundled_schema(1), "full-format live schema": loaded.schema}
        print(
            f"flows: {len(flows)} (../shared/kestra-flows dev + unlabeled); live schema: "
            f"{len(hosted.body or b'') / 1e6:.1f} MB, {len(loaded.schema.definitions)} definitions, "
            f"fetched and compiled through Workspace.flow_schema in {fetched:.1f} s ({loaded.schema.source})"
        )

        used = {t for flow in flows for t in flow["task_types"]}
        verdicts = {name: [is_valid(flow["yaml"], schema) for flow in flows] for name, schema in sources.items()}
        print(f"\ndistinct plugin types the flows use: {len(used)}")
        width = max(len(name) for name in sources) + 2
        for name, schema in sources.items():
            defined = sum(1 for t in used if t in schema.type_index)
            valid = sum(verdicts[name])
            print(
                f"  {name:<{width}} defines {defined:4d} ({defined / len(used):5.1%})   "
                f"flows judged valid {valid:5d} ({valid / len(flows):5.1%})"
            )

        rng = random.Random(SEED)
        schemas = list(sources.values())
        bundled = sources["bundled catalog"]
        caught = {name: [0, 0] for name in sources}  # [types the bundled catalog defines, types it lacks]
        own = {name: [0, 0] for name in sources}  # [caught, mutations] on the types the source itself defines
        defines = {name: schema.plugin_types() for name, schema in sources.items()}
        totals = [0, 0]
        both_valid = [flow for i, flow in enumerate(flows) if all(verdicts[name][i] for name in sources)]
        for flow in both_valid:
            data = yaml.safe_load(flow["yaml"])
            for node in list(typed_nodes(data)):
                known = known_properties(schemas, node["type"])
                real = sorted(k for k in node if isinstance(k, str) and k not in ("id", "type"))
                invented = near_miss(rng.choice(real), rng) if real and rng.random() < 0.5 else rng.choice(INVENTIONS)
                if invented in known or invented in node:
                    continue
                node[invented] = "x"
                text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
                del node[invented]
                slot = 0 if node["type"] in bundled.type_index else 1
                totals[slot] += 1
                for name, schema in sources.items():
                    diagnostics = validate_flow(text, schema).diagnostics
                    hit = any(d.code == "unknown-property" and f"`{invented}`" in d.message for d in diagnostics)
                    caught[name][slot] += hit
                    if node["type"] in defines[name]:
                        own[name][0] += hit
                        own[name][1] += 1
        print(
            f"\ninvented-property mutations: {sum(totals)} (one per task/trigger of the {len(both_valid)} flows "
            f"both sources judge valid; seed {SEED}): {totals[0]} on types the bundled catalog defines, "
            f"{totals[1]} on types it lacks"
        )
        for name in sources:
            on, off = caught[name]
            print(
                f"  {name:<{width}} catches {on + off:5d} ({(on + off) / max(sum(totals), 1):5.1%})   "
                f"on catalog types {on / max(totals[0], 1):5.1%}   on the others {off / max(totals[1], 1):5.1%}   "
                f"on the types it defines {own[name][0] / max(own[name][1], 1):5.1%} of {own[name][1]}"
            )
        print(
            "  (a type a source does not define is a warning, not an error, with the bundled catalog in the merge:"
            " an enterprise or custom plugin may exist; an invented property on it goes unseen)"
        )


if __name__ == "__main__":
    main()
