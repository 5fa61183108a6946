"""The plugin facts a turn puts in front of the model: the title, required properties and property names of the
types that matter to it, from the schema in force (Kestra's live schema when there is one, else the bundled
catalog), fenced as data, within a budget, counted in the prompt's parts, and left out by a recipe that says so."""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from copilot.cli import main
from copilot.engine.plugin_facts import plugin_facts, plugin_types_in
from copilot.engine.recipes import load_recipe
from copilot.engine.turn import Attempt, Engine, TurnEvent
from copilot.flows import FlowSchema, bundled_schema
from copilot.llm.gemini import GeminiModel
from copilot.retrieval.chunks import Chunk
from copilot.retrieval.hybrid import Hit
from tests.conftest import shared_path
from tests.engine.test_turn import INVALID, VALID, flow_of
from tests.fakes.gemini import FakeGemini, Reply

LOG = "io.kestra.plugin.core.log.Log"
NEW = "io.kestra.plugin.acme.warehouse.Merge"  # a type only the live schema defines
LOG_TITLE = "Log a message in the task logs."  # the bundled catalog's title of the Log task


def live_schema() -> FlowSchema:
    """Kestra's real sample schema, plus a plugin type the bundled catalog lacks (as the hosted schema has)."""
    raw = json.loads(shared_path("kestra-api", "kestra-flow-schema-sample-libs-copilot.json").read_text())
    raw["definitions"][NEW] = {
        "type": "object",
        "title": "Merge a staging table into the warehouse.",
        "properties": {
            "id": {"type": "string"},
            "type": {"const": NEW},
            "table": {"type": "string"},
            "staging": {"type": "string"},
            "keys": {"type": "array", "items": {"type": "string"}},
            "dryRun": {"type": "boolean"},
        },
        "required": ["id", "type", "table", "staging"],
    }
    log = {"$ref": "#/definitions/io.kestra.plugin.core.log.Log"}
    task_lists = [node for node in _mappings(raw) if log in node.get("anyOf", [])]  # where Kestra lists its tasks
    assert task_lists
    for node in task_lists:
        node["anyOf"].append({"$ref": f"#/definitions/{NEW}"})
    return FlowSchema(raw, source="Kestra's live schema (http://127.0.0.1/flow, fetched 2026-12-05)")


def _mappings(node: object) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _mappings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _mappings(value)


def flow_with(*types: str) -> str:
    tasks = "".join(f"  - id: t{n}\n    type: {name}\n" for n, name in enumerate(types))
    return f"id: taxi\nnamespace: company.team\ntasks:\n{tasks}"


# --- the facts ----------------------------------------------------------------------------------------------
def test_a_live_only_type_is_described_from_the_live_schema_and_the_bundled_title_otherwise() -> None:
    live = plugin_facts(live_schema(), [flow_with(NEW, LOG)])
    assert live.types == (NEW, LOG)
    assert f"- {NEW}: Merge a staging table into the warehouse.\n  required: staging, table\n" in live.text
    assert "other properties: dryRun, keys" in live.text
    bundled = plugin_facts(None, [flow_with(NEW, LOG)], kestra_version=1)  # no schema: the bundled catalog
    assert bundled.types == (LOG,) and NEW not in bundled.text  # the catalog knows nothing of it: nothing said
    assert f"- {LOG}: {LOG_TITLE}\n  required: message\n  other properties: level" in bundled.text


def test_what_every_task_has_is_said_once_not_with_each_type() -> None:
    facts = plugin_facts(bundled_schema(1), [flow_with(LOG, "io.kestra.plugin.core.http.Request")])
    first, *rest = facts.text.splitlines()
    assert first.startswith("Not listed below: what every task takes (") and "retry" in first
    assert not any("retry" in line or "allowFailure" in line for line in rest)


SCHEDULE = "io.kestra.plugin.core.trigger.Schedule"


def _common_lines(facts_text: str) -> dict[str, set[str]]:
    """Family → the properties the first line says every one of them takes."""
    first = facts_text.splitlines()[0].removeprefix("Not listed below: ").removesuffix(".")
    said = (part.removeprefix("what every ").split(" takes (") for part in first.split("; "))
    return {family: set(names.removesuffix(")").split(", ")) for family, names in said}


@pytest.mark.parametrize(
    ("version", "this", "other"), [(1, "workerGroup", "workerSelector"), (2, "workerSelector", "workerGroup")]
)
def test_the_common_properties_are_this_versions_and_tasks_and_triggers_are_said_apart(
    version: int, this: str, other: str
) -> None:
    tasks_only = _common_lines(plugin_facts(bundled_schema(version), [flow_with(LOG)], kestra_version=version).text)
    assert set(tasks_only) == {"task"}  # no trigger described: no trigger line
    assert this in tasks_only["task"] and other not in tasks_only["task"]
    assert not tasks_only["task"] & {"conditions", "when", "stopAfter", "failOnTriggerError"}  # a trigger's only
    texts = [flow_with(LOG) + f"triggers:\n  - id: daily\n    type: {SCHEDULE}\n"]
    facts = plugin_facts(bundled_schema(version), texts, kestra_version=version)
    both = _common_lines(facts.text)
    assert set(both) == {"task", "trigger"} and {"stopAfter", "failOnTriggerError", this} <= both["trigger"]
    assert ("conditions" if version == 1 else "when") in both["trigger"] and other not in both["trigger"]
    schedule = facts.text.split(f"- {SCHEDULE}")[1]
    assert "stopAfter" not in schedule and "cron" in schedule  # said once, above


def test_a_live_trigger_is_told_apart_by_where_the_flow_lists_it() -> None:
    """The merged live schema's families: a trigger the catalog lacks takes the triggers' line too."""
    from copilot.flows._merge import merge
    from tests.flows.test_merge import LIVE, _hosted_2x

    schema = merge(FlowSchema(json.loads(_hosted_2x()), source=LIVE), 1)
    lines = _common_lines(plugin_facts(schema, ["io.kestra.plugin.acme.Webhook"]).text)
    assert set(lines) == {"trigger"} and "workerSelector" not in lines["trigger"]


def test_the_order_is_the_flows_then_the_others_and_the_budget_holds() -> None:
    many = [t for t in bundled_schema(1).plugin_types() if t.startswith("io.kestra.plugin.")][:40]
    texts = [flow_with(many[5], many[1]), " ".join(many)]
    facts = plugin_facts(None, texts, budget=1500)
    assert facts.types[:2] == (many[5], many[1]) and facts.left_out == len(many) - len(facts.types) > 0
    assert len(facts.text) <= 1500 + 400  # the budget, the line of common properties and the "left out" line
    assert facts.text.endswith(f"[… {facts.left_out} more types left out]")
    assert plugin_facts(None, texts, budget=1500) == facts  # the same turn, the same text (its hash)


def test_type_names_are_found_in_prose_and_yaml_once_each() -> None:
    text = f"Use {LOG}. Then `io.kestra.plugin.core.flow.Sleep`, and {LOG} again; not io.kestra or Log."
    assert plugin_types_in([text, "type: io.kestra.plugin.core.flow.Sleep"]) == [
        LOG,
        "io.kestra.plugin.core.flow.Sleep",
    ]


def test_an_old_alias_is_described_as_what_it_now_is() -> None:
    facts = plugin_facts(None, [flow_with("io.kestra.core.tasks.log.Log")], kestra_version=1)
    assert facts.text.splitlines()[1] == f"- io.kestra.core.tasks.log.Log (now {LOG}): {LOG_TITLE}"


# --- in the turn's prompt -----------------------------------------------------------------------------------
def _engine(gemini: FakeGemini, recipe: str = "default", **options: object) -> Engine:
    model = GeminiModel(api_key="test-key", base_url=gemini.url)
    hit = Hit(Chunk(f"Merge with {NEW}: `table` and `staging`.", "plugin-doc", "docs", "Merge", "merge.md"), 1.0)
    return Engine(model, recipe=load_recipe(recipe), retrieve=lambda text, r: [hit], **options)  # type: ignore[arg-type]


def _system(gemini: FakeGemini, request: int = -1) -> str:
    return json.dumps(gemini.requests[request].body["systemInstruction"])


def test_the_prompt_carries_the_live_schemas_facts_fenced_and_counted(gemini: FakeGemini) -> None:
    engine = _engine(gemini, schema=live_schema())
    engine.start_from(flow_of(VALID))
    gemini.script(Reply(VALID))
    events: list[TurnEvent] = []
    asyncio.run(engine.turn("merge the staging table", on_event=events.append))
    system = _system(gemini)
    assert "Plugin types (title, required properties, other properties):" in system
    assert f"- {NEW}: Merge a staging table into the warehouse.\\n  required: staging, table" in system  # a source's
    assert f"- {LOG}: " in system and "(plugin types)\\n" in system  # the flow's too; fenced: <<<DATA x (…)
    assert "io.kestra.plugin.core.flow.Sleep" not in system.split("Plugin types")[1]  # the sample lacks it
    attempt = next(e for e in events if isinstance(e, Attempt))
    assert "plugins" in attempt.parts


def test_without_a_schema_the_engine_grounds_on_the_bundled_catalog(gemini: FakeGemini) -> None:
    engine = _engine(gemini)
    engine.start_from(flow_of(VALID))
    gemini.script(Reply(VALID))
    asyncio.run(engine.turn("log it twice"))
    assert f"- {LOG}: {LOG_TITLE}" in _system(gemini) and NEW not in _system(gemini).split("Plugin types")[1]


def test_a_repair_adds_the_types_its_findings_name(gemini: FakeGemini) -> None:
    """The findings' did-you-mean names a type no earlier part gave: the repair message describes it."""
    engine = _engine(gemini)
    engine.start_from(flow_of(VALID))  # a Log task: its facts are in the system instruction
    misspelled = INVALID.replace("io.kestra.plugin.core.flow.Sleep", "io.kestra.plugin.core.http.Reqest")
    gemini.script(Reply(misspelled), Reply(VALID))
    events: list[TurnEvent] = []
    asyncio.run(engine.turn("log then call the API", on_event=events.append))
    repair = json.dumps(gemini.requests[1].body["contents"][-1])
    assert "Did you mean `io.kestra.plugin.core.http.Request`" in repair
    assert "- io.kestra.plugin.core.http.Request: " in repair and "required: uri" in repair
    assert f"- {LOG}: " not in repair  # given in the system instruction already
    assert "repair_plugins" in [e for e in events if isinstance(e, Attempt)][-1].parts


def test_a_recipe_leaves_them_out(gemini: FakeGemini) -> None:
    assert load_recipe().plugin_facts and not load_recipe("no-plugin-facts").plugin_facts
    engine = _engine(gemini, "no-plugin-facts")
    engine.start_from(flow_of(VALID))
    gemini.script(Reply(VALID))
    events: list[TurnEvent] = []
    asyncio.run(engine.turn("log it twice", on_event=events.append))
    assert "Plugin types" not in _system(gemini)
    assert "plugins" not in next(e for e in events if isinstance(e, Attempt)).parts


def test_a_recipe_says_true_or_false(tmp_path: Path) -> None:
    from copilot.engine.recipes import RecipeError, prompts_dir

    text = (prompts_dir() / "recipes" / "default.yaml").read_text().replace("plugin_facts: true", 'plugin_facts: "no"')
    (tmp_path / "quoted.yaml").write_text(text)
    with pytest.raises(RecipeError, match="takes true or false"):
        load_recipe(str(tmp_path / "quoted.yaml"))


def test_the_eval_harness_compares_with_and_without(
    gemini: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`eval run --recipe no-plugin-facts` against the default: the one prompt has the part, the other not."""
    suite = tmp_path / "suite.yaml"
    case = {"id": "retry", "flow": flow_of(VALID), "turns": ["Add a retry to the log task."], "checks": ["valid"]}
    suite.write_text(json.dumps([case]))
    gemini.script(Reply(VALID))
    systems = {}
    for recipe in ("default", "no-plugin-facts"):
        run = tmp_path / recipe
        assert main(["eval", "run", str(suite), "--recipe", recipe, "-o", str(run), "--cache-dir", str(tmp_path)]) == 0
        systems[recipe] = _system(gemini)
    capsys.readouterr()
    assert f"- {LOG}: {LOG_TITLE}" in systems["default"]  # the case's flow has a Log task
    assert "Plugin types" not in systems["no-plugin-facts"]
