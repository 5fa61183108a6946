"""Messages read as sentences a user can act on: no exception class names or doubled punctuation, a source
named once, a flow named as `run` takes it (NAMESPACE/FLOW_ID), and a type suggested only from its own
plugin family or kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from copilot.cli import main
from tests.conftest import shared_path
from tests.fakes.hosted_schema import HostedSchema
from tests.fakes.kestra import FakeKestra

FLOW = "id: hello\nnamespace: company.team\ntasks:\n  - id: say\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"


def test_an_unreachable_server_is_one_warning_and_its_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "hello.yml"
    flow.write_text(FLOW)
    with FakeKestra() as gone:
        url = gone.url
    monkeypatch.setenv("KESTRA_URL", url)
    assert main(["validate", str(flow), "--server"]) == 0
    warning, hint = capsys.readouterr().err.splitlines()
    said = f"warning: Cannot reach Kestra at {url} to read the server version: "
    assert warning.startswith(said) and warning.endswith(". Showing the offline verdict only.")
    reason = warning[len(said) : -len(". Showing the offline verdict only.")]
    assert reason and "Error" not in reason and not reason.endswith((".", ";")), reason
    assert hint == "hint: Is the server running? Check KESTRA_URL."


def test_run_names_the_flow_as_it_was_given(kestra: FakeKestra, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "company.team/taxi"]) == 2
    err = capsys.readouterr().err
    assert "(run company.team/taxi)" in err and "company.team.taxi" not in err


def test_deploy_names_the_flow_as_run_takes_it(
    kestra: FakeKestra, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "hello.yml"
    flow.write_text(FLOW)
    assert main(["deploy", str(flow), "--yes"]) == 0
    out = capsys.readouterr().out
    assert "new flow company.team/hello" in out and "deployed company.team/hello revision 1" in out


@pytest.mark.parametrize(
    ("type_name", "suggested"),
    [
        ("io.kestra.plugin.jdbc.postgresql.Queries", None),  # no JDBC plugin on that server: nothing alike
        ("io.kestra.plugin.core.http.Requests", "io.kestra.plugin.core.http.Request"),  # a typo in its family
    ],
)
def test_a_type_is_suggested_only_from_its_own_plugin_family(
    type_name: str, suggested: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server_schema = shared_path("kestra-api", "kestra-flow-schema-sample-libs-copilot.json")
    flow = tmp_path / "merge.yml"
    flow.write_text(FLOW.replace("io.kestra.plugin.core.log.Log", type_name))
    assert main(["validate", str(flow), "--schema", str(server_schema)]) == 1
    out = capsys.readouterr().out
    assert f"Unknown task type `{type_name}`" in out
    if suggested is None:
        assert "Did you mean" not in out
    else:
        assert f"Did you mean `{suggested}`?" in out


# --- which source judged, said once and by its name ------------------------------------------------------------
PRIVATE = FLOW.replace("io.kestra.plugin.core.log.Log", "io.kestra.plugin.private.Mine")


def test_a_users_schema_file_is_named_where_a_type_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = shared_path("kestra-api", "kestra-flow-schema-sample-libs-copilot.json")
    flow = tmp_path / "mine.yml"
    flow.write_text(PRIVATE)
    assert main(["validate", str(flow), "--schema", str(schema)]) == 1
    out = capsys.readouterr().out
    assert f"it is not in {schema}:" in out and "server's plugins" not in out


def test_validate_server_names_the_server_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "hello.yml"
    flow.write_text(FLOW)
    sample = json.loads(shared_path("kestra-api", "kestra-flow-schema-sample-libs-copilot.json").read_text())
    for schema in (sample, None):  # its own schema judges offline; an older server's: the bundled catalog
        with FakeKestra(flow_schema=schema) as kestra:
            for variable, value in (("URL", kestra.url), ("USERNAME", kestra.username), ("PASSWORD", kestra.password)):
                monkeypatch.setenv(f"KESTRA_{variable}", value)
            assert main(["validate", str(flow), "--server"]) == 0
        (line,) = capsys.readouterr().out.splitlines()
        assert line.count(kestra.url) == 1, line
        offline = "the flow schema of Kestra 1.3.2 at {url} for plugins, with the Kestra 1.x flow model"
        expected = (
            offline + " + the server's own check" if schema else "bundled catalog (Kestra 1.x) + Kestra 1.3.2 at {url}"
        )
        assert line.endswith(" — " + expected.format(url=kestra.url)), line


def test_when_the_live_schema_cannot_be_had_an_unchecked_type_says_so(
    live_on: HostedSchema, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live_on.body = None  # down, never fetched: the bundled catalog judges
    flow = tmp_path / "mine.yml"
    flow.write_text(PRIVATE)
    assert main(["validate", str(flow)]) == 0
    out = capsys.readouterr().out
    assert "warning[type-not-in-catalog]" in out and "hint: Kestra's live schema is off or could not be fetched;" in out
