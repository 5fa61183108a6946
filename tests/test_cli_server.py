"""`kestra-copilot validate --server`: the server's verdict merged into the offline one, against the
loopback Kestra double."""

import json
from pathlib import Path

import pytest

from copilot.cli import main
from tests.fakes.kestra import FakeKestra

# Valid offline (the acme plugin is not in the catalog: only a warning), refused by the server, which
# knows that plugin needs `endpoint`.
PRIVATE = (
    "id: hello\nnamespace: company.team\ntasks:\n"
    "  - id: say\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    "  - id: call\n    type: io.kestra.plugin.acme.Private\n"
)


@pytest.fixture()
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "hello.yml"
    path.write_text(PRIVATE)
    return path


def _env(monkeypatch: pytest.MonkeyPatch, fake: FakeKestra) -> None:
    monkeypatch.setenv("KESTRA_URL", fake.url)
    monkeypatch.setenv("KESTRA_USERNAME", fake.username)
    monkeypatch.setenv("KESTRA_PASSWORD", fake.password)


def test_server_constraints_join_the_offline_diagnostics(
    flow_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(flow_file)]) == 0  # offline: only "not in the offline catalog"
    capsys.readouterr()
    with FakeKestra() as fake:
        _env(monkeypatch, fake)
        assert main(["validate", str(flow_file), "--server"]) == 1
    out = capsys.readouterr().out
    assert f"{flow_file}:7:5: error[server-constraint]" in out and "endpoint: must not be null" in out
    assert "Kestra 1.3.2 at http://127.0.0.1" in out


def test_server_before_the_path_takes_the_configured_server_not_the_path_as_its_url(
    flow_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`validate --server flow.yml`, as people write it: the path is a path (argparse alone took it as the
    server's URL and then asked for a PATH)."""
    with FakeKestra() as fake:
        _env(monkeypatch, fake)
        assert main(["validate", "--server", str(flow_file)]) == 1
    out = capsys.readouterr().out
    assert "error[server-constraint]" in out and "Kestra 1.3.2 at http://127.0.0.1" in out
    assert main(["validate"]) == 2  # no path at all: said as an error, not a traceback
    assert "validate needs at least one PATH" in capsys.readouterr().err


def test_the_servers_major_version_picks_the_rules(
    flow_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeKestra(version="2.0.1") as fake:
        _env(monkeypatch, fake)
        main(["validate", str(flow_file), "--server", "--format", "json"])
    payload = json.loads(capsys.readouterr().out)
    assert payload["kestra_version"] == 2 and payload["server"].startswith("Kestra 2.0.1")
    codes = [d["code"] for d in payload["results"][0]["diagnostics"]]
    assert "server-constraint" in codes


def test_an_error_both_find_is_reported_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "typo.yml"
    path.write_text(PRIVATE.replace("message: hi", "mesage: hi").split("  - id: call")[0])
    with FakeKestra() as fake:
        _env(monkeypatch, fake)
        assert main(["validate", str(path), "--server", "--format", "json"]) == 1
    diagnostics = json.loads(capsys.readouterr().out)["results"][0]["diagnostics"]
    by_line = [(d["line"], d["code"]) for d in diagnostics if d["severity"] == "error"]
    assert (6, "unknown-property") in by_line and (6, "server-constraint") not in by_line


def test_an_unreachable_server_falls_back_to_the_offline_verdict(
    flow_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeKestra() as fake:
        url = fake.url
    monkeypatch.setenv("KESTRA_URL", url)
    assert main(["validate", str(flow_file), "--server"]) == 0
    captured = capsys.readouterr()
    assert "Cannot reach Kestra" in captured.err and "offline verdict only" in captured.err
    assert "valid (0 errors" in captured.out


def test_an_empty_server_answer_is_no_verdict_not_a_pass(
    flow_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeKestra() as fake:
        fake.validate_answer = []
        _env(monkeypatch, fake)
        assert main(["validate", str(flow_file), "--server"]) == 0
    captured = capsys.readouterr()
    assert "gave no verdict on the flow" in captured.err and "offline verdict only" in captured.err


def test_no_server_configured_is_a_usage_error(flow_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(flow_file), "--server"]) == 2
    assert "No Kestra server is configured" in capsys.readouterr().err
