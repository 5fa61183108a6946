"""Cases load as written; each scorer judges crafted flows the way a reviewer would."""

from collections import Counter
from pathlib import Path

import pytest
import yaml

from copilot.evaluation.cases import Case, CaseError, Check, load_suite
from copilot.evaluation.scorers import Output, flow_edges, is_task_list, score_case, select, tasks_by_id

ROOT = Path(__file__).resolve().parents[2]

FLOW = """\
id: taxi
namespace: company.team
inputs:
  - id: month
    type: STRING
    defaults: "2024-01"
tasks:
  - id: extract
    type: io.kestra.plugin.core.http.Download
    uri: "https://example.com/{{ inputs.month }}.csv"
  - id: steps
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: hello
        type: io.kestra.plugin.core.log.Log
        message: hi
triggers:
  - id: monthly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 1 * *"
"""


def case(*checks: Check, **extra: object) -> Case:
    return Case(id="c", turns=("do it",), checks=checks, **extra)  # type: ignore[arg-type]


def test_the_core_suite_covers_what_data_engineers_ask_for() -> None:
    cases = load_suite(ROOT / "evals" / "core")
    assert len(cases) >= 40
    tags = {t for c in cases for t in c.tags}
    assert {"edit", "postgres", "bigquery", "schedule", "kv", "subflow", "foreach", "webhook", "cache"} <= tags
    questions = [c for c in cases if any(ch.kind == "answer" for ch in c.checks)]
    assert len(questions) >= 4 and any(c.flow is None and len(c.turns) == 1 for c in questions)  # no flow yet too
    flows = [c for c in cases if c not in questions]
    assert all(any(ch.kind == "valid" for ch in c.checks) for c in flows)  # the suite defaults apply
    edits = [c for c in cases if "edit" in c.tags and c.flow]
    assert len(edits) >= 5 and all(any(ch.kind == "preserves" for ch in c.checks) for c in edits)
    for edit in edits:  # the starting flow is valid and keeps everything: only the asked change is missing
        scores = {s.check: s for s in score_case(edit, Output(edit.flow)).scores}
        assert scores["valid"].passed and scores["preserves"].passed, edit.id
        assert not score_case(edit, Output(edit.flow)).passed, edit.id


def test_every_reference_flow_passes_its_own_case() -> None:
    """A reference is what a right answer looks like: it must satisfy every check of its case (else the
    case asks for something its reference does not do), and it is there for a `similar` check."""
    cases = load_suite(ROOT / "evals" / "core")
    with_reference = [c for c in cases if c.reference is not None]
    assert len(with_reference) >= 15
    for case_ in with_reference:
        assert any(ch.kind == "similar" for ch in case_.checks), f"{case_.id}: a reference without `similar`"
        scored = score_case(case_, Output(case_.reference))
        failed = [f"{s.check}: {s.detail}" for s in scored.scores if not s.passed and not s.skipped]
        assert scored.passed and scored.value == 1.0, f"{case_.id}: {failed}"


def test_the_concurrency_and_backfill_cases_check_what_they_ask() -> None:
    by_id = {c.id: c for c in load_suite(ROOT / "evals" / "core")}
    queued = """\
id: one_at_a_time
namespace: company.team
labels: {team: data, env: dev}
concurrency: {behavior: QUEUE, limit: 1}
tasks:
  - {id: log, type: io.kestra.plugin.core.log.Log, message: "{{ execution.id }}"}
"""
    concurrency = by_id["hello-labels-concurrency"]
    assert score_case(concurrency, Output(queued)).passed
    assert not score_case(concurrency, Output(queued.replace("QUEUE", "CANCEL"))).passed
    assert not score_case(concurrency, Output(queued.replace("behavior: QUEUE, ", ""))).passed

    monthly = by_id["monthly-backfill-safe"]
    assert "backfill" in monthly.tags and monthly.reference is not None
    from_today = monthly.reference.replace("(trigger.date ?? execution.startDate)", "now()")
    assert not score_case(monthly, Output(from_today)).passed  # a backfill would log today's month


def test_bad_cases_get_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("- id: x\n  turns: [hi]\n  checks: [nonsense]\n")
    with pytest.raises(CaseError, match="unknown check 'nonsense'"):
        load_suite(path)
    path.write_text("- id: x\n  turns: [hi]\n  checks: [similar]\n")
    with pytest.raises(CaseError, match="needs a `reference`"):
        load_suite(path)
    path.write_text("- id: x\n  turns: [hi]\n  checks: [valid]\n- id: x\n  turns: [again]\n  checks: [valid]\n")
    with pytest.raises(CaseError, match="used twice"):
        load_suite(path)
    with pytest.raises(CaseError, match="No eval cases"):
        load_suite(tmp_path / "missing")


def test_paths_select_by_index_key_regex_and_descendants() -> None:
    data = yaml.safe_load(FLOW)
    assert list(select(data, "inputs[0].defaults")) == ["2024-01"]
    assert list(select(data, "tasks[id=extract].uri")) == ["https://example.com/{{ inputs.month }}.csv"]
    assert list(select(data, "triggers[type~=Schedule].cron")) == ["0 9 1 * *"]
    assert list(select(data, "**[type~=log.Log].message")) == ["hi"]  # nested in the Parallel
    assert list(select(data, "tasks[id=nope].uri")) == []
    assert list(select(data, "tasks.*.id")) == ["extract", "steps"] and len(list(select(data, "tasks[1].tasks.*"))) == 1


def test_property_types_and_validity() -> None:
    checks = (
        Check("valid"),
        Check("types", {"required": ["Schedule", "io.kestra.plugin.core.http.Download"], "forbidden": ["Webhook"]}),
        Check("property", {"path": "triggers[type~=Schedule].cron", "equals": "0 9 1 * *"}),
        Check("property", {"path": "tasks[id=extract].uri", "matches": r"inputs\.month"}),
        Check("property", {"path": "tasks[id=debug]", "exists": False}),
    )
    good = score_case(case(*checks), Output(FLOW))
    assert good.passed and good.value == 1.0
    wrong = (
        FLOW.replace('"0 9 1 * *"', '"0 9 * * *"').replace("Schedule", "Webhook").replace("cron:", "key: k\n    cron:")
    )
    scores = {s.check: s for s in score_case(case(*checks), Output(wrong)).scores}
    assert not scores["valid"].passed and "1 error, first:" in scores["valid"].detail
    assert scores["types"].value == pytest.approx(1 / 3, abs=1e-3) and "forbidden Webhook" in scores["types"].detail
    assert "nothing there" in scores["property triggers[type~=Schedule].cron"].detail
    nothing = score_case(case(*checks), Output(None))
    assert nothing.value == 0.0 and all(s.detail == "no flow in the output" for s in nothing.scores)
    assert score_case(case(Check("parses")), Output("tasks: [unclosed")).value == 0.0


def test_secret_hygiene() -> None:
    leaky = FLOW.replace("    message: hi\n", "    message: hi\n    password: Sup3r-s3cret-pa55word\n")
    scores = score_case(case(Check("secrets")), Output(leaky)).scores
    assert not scores[0].passed and "credential" in scores[0].detail
    safe = FLOW.replace("    message: hi\n", "    message: \"{{ secret('DB_PASSWORD') }}\"\n")
    assert score_case(case(Check("secrets")), Output(safe)).passed


def test_a_literal_credential_fails_the_secrets_check_not_the_valid_one() -> None:
    """`valid` is Kestra's verdict, `secrets` the policy's: one finding is not counted twice. The assistant does
    not deploy a flow the policy refuses, so a test_run check does not run it either."""
    leaky = FLOW.replace("tasks:\n", "variables:\n  db_password: Sup3r-s3cret\ntasks:\n", 1)
    checks = (Check("valid"), Check("secrets"), Check("test_run"))
    scores = {s.check: s for s in score_case(case(*checks), Output(leaky)).scores}
    assert scores["valid"].passed and not scores["secrets"].passed
    test_run = scores["test_run"]
    assert not test_run.passed and not test_run.skipped
    assert test_run.detail == "cannot run: the flow is refused by policy (1 finding, first: hardcoded-secret)"


def test_similarity_to_a_reference_and_edit_preservation() -> None:
    similar = case(Check("similar", {"threshold": 0.8}), reference=FLOW)
    assert score_case(similar, Output(FLOW)).value == 1.0
    fewer = FLOW.replace(
        "  - id: extract\n    type: io.kestra.plugin.core.http.Download\n",
        "  - id: extract\n    type: io.kestra.plugin.core.log.Log\n    message: x\n",
    )
    partial = score_case(similar, Output(fewer))
    assert 0.3 < partial.value < 0.8 and not partial.passed

    edit = case(Check("preserves", {"except": ["extract"]}), flow=FLOW)
    retried = FLOW.replace("    uri:", "    retry: {type: constant, interval: PT1M, maxAttempts: 3}\n    uri:")
    assert score_case(edit, Output(retried)).passed  # the change is where it was asked
    renamed = retried.replace("namespace: company.team", "namespace: other").replace("message: hi", "message: ho")
    result = score_case(edit, Output(renamed)).scores[0]
    assert not result.passed and "hello" in result.detail and "namespace" in result.detail


def test_tasks_are_walked_one_way_and_a_flowable_is_judged_on_its_own_properties() -> None:
    data = yaml.safe_load(FLOW)
    assert [task_id for task_id, _ in tasks_by_id(data)] == ["extract", "steps", "hello"]  # not inputs, triggers
    assert is_task_list(data["tasks"]) and not is_task_list([]) and not is_task_list([*data["tasks"], "x"])
    assert not is_task_list([{"type": "io.kestra.plugin.core.log.Log"}])  # typed, but no task without an id

    # a list of typed settings that are not tasks is the task's own property: editing it is a change
    sinks = "        sinks: [{type: io.kestra.x.Sink, level: INFO}]\n"  # on `hello`
    typed = FLOW.replace("        message: hi\n", "        message: hi\n" + sinks)
    kept = case(Check("preserves", {"except": ["steps"]}), flow=typed)
    assert score_case(kept, Output(typed.replace("message: hi", "message: ho"))).scores[0].detail == "changed: hello"
    assert not score_case(kept, Output(typed.replace("level: INFO", "level: DEBUG"))).passed
    parent = case(Check("preserves", {"except": ["hello"]}), flow=typed)
    assert score_case(parent, Output(typed.replace("message: hi", "message: ho"))).passed  # only its child changed


def test_live_checks_are_skipped_offline_and_the_rubric_is_reported_apart() -> None:
    checks = (Check("valid"), Check("test_run"), Check("rubric"))
    offline = score_case(case(*checks), Output(FLOW))
    assert offline.passed and [s.skipped for s in offline.scores] == [False, True, True]
    assert not any(s.passed for s in offline.scores[1:])  # skipped, never passed
    live = score_case(case(*checks), Output(FLOW, live={"test_run": {"state": "FAILED"}, "rubric": {"grade": 5}}))
    assert not live.passed and live.value == 0.5  # the rubric's 5/5 does not count
    assert live.scores[2].apart and live.scores[2].value == 1.0


def test_a_flow_that_cannot_run_fails_its_test_run_live_or_not() -> None:
    checks = (Check("valid"), Check("test_run"))
    invented = FLOW.replace("    message: hi\n", "    message: hi\n    colour: red\n")
    for output in (Output(invented), Output(invented, live={"test_run": {"state": "NOT_RUN"}})):
        test_run = score_case(case(*checks), output).scores[1]
        assert not test_run.passed and not test_run.skipped and test_run.value == 0.0
    assert "cannot run: the flow is invalid (1 error," in score_case(case(*checks), Output(invented)).scores[1].detail
    nothing = score_case(case(*checks), Output(None)).scores[1]
    assert not nothing.skipped and nothing.detail == "cannot run: no flow in the output"
    garbage = score_case(case(*checks), Output("tasks: [unclosed")).scores[1]
    assert not garbage.skipped and not garbage.passed
    unreachable = Output(FLOW, live={"test_run": {"state": "NOT_RUN", "error": "no Kestra server: set KESTRA_URL"}})
    result = score_case(case(*checks), unreachable)
    assert not result.passed and result.scores[1].detail == "execution NOT_RUN: no Kestra server: set KESTRA_URL"


def edges(text: str) -> Counter[tuple[str, str]]:
    return Counter((a.rsplit(".", 1)[-1], b.rsplit(".", 1)[-1]) for a, b in flow_edges(yaml.safe_load(text)))


def tasks_yaml(*lines: str) -> str:
    return "id: f\nnamespace: n\ntasks:\n" + "\n".join(lines) + "\n"


def test_dag_edges_follow_parallel_branches_dag_dependencies_and_alternatives() -> None:
    parallel = tasks_yaml(
        "  - {id: start, type: io.kestra.plugin.core.log.Log, message: go}",
        "  - id: fan",
        "    type: io.kestra.plugin.core.flow.Parallel",
        "    tasks:",
        "      - {id: a, type: io.kestra.plugin.core.http.Download, uri: 'https://x/a'}",
        "      - {id: b, type: io.kestra.plugin.jdbc.duckdb.Query, sql: select 1}",
        "  - {id: done, type: io.kestra.plugin.core.debug.Return, format: ok}",
    )
    assert edges(parallel) == Counter(
        {("Log", "Parallel"): 1, ("Parallel", "Download"): 1, ("Parallel", "Query"): 1,
         ("Download", "Return"): 1, ("Query", "Return"): 1}
    )  # fmt: skip
    sequential = parallel.replace("flow.Parallel", "flow.Sequential")
    assert edges(sequential) == Counter(
        {("Log", "Sequential"): 1, ("Sequential", "Download"): 1, ("Download", "Query"): 1, ("Query", "Return"): 1}
    )
    foreach = parallel.replace("flow.Parallel", "flow.ForEach\n    values: [1, 2]")
    assert ("Download", "Query") in edges(foreach) and ("Parallel", "Query") not in edges(foreach)

    dag = tasks_yaml(
        "  - id: graph",
        "    type: io.kestra.plugin.core.flow.Dag",
        "    tasks:",
        "      - task: {id: extract, type: io.kestra.plugin.core.http.Download, uri: 'https://x'}",
        "      - task: {id: count, type: io.kestra.plugin.jdbc.duckdb.Query, sql: select 1}",
        "        dependsOn: [extract]",
        "      - task: {id: note, type: io.kestra.plugin.core.log.Log, message: hi}",
        "        dependsOn: [extract]",
        "      - task: {id: end, type: io.kestra.plugin.core.debug.Return, format: ok}",
        "        dependsOn: [count, note]",
        "  - {id: after, type: io.kestra.plugin.core.log.Echo, format: x}",
    )
    assert edges(dag) == Counter(
        {("Dag", "Download"): 1, ("Download", "Query"): 1, ("Download", "Log"): 1, ("Query", "Return"): 1,
         ("Log", "Return"): 1, ("Return", "Echo"): 1}
    )  # fmt: skip

    branches = tasks_yaml(
        "  - id: check",
        "    type: io.kestra.plugin.core.flow.If",
        "    condition: '{{ inputs.full }}'",
        "    then: [{id: full, type: io.kestra.plugin.core.log.Log, message: full}]",
        "    else: [{id: part, type: io.kestra.plugin.core.debug.Return, format: part}]",
        "  - {id: after, type: io.kestra.plugin.core.log.Echo, format: x}",
    )
    assert edges(branches) == Counter(
        {("If", "Log"): 1, ("If", "Return"): 1, ("Log", "Echo"): 1, ("Return", "Echo"): 1}
    )


def test_similarity_does_not_depend_on_the_order_of_parallel_branches() -> None:
    def fan(*children: str) -> str:
        return tasks_yaml("  - id: fan", "    type: io.kestra.plugin.core.flow.Parallel", "    tasks:", *children)

    download = "      - {id: a, type: io.kestra.plugin.core.http.Download, uri: 'https://x/a'}"
    log = "      - {id: b, type: io.kestra.plugin.core.log.Log, message: hi}"
    similar = case(Check("similar", {"threshold": 0.9}), reference=fan(download, log))
    assert score_case(similar, Output(fan(log, download))).value == 1.0
    chained = tasks_yaml(download[4:], log[4:])  # the same tasks one after the other, no Parallel
    assert score_case(similar, Output(chained)).value < 0.7
