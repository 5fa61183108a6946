import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from copilot.cli import main
from copilot.flows import SchemaLoadError
from copilot.schema_store import load_schema
from tests.conftest import shared_path
from tests.fakes.loopback import LoopbackServer, QuietHandler

GOOD = "id: hello\nnamespace: company.team\ntasks:\n  - id: say\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
BAD = GOOD.replace("message: hi", "message: hi\n    colour: red")


@pytest.fixture
def flows(tmp_path: Path) -> tuple[Path, Path]:
    good, bad = tmp_path / "good.yml", tmp_path / "bad.yml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    return good, bad


def test_validate_exit_codes(flows: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = flows
    assert main(["validate", str(good)]) == 0
    assert "valid (0 errors, 0 warnings)" in capsys.readouterr().out
    assert main(["validate", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:7:5: error[unknown-property]" in out and "invalid (1 error" in out
    assert main(["validate", str(good.parent / "missing.yml")]) == 2
    assert "Cannot read" in capsys.readouterr().err


def test_validate_json_shape(flows: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, bad = flows
    assert main(["validate", str(bad), "--format", "json", "--kestra-version", "2"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["kestra_version"] == 2 and "bundled catalog" in payload["schema"]
    [result] = payload["results"]
    assert result["file"] == str(bad) and result["valid"] is False
    [diagnostic] = result["diagnostics"]
    assert set(diagnostic) == {"severity", "code", "message", "line", "column", "path", "hint"}
    assert (diagnostic["severity"], diagnostic["code"], diagnostic["line"]) == ("error", "unknown-property", 7)


def test_a_hardcoded_secret_is_refused_by_policy_not_by_kestra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real blueprints Kestra publishes (and accepts) paste an API key: the verdict says Kestra accepts them and
    the project's policy refuses them; exit 1 by default, 0 with `--policy warn`; JSON tells the two apart."""
    records = {r["id"]: r for r in map(json.loads, shared_path("kestra-flows", "dev.jsonl").open(encoding="utf-8"))}
    files = []
    for flow_id in ("bp-cloudquery-sync", "bp-cloudquery-sync-hn-to-parquet"):
        files.append(tmp_path / f"{flow_id}.yml")
        files[-1].write_text(records[flow_id]["yaml"])
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD.replace("message: hi", "message: hi\n    password: hunter2x"))
    names = [str(f) for f in files]

    assert main(["validate", *names]) == 1
    out = capsys.readouterr().out
    assert "error[" not in out and f"{files[0]}:8:7: policy[hardcoded-secret]" in out
    assert out.count("refused by policy, valid for Kestra (0 errors, 1 policy finding,") == 2
    assert main(["validate", *names, "--policy", "warn"]) == 0
    out = capsys.readouterr().out
    assert out.count("policy[hardcoded-secret]") == 2 and out.count("1 policy finding, 1 warning, --policy warn)") == 2

    assert main(["validate", *names, str(bad), "--format", "json"]) == 1
    results = json.loads(capsys.readouterr().out)["results"]
    assert [(r["valid"], r["passed"]) for r in results] == [(True, False), (True, False), (False, False)]
    assert {d["severity"] for d in results[0]["diagnostics"] if d["code"] == "hardcoded-secret"} == {"policy"}
    assert {(d["severity"], d["code"]) for d in results[2]["diagnostics"]} == {
        ("error", "unknown-property"),
        ("policy", "hardcoded-secret"),
    }
    assert main(["validate", *names, str(bad), "--format", "json", "--policy", "warn"]) == 1  # bad stays invalid
    assert [r["passed"] for r in json.loads(capsys.readouterr().out)["results"]] == [True, True, False]


def test_validate_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(GOOD))
    assert main(["validate", "-"]) == 0


def test_validate_with_a_schema_file(flows: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    good, _ = flows
    sample = shared_path("kestra-api", "kestra-flow-schema-sample-libs-copilot.json")
    assert main(["validate", str(good), "--schema", str(sample)]) == 0
    assert str(sample) in capsys.readouterr().out
    assert main(["validate", str(good), "--schema", str(good)]) == 2
    assert "is not JSON" in capsys.readouterr().err


def test_schema_command_writes_a_kestra_format_schema(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    assert main(["schema", "--kestra-version", "2", "-o", str(target)]) == 0
    schema = json.loads(target.read_text())
    assert schema["$ref"] == "#/definitions/io.kestra.core.models.flows.Flow"
    assert "pluginDefaults" not in schema["definitions"]["io.kestra.core.models.flows.Flow"]["properties"]


def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaSyD-very-secret-key-000000")
    monkeypatch.setenv("KESTRA_PASSWORD", "correct-horse-battery")
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert "very-secret" not in out and "correct-horse" not in out and "AIza…(30 chars)" in out


def test_config_show_says_where_a_config_file_would_be_read_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    monkeypatch.setenv("KESTRA_COPILOT_CONFIG", str(config))
    assert main(["config", "show"]) == 0
    assert f"config_file = (none: {config} does not exist)" in capsys.readouterr().out
    config.write_text("[kestra]\nversion = 2\n")
    assert main(["config", "show"]) == 0
    assert f"config_file = {config}" in capsys.readouterr().out


def test_diff_command(flows: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = flows
    assert main(["diff", str(good), str(good)]) == 0
    assert capsys.readouterr().out.strip() == "No changes."
    assert main(["diff", str(good), str(bad)]) == 0
    assert "+    colour: red" in capsys.readouterr().out


# --- schema from a URL, cached --------------------------------------------------------------------


@pytest.fixture
def schema_server() -> Iterator[tuple[str, dict[str, object]]]:
    state: dict[str, object] = {
        "body": shared_path("kestra-api", "kestra-flow-schema-sample-libs-copilot.json").read_bytes(),
        "hits": 0,
    }

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            state["hits"] = int(state["hits"]) + 1  # type: ignore[call-overload]
            body = state["body"]
            if body is None:
                self.send_response(503)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)  # type: ignore[arg-type]

    with LoopbackServer(Handler) as server:
        yield f"{server.url}/api/v1/plugins/schemas/flow", state


def test_schema_url_is_fetched_then_cached(schema_server: tuple[str, dict[str, object]], tmp_path: Path) -> None:
    url, state = schema_server
    loaded = load_schema(url, cache_dir=tmp_path)
    assert loaded.note is None and loaded.schema.source == url
    assert "io.kestra.plugin.core.log.Log" in loaded.schema.type_index
    state["body"] = None  # the server now answers 503
    offline = load_schema(url, cache_dir=tmp_path)
    assert offline.note and "cached copy" in offline.note
    assert "io.kestra.plugin.core.log.Log" in offline.schema.type_index
    with pytest.raises(SchemaLoadError, match="Cannot fetch"):
        load_schema(url, cache_dir=tmp_path / "empty")


def test_a_schema_that_passed_the_meta_schema_check_is_not_checked_again(
    schema_server: tuple[str, dict[str, object]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server's schema is tens of MB and its meta-schema check takes seconds: once per content, the verdict
    kept in the cache dir. A schema that fails it is never marked."""
    import copilot.flows._schema as schema_module

    checked: list[object] = []
    real = schema_module._check_schema
    monkeypatch.setattr(schema_module, "_check_schema", lambda raw: (checked.append(raw), real(raw)))
    url, state = schema_server
    load_schema(url, cache_dir=tmp_path)
    load_schema(url, cache_dir=tmp_path)
    assert len(checked) == 1  # the second fetch of the same text: its verdict is kept
    state["body"] = json.dumps({**json.loads(bytes(state["body"])), "description": "upgraded"}).encode()  # type: ignore[arg-type]
    load_schema(url, cache_dir=tmp_path)
    assert len(checked) == 2  # another text: checked
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"definitions": {"a": {"type": 12}}}))
    for _ in range(2):
        with pytest.raises(SchemaLoadError, match="not a valid JSON schema"):
            load_schema(str(bad), cache_dir=tmp_path)
    assert len(checked) == 4


def test_chat_keys_lists_actions_with_configured_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[keys]\nundo = "ctrl+t"\n')
    monkeypatch.setenv("KESTRA_COPILOT_CONFIG", str(config))
    assert main(["chat", "--keys"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "undo       ctrl+t     Undo (default ctrl+z)" in lines
    assert any(line.startswith("deploy     f6") for line in lines)


def test_the_chat_without_a_terminal_says_so_instead_of_hanging(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat"]) == 2  # pytest's stdin and stdout are not terminals
    assert "The chat needs a terminal" in capsys.readouterr().err


def test_validate_checks_every_file_it_can_read_and_names_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.yml"
    good.write_text(
        "id: a\nnamespace: b\ntasks:\n  - id: l\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    )
    assert main(["validate", str(tmp_path / "missing.yml"), str(good), "--format", "json"]) == 2
    out, err = capsys.readouterr()
    results = {Path(r["file"]).name: r for r in json.loads(out)["results"]}
    assert results["good.yml"]["valid"] and "no such flow file" in results["missing.yml"]["error"]
    assert "missing.yml" in err
