"""Arguments are checked before a command touches anything: an empty request or query, a count below 1, a
level outside 0..1 is a usage error (exit 2) naming the argument — never a model call, a missing-key
message, an index found empty or a limit of 0 taken as no limit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from copilot.cli import main
from tests.fakes.gemini import FakeGemini


def usage_error(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as stopped:
        main(arguments)
    assert stopped.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("request_text", ["", "   ", "\n\t"])
def test_an_empty_request_is_refused_before_the_model_is_asked(
    request_text: str, gemini: FakeGemini, capsys: pytest.CaptureFixture[str]
) -> None:
    err = usage_error(["ask", request_text], capsys)
    assert "argument request: it is empty: give what the flow should do" in err
    assert gemini.requests == []
    assert not (Path(os.environ["KESTRA_COPILOT_DATA_DIR"]) / "sessions.db").exists()  # no session started


def test_an_empty_request_is_refused_even_without_a_model_key(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(["ask", ""], capsys)
    assert "it is empty" in err and "API key" not in err


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["search", "merge", "-k", "-5"], "argument -k: '-5' is not a whole number of at least 1"),
        (["search", "merge", "-k", "0"], "argument -k: '0' is not a whole number of at least 1"),
        (["search", "merge", "-k", "two"], "argument -k: 'two' is not a whole number of at least 1"),
        (["search", " "], "argument query: it is empty: give the words to search for"),
        (["eval", "retrieval", "--cases", "c.jsonl", "-k", "0"], "argument -k: '0' is not a whole number"),
        (["eval", "retrieval", "--cases", "c.jsonl", "--limit", "-1"], "argument --limit: '-1' is not a whole"),
        (["eval", "sanity", "--cases", "c.jsonl", "--limit", "0"], "argument --limit: '0' is not a whole number"),
        (["eval", "run", "evals/core", "--concurrency", "0"], "argument --concurrency: '0' is not a whole number"),
        (["eval", "run", "evals/core", "--repeat", "-2"], "argument --repeat: '-2' is not a whole number"),
        (["eval", "run", "evals/core", "--tag", ""], "argument --tag: it is empty: give a tag"),
        (["eval", "compare", "a", "b", "--alpha", "5"], "argument --alpha: '5' is not a number between 0 and 1"),
        (["eval", "compare", "a", "b", "--alpha", "nan"], "argument --alpha: 'nan' is not a number between 0 and 1"),
        (["eval", "capture", "abc", "--turn", "0"], "argument --turn: '0' is not a whole number of at least 1"),
        (["eval", "capture", ""], "argument session: it is empty: give a session id"),
        (["eval", "capture", "abc", "--id", " "], "argument --id: it is empty: give a case id"),
        (["ask", "a flow", "--max-repairs", "-1"], "argument --max-repairs: '-1' is not a whole number of at least 0"),
        (["ask", "a flow", "--session", ""], "argument --session: it is empty: give a session id"),
        (["ask", "a flow", "--model", ""], "argument --model: it is empty: give a model name"),
        (["deploy", "flow.yml", "--namespace", ""], "argument --namespace: it is empty: give a namespace"),
        (["run", "company.team/etl", "--timeout", "0"], "argument --timeout: '0' is not a number of seconds above 0"),
        (["index", "build", "--source", ""], "argument --source: it is empty: give a path, URL or `kestra`"),
        (["chat", "--recipe", ""], "argument --recipe: it is empty: give a recipe name or path"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_a_bad_argument_is_a_usage_error_before_anything_is_touched(
    arguments: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = usage_error(arguments, capsys)
    assert said in err
    assert not Path(os.environ["KESTRA_COPILOT_DATA_DIR"]).exists()  # no index, no session store opened


def test_a_test_run_option_without_test_run_is_refused_before_the_model_is_asked(
    gemini: FakeGemini, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "log hello", "--input", "month=2024-01"]) == 2
    assert "use them with --test-run" in capsys.readouterr().err
    assert main(["ask", "log hello", "--test-run", "--input", "month"]) == 2
    assert "--input 'month' must look like KEY=VALUE" in capsys.readouterr().err
    assert gemini.requests == []
