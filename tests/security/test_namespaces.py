"""Namespaces: what the model writes lands only where the user allowed — the test namespace for a test-run,
the namespace given with `--namespace` — set on the parsed document, checked against the allow-list for
every write and execution, and checked again in what the server reports after the deploy.

The attack: a `description` block holding a `namespace:` line, or a quoted `"namespace":` key, so that a
line-based rewrite changes the wrong line and the flow lands in the team's own namespace.
"""

from pathlib import Path

import pytest

from copilot.cli import main
from copilot.config import load_settings
from copilot.errors import ConfigError, CopilotError
from copilot.flows import parse_flow, remove_top_level, set_top_level
from copilot.kestra import with_namespace
from tests.fakes.gemini import FakeGemini, Reply
from tests.fakes.kestra import FakeKestra

# A quoted description may continue at column 0: its second line looks like the top-level key.
DESCRIPTION_TRAP = """id: sneaky
description: "Loads the data.
namespace: company.team.copilot_test"
namespace: company.team
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
"""
QUOTED_KEY = """id: sneaky
"namespace": company.team
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


def namespaces_written(kestra: FakeKestra) -> set[str]:
    """Every namespace a flow was created or updated in (from the requests and what the server holds)."""
    created = {ns for ns, _ in kestra.flows}
    executed = {e["namespace"] for e in kestra.executions.values()}
    return created | executed


# --- the namespace is the one the parser sees -------------------------------------------------------------
@pytest.mark.parametrize("flow", [DESCRIPTION_TRAP, QUOTED_KEY], ids=["description-block", "quoted-key"])
def test_a_test_run_lands_in_the_test_namespace_whatever_the_text_looks_like(
    flow: str, gemini: FakeGemini, kestra: FakeKestra, capsys: pytest.CaptureFixture[str]
) -> None:
    gemini.script(Reply(f"```yaml\n{flow}```"))
    assert main(["ask", "say hi", "--test-run", "--yes", "--keep-test-flow", "--recipe", "no-retrieval"]) == 0
    assert namespaces_written(kestra) == {"company.team.copilot_test"}
    (source,) = kestra.flows.values()
    assert parse_flow(source).data["namespace"] == "company.team.copilot_test"
    assert "deployed company.team.copilot_test/sneaky" in capsys.readouterr().err


@pytest.mark.parametrize("flow", [DESCRIPTION_TRAP, QUOTED_KEY], ids=["description-block", "quoted-key"])
def test_deploy_namespace_sets_the_namespace_kestra_reads(flow: str, kestra: FakeKestra, tmp_path: Path) -> None:
    path = tmp_path / "flow.yml"
    path.write_text(flow)
    assert main(["deploy", str(path), "--yes", "--namespace", "sandbox.copilot"]) == 0
    assert list(kestra.flows) == [("sandbox.copilot", "sneaky")]


def test_the_edit_keeps_the_rest_of_the_text() -> None:
    edited = with_namespace(DESCRIPTION_TRAP, "sandbox.x")
    assert edited == DESCRIPTION_TRAP.replace("\nnamespace: company.team\n", "\nnamespace: sandbox.x\n")
    flow_style = "{id: a, namespace: b, tasks: [{id: t, type: io.kestra.plugin.core.log.Log, message: hi}]}"
    assert parse_flow(with_namespace(flow_style, "c")).data["namespace"] == "c"
    missing = "id: a  # no namespace\ntasks: []\n"
    assert parse_flow(set_top_level(missing, "namespace", "c")).data == {"namespace": "c", "id": "a", "tasks": []}
    triggers = "id: a\ntriggers:\n  - id: t\n    type: x.Schedule\n# keep me\nnamespace: b\n"
    assert parse_flow(remove_top_level(triggers, "triggers")).data == {"id": "a", "namespace": "b"}


@pytest.mark.parametrize("bad", ["Company Team", "team\nfoo: bar", "", ".hidden", "a" * 151])
def test_a_namespace_that_is_not_one_is_refused(bad: str) -> None:
    with pytest.raises(CopilotError, match="not a Kestra namespace"):
        with_namespace(DESCRIPTION_TRAP, bad)


def test_a_flow_that_sets_its_namespace_twice_is_refused(kestra: FakeKestra, tmp_path: Path) -> None:
    twice = DESCRIPTION_TRAP + "namespace: company.team.other\n"
    path = tmp_path / "flow.yml"
    path.write_text(twice)
    assert main(["deploy", str(path), "--yes", "--namespace", "sandbox.x"]) == 2
    assert not kestra.flows


def test_a_server_that_stores_the_flow_elsewhere_is_an_error_that_deletes_nothing(
    gemini: FakeGemini, kestra: FakeKestra, capsys: pytest.CaptureFixture[str]
) -> None:
    kestra.misplace_into = "company.team"
    kestra.flows[("company.team", "keepme")] = "id: keepme\nnamespace: company.team\ntasks: []\n"
    kestra.revisions[("company.team", "keepme")] = 1
    gemini.script(Reply(f"```yaml\n{DESCRIPTION_TRAP}```"))
    assert main(["ask", "say hi", "--test-run", "--yes", "--recipe", "no-retrieval"]) == 2
    err = capsys.readouterr().err
    assert "stored the flow as company.team/sneaky, not company.team.copilot_test/sneaky" in err
    assert not kestra.executions  # nothing ran
    assert ("company.team", "keepme") in kestra.flows and ("company.team", "sneaky") in kestra.flows  # nothing deleted
    assert not [p for m, p in kestra.requests if m == "DELETE"]


def test_a_flow_at_the_test_location_that_is_not_a_test_copy_is_never_overwritten(
    gemini: FakeGemini, kestra: FakeKestra, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = "id: sneaky\nnamespace: company.team.copilot_test\ntasks: []\n"
    kestra.flows[("company.team.copilot_test", "sneaky")] = mine
    kestra.revisions[("company.team.copilot_test", "sneaky")] = 1
    gemini.script(Reply(f"```yaml\n{DESCRIPTION_TRAP}```"))
    assert main(["ask", "say hi", "--test-run", "--yes", "--recipe", "no-retrieval"]) == 2
    assert "is not a kestra-copilot test copy" in capsys.readouterr().err
    assert kestra.flows[("company.team.copilot_test", "sneaky")] == mine and not kestra.executions


# --- the allow-list applies to every write and execution --------------------------------------------------
def test_a_test_run_outside_the_allow_list_is_refused(
    gemini: FakeGemini, kestra: FakeKestra, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KESTRA_COPILOT_DEPLOY_NAMESPACES", "sandbox")
    gemini.script(Reply(f"```yaml\n{DESCRIPTION_TRAP}```"))
    assert main(["ask", "say hi", "--test-run", "--yes", "--recipe", "no-retrieval"]) == 2
    assert "'company.team.copilot_test' is not in the deploy allow-list" in capsys.readouterr().err
    assert not kestra.flows and not kestra.executions


def test_run_outside_the_allow_list_is_refused(
    kestra: FakeKestra, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kestra.flows[("company.team", "etl")] = "id: etl\nnamespace: company.team\ntasks: []\n"
    kestra.revisions[("company.team", "etl")] = 1
    monkeypatch.setenv("KESTRA_COPILOT_DEPLOY_NAMESPACES", "sandbox")
    assert main(["run", "company.team/etl"]) == 2
    assert "not in the deploy allow-list (sandbox); nothing was run" in capsys.readouterr().err
    assert not kestra.executions


# --- the test namespace is always another namespace ----------------------------------------------------------
@pytest.mark.parametrize("suffix", ['""', '"."', '" "', '"copilot_test"', '".Bad Suffix"'])
def test_the_test_namespace_suffix_cannot_be_empty_or_malformed(suffix: str, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"test_namespace_suffix = {suffix}\n")
    with pytest.raises(ConfigError, match="test_namespace_suffix"):
        load_settings(path=config)


def test_a_suffix_like_the_namespaces_own_end_still_makes_another_namespace(
    gemini: FakeGemini, kestra: FakeKestra, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KESTRA_COPILOT_TEST_NAMESPACE_SUFFIX", ".team")
    gemini.script(Reply(f"```yaml\n{DESCRIPTION_TRAP}```"))
    assert main(["ask", "say hi", "--test-run", "--yes", "--keep-test-flow", "--recipe", "no-retrieval"]) == 0
    assert namespaces_written(kestra) == {"company.team.team"}


@pytest.mark.parametrize("suffix", ['".copilot_test."', '".a..b"'])
def test_a_suffix_must_make_a_well_formed_namespace(suffix: str, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"test_namespace_suffix = {suffix}\n")
    with pytest.raises(ConfigError, match="test_namespace_suffix"):
        load_settings(path=config)


def test_the_allow_list_may_be_a_toml_list_and_an_empty_one_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('deploy_namespaces = ["sandbox", "dev.team"]\n')
    assert load_settings(path=config).deploy_namespaces == "sandbox,dev.team"
    for empty in ("[]", '""', '"a,,b"'):
        config.write_text(f"deploy_namespaces = {empty}\n")
        with pytest.raises(ConfigError, match="deploy_namespaces must list namespaces"):
            load_settings(path=config)


def test_a_flow_created_at_the_test_place_while_the_user_decides_is_not_overwritten(
    gemini: FakeGemini, kestra: FakeKestra, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    theirs = "id: sneaky\nnamespace: company.team.copilot_test\ntasks: []\n"

    class SlowTerminal:
        """A person who reads for a while; meanwhile a colleague deploys a flow of the same name there."""

        def isatty(self) -> bool:
            return True

        def readline(self) -> str:
            kestra.flows[("company.team.copilot_test", "sneaky")] = theirs
            kestra.revisions[("company.team.copilot_test", "sneaky")] = 1
            return "y\n"

    monkeypatch.setattr("sys.stdin", SlowTerminal())
    gemini.script(Reply(f"```yaml\n{DESCRIPTION_TRAP}```"))
    assert main(["ask", "say hi", "--test-run", "--recipe", "no-retrieval"]) == 2
    assert "is not a kestra-copilot test copy" in capsys.readouterr().err
    assert kestra.flows[("company.team.copilot_test", "sneaky")] == theirs and not kestra.executions


@pytest.mark.parametrize("version", ["1.3.2", "2.0.1"])
def test_a_create_only_deploy_never_overwrites_a_flow_that_exists(version: str) -> None:
    import asyncio

    from copilot.kestra import KestraClient, KestraConflict

    theirs = "id: etl\nnamespace: team\ntasks: []\n"
    mine = "id: etl\nnamespace: team\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"

    async def scenario(kestra: FakeKestra) -> None:
        async with KestraClient(kestra.url, username=kestra.username, password=kestra.password) as client:
            with pytest.raises(KestraConflict, match="was created on the server in the meantime"):
                await client.deploy(mine, "team", "etl", update=False)

    with FakeKestra(version=version) as kestra:
        kestra.flows[("team", "etl")], kestra.revisions[("team", "etl")] = theirs, 1
        asyncio.run(scenario(kestra))
        assert kestra.flows[("team", "etl")] == theirs


@pytest.mark.parametrize("target", ["sandbox/x?y=1#z", "sandbox/../etl", "Sandbox Team/etl"])
def test_run_refuses_what_is_not_a_namespace_and_a_flow_id(
    target: str, kestra: FakeKestra, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", target]) == 2
    assert "is not a Kestra" in capsys.readouterr().err and not kestra.executions and not kestra.requests


@pytest.mark.parametrize("meanwhile", ["created", "changed"])
def test_deploy_never_overwrites_what_a_colleague_deployed_while_the_user_decided(
    meanwhile: str,
    kestra: FakeKestra,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mine = tmp_path / "mine.yml"
    mine.write_text(
        "id: shared\nnamespace: team\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: mine\n"
    )
    theirs = (
        "id: shared\nnamespace: team\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: theirs\n"
    )
    if meanwhile == "changed":
        kestra.flows[("team", "shared")], kestra.revisions[("team", "shared")] = theirs.replace("theirs", "v1"), 1

    class Colleague:
        """The user reads the diff; meanwhile a colleague deploys the same flow."""

        def isatty(self) -> bool:
            return True

        def readline(self) -> str:
            kestra.flows[("team", "shared")] = theirs
            kestra.revisions[("team", "shared")] = kestra.revisions.get(("team", "shared"), 0) + 1
            return "y\n"

    monkeypatch.setattr("sys.stdin", Colleague())
    assert main(["deploy", str(mine)]) == 2
    assert "changed on the server while you were deciding" in capsys.readouterr().err
    assert kestra.flows[("team", "shared")] == theirs


def test_a_flow_calling_a_flow_outside_the_allow_list_is_neither_test_run_nor_deployed(
    gemini: FakeGemini,
    kestra: FakeKestra,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls_prod = (
        "id: caller\nnamespace: company.team\ntasks:\n  - id: charge\n    type: io.kestra.plugin.core.flow.Subflow\n"
        "    namespace: prod.billing\n    flowId: charge_all_customers\n"
    )
    monkeypatch.setenv("KESTRA_COPILOT_DEPLOY_NAMESPACES", "company")
    gemini.script(Reply(f"```yaml\n{calls_prod}```"))
    assert main(["ask", "charge them", "--test-run", "--yes", "--recipe", "no-retrieval"]) == 2
    assert "calls prod.billing/charge_all_customers" in capsys.readouterr().err
    path = tmp_path / "caller.yml"
    path.write_text(calls_prod)
    assert main(["deploy", str(path), "--yes"]) == 2
    assert "outside the deploy allow-list" in capsys.readouterr().err
    assert not kestra.flows and not kestra.executions


def test_with_an_allow_list_a_flow_calling_a_namespace_picked_at_run_time_is_refused(
    kestra: FakeKestra, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    computed = (
        "id: caller\nnamespace: company.team\nvariables:\n  ns: prod.billing\ntasks:\n  - id: charge\n"
        '    type: io.kestra.plugin.core.flow.Subflow\n    namespace: "{{ vars.ns }}"\n    flowId: charge_all\n'
    )
    path = tmp_path / "caller.yml"
    path.write_text(computed)
    monkeypatch.setenv("KESTRA_COPILOT_DEPLOY_NAMESPACES", "company")
    assert main(["deploy", str(path), "--yes"]) == 2
    assert "a namespace an expression picks at run time" in capsys.readouterr().err and not kestra.flows
