"""`deploy` and `run` against the loopback Kestra."""

from pathlib import Path

import pytest

from copilot.cli import main
from copilot.kestra import allowed_namespace, with_namespace
from tests.fakes.kestra import FakeKestra
from tests.kestra.test_flows_executions import FLOW


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "hello.yml"
    path.write_text(FLOW)
    return path


def test_deploy_new_then_changed_then_unchanged(
    kestra: FakeKestra, flow_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy", str(flow_file), "--yes"]) == 0
    out = capsys.readouterr().out
    assert "new flow company.team/hello" in out and "revision 1" in out
    assert f"{kestra.url}/ui/main/flows/edit/company.team/hello" in out
    flow_file.write_text(FLOW.replace('"42"', '"43"'))
    assert main(["deploy", str(flow_file), "--yes"]) == 0
    out = capsys.readouterr().out
    assert "--- server revision 1" in out and '-    format: "42"' in out and '+    format: "43"' in out
    assert "revision 2" in out
    assert main(["deploy", str(flow_file), "--yes"]) == 0
    assert "already up to date (revision 2)" in capsys.readouterr().out


def test_deploy_refuses_what_the_server_refuses(
    kestra: FakeKestra, flow_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow_file.write_text(FLOW.replace("format:", "colour:"))
    assert main(["deploy", str(flow_file), "--yes"]) == 1
    err = capsys.readouterr().err
    assert "colour" in err and "nothing was deployed" in err
    assert ("company.team", "hello") not in kestra.flows


def test_deploy_refuses_a_literal_credential_by_policy_unless_told_to_warn(
    kestra: FakeKestra, flow_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As validate and the chat's F6 do: Kestra would accept the flow, the project's policy does not."""
    flow_file.write_text(FLOW.replace("tasks:", "variables:\n  db_password: hunter2\ntasks:", 1))
    assert main(["deploy", str(flow_file), "--yes"]) == 1
    err = capsys.readouterr().err
    assert "policy[hardcoded-secret]" in err and "refused by policy (Kestra would accept it)" in err
    assert not kestra.flows and not kestra.requests  # nothing reached the server
    assert main(["deploy", str(flow_file), "--yes", "--policy", "warn"]) == 0
    assert "policy[hardcoded-secret]" in capsys.readouterr().err and ("company.team", "hello") in kestra.flows


def test_deploy_without_a_server_verdict_deploys_nothing(
    kestra: FakeKestra, flow_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kestra.validate_answer = []  # Kestra answered 200 with an empty list of results
    assert main(["deploy", str(flow_file), "--yes"]) == 2
    err = capsys.readouterr().err
    assert "gave no verdict on the flow" in err and "Retry" in err
    assert not kestra.flows and not [p for m, p in kestra.requests if m == "POST" and p.endswith("/flows")]


def test_deploy_needs_confirmation_without_a_terminal(
    kestra: FakeKestra, flow_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy", str(flow_file)]) == 2
    assert "Pass --yes" in capsys.readouterr().err and not kestra.flows


def test_deploy_namespace_override_and_allow_list(
    kestra: FakeKestra, flow_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KESTRA_COPILOT_DEPLOY_NAMESPACES", "sandbox")
    assert main(["deploy", str(flow_file), "--yes"]) == 2
    assert "not in the deploy allow-list" in capsys.readouterr().err
    assert main(["deploy", str(flow_file), "--yes", "--namespace", "sandbox.copilot"]) == 0
    assert ("sandbox.copilot", "hello") in kestra.flows
    assert allowed_namespace("sandbox", "sandbox") and not allowed_namespace("sandboxes", "sandbox")
    assert with_namespace("id: a\nnamespace: x\n", "y") == "id: a\nnamespace: y\n"


def test_deploy_with_the_server_down_is_one_clear_message(flow_file: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("KESTRA_URL", "http://127.0.0.1:9")
    assert main(["deploy", str(flow_file), "--yes"]) == 2
    err = capsys.readouterr().err
    assert "Cannot reach Kestra" in err and err.count("\n") <= 3
    assert flow_file.read_text() == FLOW  # the flow is untouched


def test_run_follows_to_success(kestra: FakeKestra, flow_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kestra.task_logs = {"greet": [("INFO", "Hello world")]}
    assert main(["deploy", str(flow_file), "--yes"]) == 0
    capsys.readouterr()
    assert main(["run", "company.team/hello", "--input", "who=world", "--label", "env:test"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("execution exec0001")
    assert "greet                    RUNNING" in out and "greet                    SUCCESS" in out
    assert "INFO  Hello world" in out and out.splitlines()[-1] == "SUCCESS in 0.1s"


def test_run_follows_on_when_the_execution_stream_is_cut(
    kestra: FakeKestra, flow_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A proxy's idle timeout or a restart cuts Kestra's stream: the execution goes on, and so does `run`
    (it used to stop with exit 2 and advise running the flow again, which would start another execution)."""
    assert main(["deploy", str(flow_file), "--yes"]) == 0
    capsys.readouterr()
    kestra.step_seconds, kestra.drop_follow_after = 0.3, 1  # every stream is cut after its first event
    assert main(["run", "company.team/hello", "--input", "who=world"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("SUCCESS") and len(kestra.executions) == 1


FILE_FLOW = """id: load
namespace: company.team
inputs:
  - id: data
    type: FILE
tasks:
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "{{ read(inputs.data) }}"
"""


def test_run_sends_a_file_input_as_a_file_part(
    kestra: FakeKestra, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "load.yml"
    flow.write_text(FILE_FLOW)
    data = tmp_path / "taxi.csv"
    data.write_bytes(b"vendor,fare\r\n1,12.5\n\xef\xbb\xbf2,7\n")
    assert main(["deploy", str(flow), "--yes"]) == 0
    assert main(["run", "company.team/load", "--file", f"data={data}"]) == 0
    uri = "kestra:///company/team/load/executions/exec0001/inputs/data/taxi.csv"
    assert kestra.executions["exec0001"]["inputs"] == {"data": uri}
    assert kestra.storage == {uri: data.read_bytes()}
    assert "SUCCESS" in capsys.readouterr().out.splitlines()[-1]


def test_run_with_a_missing_file_says_which_and_runs_nothing(
    kestra: FakeKestra, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "load.yml"
    flow.write_text(FILE_FLOW)
    assert main(["deploy", str(flow), "--yes"]) == 0
    kestra.requests.clear()
    assert main(["run", "company.team/load", "--file", f"data={tmp_path / 'missing.csv'}"]) == 2
    assert f"--file data={tmp_path / 'missing.csv'}: there is no such file." in capsys.readouterr().err
    assert not kestra.executions and not kestra.requests  # refused before Kestra was asked anything


def test_run_reports_the_failing_task_and_its_errors(
    kestra: FakeKestra, flow_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kestra.outcomes = {"answer": "FAILED"}
    kestra.task_logs = {"answer": [("INFO", "starting"), ("ERROR", "boom: division by zero")]}
    assert main(["deploy", str(flow_file), "--yes"]) == 0
    assert main(["run", "company.team/hello", "--input", "who=x"]) == 1
    out = capsys.readouterr().out
    verdict = out[out.index("FAILED at task answer") :]
    assert "ERROR boom: division by zero" in verdict and "starting" not in verdict


@pytest.mark.parametrize(
    "fault",
    [{"log_follow_status": 503}, {"log_follow_status": 404}, {"drop_log_follow_after": 1}],
    ids=["log stream refused", "no log stream route", "log stream cut"],
)
def test_run_reads_the_failing_tasks_logs_when_the_live_stream_fails(
    kestra: FakeKestra, flow_file: Path, fault: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """The verdict reads the failing task run's lines with the plain logs request, asking again while
    Kestra's indexer has not stored them yet: the live stream that would have waited for them failed."""
    kestra.outcomes = {"answer": "FAILED"}
    kestra.task_logs = {
        "greet": [("INFO", "hello")],
        "answer": [("INFO", "starting"), ("ERROR", "boom: no such table")],
    }
    assert main(["deploy", str(flow_file), "--yes"]) == 0
    for name, value in fault.items():
        setattr(kestra, name, value)
    kestra.unindexed_log_reads = 2
    capsys.readouterr()
    assert main(["run", "company.team/hello", "--input", "who=x"]) == 1
    captured = capsys.readouterr()
    assert "(live logs stopped:" in captured.err
    verdict = captured.out[captured.out.index("FAILED at task answer") :].splitlines()
    assert verdict == ["FAILED at task answer in 0.1s", "  ERROR boom: no such table"]
    reads = [e["query"] for e in kestra.exchanges if e["path"] == "/api/v1/main/logs/exec0001"]
    assert reads[-1] == {"minLevel": ["INFO"], "taskRunId": ["exec0001-run1"]} and len(reads) == 3


def test_run_without_a_duration_from_kestra_says_none(
    kestra: FakeKestra, flow_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`duration` is nullable: the verdict then takes the end date less the start date, never `in ?`."""
    kestra.omit_duration = True
    assert main(["deploy", str(flow_file), "--yes"]) == 0
    assert main(["run", "company.team/hello", "--input", "who=x"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("SUCCESS in ") and last.endswith("s") and "?" not in last


def test_a_failed_task_without_log_lines_says_where_to_look(
    kestra: FakeKestra, flow_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kestra.outcomes = {"answer": "FAILED"}
    assert main(["deploy", str(flow_file), "--yes"]) == 0
    assert main(["run", "company.team/hello", "--input", "who=x"]) == 1
    out = capsys.readouterr().out
    url = f"{kestra.url}/ui/main/executions/company.team/hello/exec0001"
    assert out.splitlines()[-1] == f"  (Kestra has no log lines of task answer yet; see the execution in {url})"


def test_run_usage_errors(kestra: FakeKestra, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "nonamespace"]) == 2
    assert main(["run", "company.team/hello", "--input", "novalue"]) == 2
    assert main(["run", "company.team/missing"]) == 2
    assert "Requested Flow is not found" in capsys.readouterr().err


def test_a_wrong_tenant_says_so(kestra: FakeKestra, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("KESTRA_TENANT", "other")
    assert main(["run", "company.team/hello"]) == 2
    assert "KESTRA_TENANT, now 'other'" in capsys.readouterr().err


def test_run_gives_up_following_at_the_timeout(kestra: FakeKestra, flow_file: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert main(["deploy", str(flow_file), "--yes"]) == 0
    kestra.step_seconds = 2.0
    assert main(["run", "company.team/hello", "--input", "who=x", "--timeout", "0.3"]) == 1
    assert "still running after 0.3s;" in capsys.readouterr().err
