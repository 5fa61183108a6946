"""`validate` on many files: folders searched for flows, globs expanded by the command, the non-flow YAML of
a repository skipped and counted, a one-line summary, and the JSON and JUnit reports a CI reads."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from copilot.cli import main
from copilot.flowfiles import looks_like_flow
from copilot.junit import JUnitCase, junit_xml

GOOD = "id: hello\nnamespace: company.team\ntasks:\n  - id: say\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
BAD = GOOD.replace("message: hi", "message: hi\n    colour: red")  # unknown-property at 7:5
SECRET = GOOD.replace("id: hello", "id: creds").replace("tasks:", "variables:\n  db_password: hunter2x\ntasks:")
COMPOSE = "services:\n  db:\n    image: postgres:16\n"
KESTRA_TEST = (  # a Kestra unit test: an id and a namespace, and the flowId of the flow it tests
    "id: test_hello\nnamespace: company.team\nflowId: hello\ntestCases:\n  - id: ok\n    type: io.kestra.core.tests.flow.UnitTest\n"
)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository of flows, as CI checks it out, the current folder: nested flows, other YAML, hidden
    folders holding invalid flows that must never be read."""
    files = {
        "flows/a.yml": GOOD,
        "flows/sub/b.yaml": BAD,
        "flows/sub/deeper/c.yml": SECRET,
        "flows/docker-compose.yml": COMPOSE,
        "flows/tests/test_hello.yml": KESTRA_TEST,
        "flows/README.md": "# not YAML: not looked at\n",
        "flows/.drafts/draft.yml": BAD,
        "flows/.pre-commit-config.yaml": "repos: []\n",
        ".git/flow.yml": BAD,
        ".venv/lib/flow.yml": BAD,
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


SOURCE = " — bundled catalog (Kestra 1.x)"


# --- folders ----------------------------------------------------------------------------------------------
def test_a_folder_is_searched_recursively_in_order_and_only_what_needs_attention_is_named(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "flows/"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("flows/sub/b.yaml:7:5: error[unknown-property]")  # sorted by path: sub/b, sub/deeper/c
    assert "flows/sub/b.yaml: invalid (1 error, 0 warnings)" in lines  # the schema is said once, in the summary
    assert any(line.startswith("flows/sub/deeper/c.yml:4:3: policy[hardcoded-secret]") for line in lines)
    assert lines.index("flows/sub/b.yaml: invalid (1 error, 0 warnings)") < len(lines) - 3
    assert lines[-1] == (
        "3 files checked: 1 valid, 1 with errors, 1 with policy findings, 2 skipped (not flows)" + SOURCE
    )
    assert "flows/a.yml" not in out  # valid, nothing to say
    assert "draft" not in out and ".git" not in out and ".venv" not in out and not err


def test_verbose_names_every_file_checked_and_skipped(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", ".", "--verbose", "--policy", "warn"]) == 1  # b.yaml stays invalid
    out = capsys.readouterr().out
    assert "flows/a.yml: valid (0 errors, 0 warnings)\n" in out
    assert "flows/sub/deeper/c.yml: valid (0 errors, 1 policy finding, 0 warnings, --policy warn)" in out
    assert "flows/docker-compose.yml: skipped, not a Kestra flow" in out
    assert "flows/tests/test_hello.yml: skipped, not a Kestra flow" in out  # a Kestra test names its flowId
    assert ".drafts" not in out and ".git/" not in out and ".venv" not in out


def test_a_flow_with_a_yaml_error_is_checked_not_skipped(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "flows" / "broken.yml").write_text(GOOD.replace("  - id: say", "  - id: say\n   oops: [1"))
    assert main(["validate", "flows"]) == 1
    out = capsys.readouterr().out
    assert "flows/broken.yml:" in out and "error[yaml-syntax]" in out
    assert out.splitlines()[-1].startswith("4 files checked: 1 valid, 2 with errors, 1 with policy findings")


def test_a_file_reached_twice_is_checked_once(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "flows/sub", "flows/sub/b.yaml", "./flows/sub/", "--format", "json"]) == 1
    assert [r["file"] for r in json.loads(capsys.readouterr().out)["results"]] == [
        "flows/sub/b.yaml",
        "flows/sub/deeper/c.yml",
    ]


# --- globs ------------------------------------------------------------------------------------------------
def test_a_quoted_glob_is_expanded_by_the_command_with_double_star(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "flows/**/*.yml", "--format", "json"]) == 1  # as a shell without globstar passes it
    payload = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in payload["results"]] == ["flows/a.yml", "flows/sub/deeper/c.yml"]  # not b.yaml
    assert payload["skipped"] == ["flows/docker-compose.yml", "flows/tests/test_hello.yml"]  # not .drafts/
    assert main(["validate", "flows/*.yml"]) == 0  # one level: a.yml (compose skipped)
    assert capsys.readouterr().out.splitlines()[-1].startswith("1 file checked: 1 valid, 0 with errors")


def test_a_file_whose_name_looks_like_a_glob_is_that_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "flows" / "[draft].yml").write_text(GOOD)
    assert main(["validate", "flows/[draft].yml"]) == 0
    assert capsys.readouterr().out == f"flows/[draft].yml: valid (0 errors, 0 warnings){SOURCE}\n"


# --- finding nothing is an error --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argument", "said"),
    [
        ("flows/**/*.yamll", "No YAML file (*.yml, *.yaml) matches flows/**/*.yamll."),
        ("empty", "empty holds no YAML file (*.yml, *.yaml)."),
        ("config", "config holds no Kestra flow: none of its 2 YAML files is a flow."),
        ("flows/.drafts/../../config/*.yml", "holds no Kestra flow"),
    ],
)
def test_a_folder_or_glob_without_a_flow_is_an_error_the_others_are_still_checked(
    repo: Path, argument: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "empty" / ".hidden").mkdir(parents=True)
    (repo / "empty" / ".hidden" / "flow.yml").write_text(GOOD)  # hidden: not searched
    (repo / "config").mkdir()
    (repo / "config" / "compose.yml").write_text(COMPOSE)
    (repo / "config" / "values.yaml").write_text("namespace: prod\nreplicas: 2\n")  # one flow key is not enough
    assert main(["validate", argument, "flows/a.yml"]) == 2
    out, err = capsys.readouterr()
    assert said in err and "hint: " in err
    assert out.splitlines()[-1].startswith("1 file checked: 1 valid, 0 with errors")
    assert out.splitlines()[-1].endswith(f", 1 problem{SOURCE}")


def test_a_named_file_is_checked_whatever_it_holds_unless_flows_only(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "flows/docker-compose.yml"]) == 1  # as always: a file named is a flow to check
    assert "error[unknown-property] Unknown property `services`" in capsys.readouterr().out
    assert main(["validate", "--flows-only", "flows/docker-compose.yml"]) == 0
    assert capsys.readouterr().out == "flows/docker-compose.yml: skipped, not a Kestra flow\n"
    assert main(["validate", "--flows-only", "flows/docker-compose.yml", "flows/sub/b.yaml"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == (
        "1 file checked: 0 valid, 1 with errors, 0 with policy findings, 1 skipped (not a flow)" + SOURCE
    )


def test_a_yaml_file_too_large_for_a_flow_is_skipped_in_a_search(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "flows" / "openapi.yml").write_text("openapi: 3.0.0\npaths:\n" + "  /x: {}\n" * 130_000)  # 1 MB+
    assert main(["validate", "flows", "--format", "json"]) == 1
    assert "flows/openapi.yml" in json.loads(capsys.readouterr().out)["skipped"]


# --- what a flow is -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "flow"),
    [
        (GOOD, True),
        ("# a comment first\n---\n" + GOOD, True),
        ("".join(f"    {line}\n" for line in GOOD.splitlines()), True),  # indented as a whole (Kestra's docs)
        ('"id": a\n"namespace": b\ntasks: []\n', True),
        ("id: a\nnamespace: b\n", True),  # tasks forgotten: a broken flow, reported
        ("id: a\ntasks:\n  - id: x\n   bad: [\n", True),  # a syntax error: still a flow
        (COMPOSE, False),
        ("name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n", False),  # GitHub Actions
        (KESTRA_TEST, False),
        ("namespace: prod\nreplicas: 2\n", False),  # Helm values
        ("version: '3'\ntasks:\n  build:\n    cmds: [make]\n", False),  # a Taskfile
        ("apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: x\n  id: y\n", False),  # nested keys do not count
        ("- id: a\n  namespace: b\n  tasks: []\n", False),  # a list
        ("", False),
        ("# only a comment\n", False),
    ],
)
def test_looks_like_flow(text: str, flow: bool) -> None:
    assert looks_like_flow(text) is flow


# --- JSON and JUnit ---------------------------------------------------------------------------------------
def test_json_for_many_files_is_one_document_with_the_skipped_files_and_the_counts(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "flows", "missing.yml", "--format", "json"]) == 2
    payload = json.loads(capsys.readouterr().out)
    assert [(r["file"], r["passed"]) for r in payload["results"]] == [
        ("flows/a.yml", True),
        ("flows/sub/b.yaml", False),
        ("flows/sub/deeper/c.yml", False),
        ("missing.yml", False),
    ]
    assert "no such flow file" in payload["results"][-1]["error"]
    assert payload["skipped"] == ["flows/docker-compose.yml", "flows/tests/test_hello.yml"]
    assert payload["summary"] == {"checked": 3, "valid": 1, "errors": 1, "policy": 1, "skipped": 2, "problems": 1}


def test_the_readme_json_sample_has_the_keys_printed(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_readme import README, fenced_blocks

    shown = [json.loads("\n".join(lines)) for _, kind, lines in fenced_blocks(README.read_text()) if kind == "json"]
    [sample] = [block for block in shown if "results" in block]  # the others are MCP clients' config files
    assert main(["validate", "flows/sub/b.yaml", "--format", "json"]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert list(printed) == list(sample) and list(printed["summary"]) == list(sample["summary"])
    assert list(printed["results"][0]) == list(sample["results"][0])


def test_junit_report_has_a_case_per_file_that_a_ci_reads(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "flows" / "latin1.yml").write_bytes(GOOD.replace("hi", "caf\xe9").encode("latin-1"))
    assert main(["validate", ".", "--format", "junit"]) == 2  # latin1.yml cannot be read
    root = ET.fromstring(capsys.readouterr().out)
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    expected = {"tests": "6", "failures": "2", "errors": "1", "skipped": "2"}
    assert {key: suite.get(key) for key in expected} == expected == {key: root.get(key) for key in expected}
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties == {"schema": "bundled catalog (Kestra 1.x)", "kestra_version": "1"}
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == [
        "flows/a.yml",
        "flows/sub/b.yaml",
        "flows/sub/deeper/c.yml",
        "flows/docker-compose.yml",
        "flows/tests/test_hello.yml",
        "flows/latin1.yml",
    ]
    a, b, c = cases["flows/a.yml"], cases["flows/sub/b.yaml"], cases["flows/sub/deeper/c.yml"]
    assert len(a) == 0 and a.get("classname") == "company.team" and a.get("file") == "flows/a.yml"
    [failure] = b.findall("failure")
    assert failure.get("message") == "invalid (1 error, 0 warnings)" and b.get("line") == "7"
    assert (failure.text or "").startswith("flows/sub/b.yaml:7:5: error[unknown-property] Unknown property `colour`")
    [refused] = c.findall("failure")
    assert refused.get("message").startswith("refused by policy, valid for Kestra")
    assert "flows/sub/deeper/c.yml:4:3: policy[hardcoded-secret]" in (refused.text or "")
    assert cases["flows/docker-compose.yml"].find("skipped").get("message") == "not a Kestra flow"
    error = cases["flows/latin1.yml"].find("error")
    assert error.get("message").startswith("flows/latin1.yml is not UTF-8 text: byte 0xe9")
    assert all(float(case.get("time")) >= 0 for case in cases.values())


def test_junit_a_flow_that_passes_keeps_its_findings_in_its_output(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "flows/sub/deeper/c.yml", "--format", "junit", "--policy", "warn"]) == 0
    [case] = ET.fromstring(capsys.readouterr().out).iter("testcase")
    assert case.find("failure") is None and case.get("classname") == "company.team"
    assert "policy[hardcoded-secret]" in case.findtext("system-out", "")


def test_junit_text_is_always_well_formed_xml() -> None:
    """A flow's text reaches the report through the diagnostics: control characters (not allowed in XML 1.0,
    and escape sequences a CI log viewer may interpret) and XML's own specials must not break it."""
    hostile = "a\x1b[31mred\x1b[0m \x00\x07 <b>&amp;</b> \ufffe ]]> \"'"
    xml = junit_xml(
        "suite", [JUnitCase(hostile, hostile, "failure", hostile, hostile, hostile, hostile, 3)], {hostile: hostile}
    )
    case = ET.fromstring(xml).find("testsuite/testcase")
    assert case is not None and case.get("name") == "ared  <b>&amp;</b> \ufffd ]]> \"'"
    assert case.find("failure").text == case.get("name") and case.get("line") == "3"


def test_no_flow_to_check_loads_no_schema_and_still_reports(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unreachable = "http://127.0.0.1:9/api/v1/plugins/schemas/flow"  # would fail the run if it were fetched
    assert main(["validate", "--flows-only", "flows/docker-compose.yml", "--schema", unreachable]) == 0
    assert main(["validate", "--flows-only", "flows/docker-compose.yml", "--format", "junit"]) == 0
    capsys.readouterr()
    assert main(["validate", "--flows-only", "flows/docker-compose.yml", "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["schema"] is None and payload["results"] == [] and payload["skipped"] == ["flows/docker-compose.yml"]


def test_a_folder_that_cannot_be_listed_is_a_problem(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = repo / "flows" / "locked"
    locked.mkdir()
    (locked / "flow.yml").write_text(BAD)
    scandir = os.scandir

    def refusing(path: str) -> Iterator[os.DirEntry[str]]:  # what a folder without read permission does
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", path)
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    assert main(["validate", "flows"]) == 2
    out, err = capsys.readouterr()
    assert "kestra-copilot: Cannot list flows/locked: Permission denied." in err
    assert out.splitlines()[-1].endswith(f", 1 problem{SOURCE}")


def test_a_folder_in_junit_loads_no_model_index_http_or_tui_module(repo: Path) -> None:
    """What a CI job or a pre-commit hook runs stays as light as one file (tests/test_imports.py)."""
    from tests.test_imports import heavy, loaded

    assert heavy(loaded(["validate", "flows", "--format", "junit"], repo)) == []
    assert heavy(loaded(["validate", "--flows-only", "flows/a.yml", "flows/docker-compose.yml"], repo)) == []
