"""Hostile sizes, files, paths and bytes are refused with a clear message: nothing hangs, nothing runs out
of memory, nothing ends in a traceback, no file of the user's is lost or replaced, and nothing a model, a
server or a file says reaches the terminal as an escape sequence.

- reads:   only regular files (a FIFO, a device, a folder is refused before a byte is read), a size
           limit per use, strict UTF-8 with the offending byte named — for every command that reads one
- sources: an index source never follows a link out of its folder; a tarball's unpacked size is bounded
- writes:  atomic, to regular files only, keeping permissions and symlinks; a model's namespace/id never
           chooses a path outside the flows folder; an invalid result never replaces a valid flow unasked
- bytes:   invalid UTF-8 in arguments and lone surrogates from a model are clear errors or handled
- terminal: escape sequences and control characters are stripped from what is shown, CLI and TUI alike
"""

from __future__ import annotations

import asyncio
import io
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from copilot.cli import main
from copilot.terminal import printable
from tests.engine.test_turn import INVALID, VALID, flow_of
from tests.fakes.archives import tarball
from tests.fakes.gemini import FakeGemini, Reply
from tests.fakes.kestra import FakeKestra
from tests.fakes.loopback import LoopbackServer, QuietHandler
from tests.fakes.openai_server import Chat, FakeOpenAI

ESCAPES = ("\x1b", "\x9b", "\x07", "\x9d")  # ESC, 8-bit CSI, BEL, 8-bit OSC
EVIL = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x9b31m\x1b]0;pwned\x1b\\"  # clipboard write, clear, colour, title


def shows_no_escapes(text: str) -> bool:
    return not any(mark in text for mark in ESCAPES)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A named pipe nobody writes to: reading it blocks for ever."""
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    return path


@pytest.fixture
def valid_flow(tmp_path: Path) -> Path:
    path = tmp_path / "taxi.yml"
    path.write_text(flow_of(VALID))
    return path


# --- reads: regular files only, bounded, strict UTF-8 ----------------------------------------------------
def _readers(fifo: Path, ok: Path, tmp_path: Path) -> list[list[str]]:
    """Every command that reads a file the user names, pointed at `fifo`."""
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"- id: c\n  turns: [log hi]\n  flow: {fifo.name}\n  checks: [valid]\n")
    return [
        ["validate", str(fifo)],
        ["validate", str(ok), "--schema", str(fifo)],
        ["diff", str(ok), str(fifo)],
        ["deploy", str(fifo), "--yes"],
        ["ask", "log hi", "--flow", str(fifo)],
        ["ask", "log hi", "--recipe", str(fifo)],
        ["eval", "run", str(suite)],
        ["eval", "retrieval", "--cases", str(fifo)],
        ["eval", "sanity", "--cases", str(fifo)],
    ]


@pytest.mark.timeout(60)
def test_every_command_refuses_a_fifo_instead_of_hanging(
    gemini: FakeGemini, fifo: Path, valid_flow: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in _readers(fifo, valid_flow, tmp_path):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "is a FIFO (named pipe), not a regular file" in err and "Traceback" not in err, (argv, err)
    assert gemini.requests == []  # nothing was sent to the model


@pytest.mark.parametrize("argv", [["validate", "/dev/zero"], ["ask", "log hi", "--flow", "/dev/zero"]])
def test_an_endless_device_is_refused_before_a_byte_is_read(
    gemini: FakeGemini, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2  # not a MemoryError after reading gigabytes
    assert "/dev/zero is a character device, not a regular file" in capsys.readouterr().err
    assert gemini.requests == []


def test_a_large_binary_flow_is_refused_and_never_sent_to_the_model(
    gemini: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blob = tmp_path / "image.yml"
    blob.write_bytes(os.urandom(3_000_000))
    assert main(["ask", "fix it", "--flow", str(blob)]) == 2
    err = capsys.readouterr().err
    assert f"{blob} is 3 MB, over the 1 MB limit for a flow file" in err
    assert gemini.requests == []
    assert main(["validate", str(blob)]) == 2
    assert "over the 1 MB limit for a flow file" in capsys.readouterr().err


def test_a_small_binary_flow_is_refused_too(gemini: FakeGemini, tmp_path: Path, capsys: Any) -> None:
    blob = tmp_path / "flow.yml"
    blob.write_bytes(b"id: x\x00\x01\x02")
    assert main(["ask", "fix it", "--flow", str(blob)]) == 2
    assert "looks binary (a NUL byte at offset 5)" in capsys.readouterr().err
    assert gemini.requests == []


def test_non_utf8_flows_are_a_clear_error_naming_the_byte(
    kestra: FakeKestra, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latin1 = tmp_path / "latin1.yml"
    latin1.write_bytes(b"id: x\nnamespace: company.team\n# caf\xe9\ntasks: []\n")
    for argv in (["deploy", str(latin1), "--yes"], ["validate", str(latin1)], ["diff", str(latin1), str(latin1)]):
        assert main(argv) == 2, argv  # deploy used to end in a UnicodeDecodeError traceback
        err = capsys.readouterr().err
        assert f"{latin1} is not UTF-8 text: byte 0xe9 at offset 35 (line 3, column 6)" in err, argv
    assert not kestra.flows


def test_stdin_is_read_with_the_same_limit(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"# " + b"x" * 3_000_000 + b"\n")))
    assert main(["validate", "-"]) == 2
    assert "standard input is over the 1 MB limit for a flow file" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(flow_of(VALID).encode())))
    assert main(["validate", "-"]) == 0


def test_a_folder_is_not_a_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "flow.yml").write_text(flow_of(VALID))
    assert main(["diff", str(tmp_path), str(tmp_path / "flow.yml")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path} is a folder, not a regular file" in err
    assert f"hint: Give the files, not the folder: `{tmp_path}/*.yml`" in err  # what the user meant
    assert main(["validate", str(tmp_path)]) == 0  # validate searches a folder for flows (test_cli_validate_many)


@pytest.mark.timeout(60)
def test_run_uploads_only_regular_files(
    kestra: FakeKestra, fifo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_cli_kestra import FILE_FLOW

    flow = tmp_path / "load.yml"
    flow.write_text(FILE_FLOW)
    assert main(["deploy", str(flow), "--yes"]) == 0
    assert main(["run", "company.team/load", "--file", f"data={fifo}"]) == 2
    assert "is a FIFO (named pipe), not a regular file" in capsys.readouterr().err
    assert not kestra.executions
    data = tmp_path / "big.csv"  # larger than any text limit: data files have none, and are streamed
    data.write_bytes(b"a,b\n" * 1_000_000)
    assert main(["run", "company.team/load", "--file", f"data={data}"]) == 0
    assert list(kestra.storage.values()) == [data.read_bytes()]


@pytest.mark.timeout(60)
def test_the_chat_loads_only_regular_files(gemini: FakeGemini, fifo: Path, tmp_path: Path) -> None:
    from tests.tui.pilot import messages, running, send, settings

    latin1 = tmp_path / "latin1.yml"
    latin1.write_bytes(b"id: caf\xe9\n")

    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await send(pilot, f"/load {fifo}")
            await pilot.pause()
            assert any("is a FIFO (named pipe), not a regular file" in m for m in messages(app))
            await send(pilot, f"/load {latin1}")
            await pilot.pause()
            assert any("is not UTF-8 text: byte 0xe9 at offset 7" in m for m in messages(app))
            assert app.conversation.engine.current is None

    asyncio.run(scenario())


def test_eval_suites_are_read_strictly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_bytes(b"- id: caf\xe9\n  turns: [log hi]\n  checks: [valid]\n")
    assert main(["eval", "run", str(suite), "--replay-only"]) == 2  # was a UnicodeDecodeError traceback
    assert "is not UTF-8 text: byte 0xe9" in capsys.readouterr().err


def test_recipes_are_read_strictly(gemini: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "mine.yaml"
    recipe.write_bytes(b"name: caf\xe9\n")
    assert main(["ask", "log hi", "--recipe", str(recipe)]) == 2
    assert "is not UTF-8 text: byte 0xe9" in capsys.readouterr().err


# --- index sources: no links out, bounded tarballs ------------------------------------------------------
def test_a_source_folder_never_follows_a_link_out_of_it(tmp_path: Path) -> None:
    from copilot.retrieval.loaders import load_source

    secret = tmp_path / "secret.md"
    secret.write_text("# Secret\n\ncanary-7f3a the deploy key\n")
    docs = tmp_path / "docs"
    (docs / "guides").mkdir(parents=True)
    (docs / "guides" / "ok.md").write_text("# Schedule\n\nRun a flow every day.\n")
    (docs / "passwd.md").symlink_to("/etc/passwd")
    (docs / "notes.md").symlink_to(secret)
    (docs / "again.md").symlink_to(docs / "guides" / "ok.md")  # inside the source: fine
    (docs / "outside").symlink_to(tmp_path, target_is_directory=True)
    result = load_source(docs)
    text = "\n".join(c.text for c in result.chunks)
    assert "canary-7f3a" not in text and "root:" not in text
    assert {c.location.split("#")[0] for c in result.chunks} == {"again.md", "guides/ok.md"}
    assert any("passwd.md" in w and "outside the source" in w for w in result.warnings)


@pytest.mark.timeout(60)
def test_a_fifo_in_a_source_folder_is_skipped(tmp_path: Path) -> None:
    from copilot.retrieval.loaders import load_source

    docs = tmp_path / "docs"
    docs.mkdir()
    os.mkfifo(docs / "pipe.md")
    (docs / "ok.md").write_text("# Ok\n\nFine.\n")
    result = load_source(docs)
    assert [c.location.split("#")[0] for c in result.chunks] == ["ok.md"]
    assert any("pipe.md" in w and "FIFO" in w for w in result.warnings)


def test_a_source_file_that_is_not_utf8_is_skipped_naming_the_byte_never_indexed_garbled(tmp_path: Path) -> None:
    """As every command reads a file: strict UTF-8. A latin-1 page in a folder or a tarball is skipped with
    a warning, not indexed with replacement characters."""
    from copilot.retrieval import sources
    from copilot.retrieval.loaders import load_source

    latin1 = "# Café\n\nCrème brûlée.\n".encode("latin-1")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cafe.md").write_bytes(latin1)
    (docs / "ok.md").write_text("# Ok\n\nFine.\n")
    result = load_source(docs)
    assert [c.location.split("#")[0] for c in result.chunks] == ["ok.md"]
    assert any("cafe.md is not UTF-8 text: byte 0xe9" in w and w.endswith("skipped") for w in result.warnings)

    archive = tmp_path / "docs.tar.gz"
    archive.write_bytes(tarball({"top/docs/cafe.md": latin1, "top/docs/ok.md": b"# Ok\n\nFine.\n"}))
    source = sources.Source("docs", "https://example.invalid/docs.tar.gz", "docs")  # below the top folder
    result = sources._load_tarball(archive, source)
    assert all("\ufffd" not in c.text for c in result.chunks) and len(result.chunks) == 1
    assert any("docs: cafe.md is not UTF-8 text: byte 0xe9" in w for w in result.warnings)


class _Serve:
    """A loopback HTTP server answering every GET with one body (a tarball)."""

    def __init__(self, body: bytes) -> None:
        class Handler(QuietHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = LoopbackServer(Handler).start()
        self.url = f"{self.server.url}/bomb.tar.gz"

    def close(self) -> None:
        self.server.stop()


def test_a_tarball_that_unpacks_too_large_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import copilot.retrieval.sources as sources

    # Scaled down: 40 documents of 100 KB of zeros (a few KB compressed) against a 1 MB budget.
    monkeypatch.setattr(sources, "MAX_UNPACKED_BYTES", 1_000_000, raising=False)
    body = tarball({f"top/docs/page{n}.md": b"\0" * 100_000 for n in range(40)})
    assert len(body) < 100_000
    server = _Serve(body)
    try:
        assert main(["index", "build", "--source", f"bomb={server.url}"]) == 2
    finally:
        server.close()
    err = capsys.readouterr().err
    assert "unpacks to more than 1 MB of documents" in err and "Traceback" not in err


def test_a_tarball_of_countless_members_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import copilot.retrieval.sources as sources

    monkeypatch.setattr(sources, "MAX_TAR_MEMBERS", 50, raising=False)
    archive = tmp_path / "many.tar.gz"
    archive.write_bytes(tarball({f"top/f{n}.png": b"" for n in range(200)}))
    with pytest.raises(sources.SourceError, match="more than 50 entries"):
        sources._load_tarball(archive, sources.Source("many", "https://example.invalid/many.tar.gz"))


# --- writes: atomic, regular files only, permissions kept, paths the user chose --------------------------
@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("{tmp}/missing/flow.yml", "the folder {tmp}/missing does not exist"),
        ("{tmp}", "{tmp} is a folder, not a regular file: nothing was written to it"),
        ("/dev/full", "/dev/full is a character device, not a regular file"),
        ("", "No flow file name was given"),
    ],
)
def test_ask_output_problems_are_clear_and_caught_before_the_model_is_asked(
    gemini: FakeGemini, tmp_path: Path, target: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "log hi", "--recipe", "no-retrieval", "-o", target.format(tmp=tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in err and "Traceback" not in err
    assert gemini.requests == []  # refused before spending a model call


def test_ask_output_keeps_permissions_and_writes_through_a_symlink(
    gemini: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "real.yml"
    real.write_text("# old\n")
    real.chmod(0o640)
    link = tmp_path / "link.yml"
    link.symlink_to(real)
    gemini.script(Reply(VALID))
    assert main(["ask", "log hi", "--recipe", "no-retrieval", "-o", str(link)]) == 0
    assert link.is_symlink() and real.read_text() == flow_of(VALID)
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    assert main(["schema", "-o", str(tmp_path)]) == 2
    assert "is a folder, not a regular file" in capsys.readouterr().err


def test_ask_never_writes_an_invalid_flow_over_a_valid_file_unasked(
    gemini: FakeGemini, valid_flow: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = valid_flow.read_text()
    gemini.script(Reply(INVALID))
    assert main(["ask", "add a colour", "--flow", str(valid_flow), "-o", str(valid_flow)]) == 1
    out, err = capsys.readouterr()
    assert valid_flow.read_text() == before  # the user's valid flow is untouched
    assert "colour: red" in out  # the result still goes to stdout
    assert f"{valid_flow} holds a valid flow and the new one is invalid: it was not changed" in err
    assert "--force" in err
    gemini.script(Reply(INVALID))
    assert main(["ask", "add a colour", "--flow", str(valid_flow), "-o", str(valid_flow), "--force"]) == 1
    assert "colour: red" in valid_flow.read_text()  # asked for: written


def test_capture_keeps_a_suites_permissions_and_symlink_and_refuses_a_fifo(tmp_path: Path) -> None:
    from copilot.errors import CopilotError
    from copilot.evaluation.capture import add_case, propose_case

    case = propose_case(["log hi then wait"], flow_of(VALID))
    real = tmp_path / "real.yaml"
    add_case(real, case)
    real.chmod(0o640)
    suite = tmp_path / "suite.yaml"
    suite.symlink_to(real)
    add_case(suite, case)
    assert suite.is_symlink() and real.read_text().count("- id: log-hi-then-wait") == 2
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    pipe = tmp_path / "pipe.yaml"
    os.mkfifo(pipe)
    with pytest.raises(CopilotError, match="is a FIFO"):
        add_case(pipe, case)
    assert stat.S_ISFIFO(pipe.stat().st_mode)  # not replaced by a regular file


ESCAPING = VALID.replace("id: taxi\nnamespace: company.team", "id: ../../../../escaped\nnamespace: ../..")


def test_the_chat_saves_a_models_flow_inside_the_flows_folder_only(
    gemini: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.tui.pilot import ask, messages, running, send, settings

    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)

    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await ask(app, pilot, gemini, ESCAPING, "log hi")
            await send(pilot, "/save")
            await pilot.pause()
            assert any("Saved revision 1" in m for m in messages(app))

    asyncio.run(scenario())
    saved = [p for p in tmp_path.rglob("*.yml")]
    assert len(saved) == 1 and saved[0].is_relative_to(work / "flows"), saved
    assert "id: ../../../../escaped" in saved[0].read_text()


# --- bytes: arguments and model text that are not valid Unicode ----------------------------------------
@pytest.mark.parametrize("argv", [["ask", "\udcff log"], ["search", "caf\udce9"]])
def test_invalid_utf8_arguments_are_a_clear_error(
    gemini: FakeGemini, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2  # Python hands undecodable argv bytes over as lone surrogates
    err = capsys.readouterr().err
    assert "is not valid UTF-8" in err and "Traceback" not in err
    assert gemini.requests == []


def test_a_lone_surrogate_from_gemini_is_no_traceback(gemini: FakeGemini, capsys: Any) -> None:
    gemini.script(Reply(VALID.replace("message: hi", "message: h\ud800i") + "\ud800 done"))
    assert main(["ask", "log hi", "--recipe", "no-retrieval"]) == 0
    out = capsys.readouterr().out
    assert "message: h\ufffdi" in out
    assert main(["sessions"]) == 0  # the session was stored
    assert "1 turn, 1 revision" in capsys.readouterr().out


def test_a_lone_surrogate_from_an_openai_server_is_no_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenAI() as local:
        monkeypatch.setenv("KESTRA_COPILOT_MODEL_URL", local.url)
        monkeypatch.setenv("KESTRA_COPILOT_MODEL", "qwen2.5-coder:7b")
        local.script(Chat(VALID.replace("message: hi", "message: h\udfffi")))
        assert main(["ask", "log hi", "--recipe", "no-retrieval"]) == 0
    assert "message: h\ufffdi" in capsys.readouterr().out


# --- terminal: what is shown carries no escape sequence --------------------------------------------------
def test_printable_strips_escapes_and_controls_and_keeps_text() -> None:
    assert printable(f"a{EVIL}b") == "ab"
    assert printable("\x1b[31mred\x1b[0m \x1bc\x1b7ok") == "red ok"
    assert printable("line\r\nnext\rover\x08\x7f\x85\x00") == "line\nnext\nover\n"  # CR: no overwriting
    assert printable("tabs\tand\nnewlines, café, 東京, 😀, ─┼─") == "tabs\tand\nnewlines, café, 東京, 😀, ─┼─"
    assert printable("\x1b]8;;http://evil\x07link\x1b]8;;\x07") == "link"
    assert printable("cut \x1b]0;no end\nnext line") == "cut \nnext line"
    assert printable("bad \ud800 byte") == "bad \ufffd byte"


def test_ask_prints_the_models_flow_and_words_without_escapes(
    gemini: FakeGemini, capsys: pytest.CaptureFixture[str]
) -> None:
    gemini.script(Reply(VALID.replace("message: hi", f"message: hi{EVIL}")))
    main(["ask", "log hi", "--recipe", "no-retrieval"])
    out, err = capsys.readouterr()
    assert "message: hi" in out and shows_no_escapes(out) and shows_no_escapes(err)


def test_run_prints_kestra_logs_and_states_without_escapes(
    kestra: FakeKestra, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.kestra.test_flows_executions import FLOW

    flow = tmp_path / "hello.yml"
    flow.write_text(FLOW)
    kestra.task_logs = {"greet": [("ERROR", f"boom{EVIL}")]}
    kestra.outcomes = {"greet": "FAILED"}
    assert main(["deploy", str(flow), "--yes"]) == 0
    assert main(["run", "company.team/hello", "--input", f"who=x{EVIL}"]) == 1
    out, err = capsys.readouterr()
    assert "boom" in out and shows_no_escapes(out) and shows_no_escapes(err)


def test_deploy_and_diff_show_server_and_file_text_without_escapes(
    kestra: FakeKestra, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.kestra.test_flows_executions import FLOW

    flow = tmp_path / "hello.yml"
    flow.write_text(FLOW)
    kestra.validate_answer = [{"index": 0, "flow": "hello", "namespace": "company.team", "constraints": f"no{EVIL}"}]
    assert main(["deploy", str(flow), "--yes"]) == 1  # what the server says about the flow is shown
    err = capsys.readouterr().err
    assert "nothing was deployed" in err and shows_no_escapes(err)
    old = tmp_path / "old.yml"
    old.write_text(FLOW.replace("tasks:", f"# {EVIL}\ntasks:"))
    assert main(["diff", str(old), str(flow)]) == 0
    out = capsys.readouterr().out
    assert "-# " in out and shows_no_escapes(out)


def test_search_results_show_without_escapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from copilot.retrieval.chunks import Chunk
    from copilot.retrieval.index import Index

    chunk = Chunk(f"Run a flow on a cron schedule.{EVIL}", "doc", f"docs{EVIL}", f"Schedule{EVIL}", f"s.md{EVIL}")
    Index(tmp_path / "data" / "index", cache_dir=tmp_path / "cache").build([chunk], sources={"docs": "memory"})
    assert main(["search", "cron schedule", "--mode", "bm25"]) == 0
    out = capsys.readouterr().out
    assert "Schedule" in out and shows_no_escapes(out)


def test_the_chat_renders_model_text_without_escapes(gemini: FakeGemini, tmp_path: Path) -> None:
    """Textual passes escape sequences in Markdown, Static and Syntax through to the terminal as they are;
    the chat's widgets get printable text, and Textual's own control-code filter is widened for the rest."""
    from rich.syntax import Syntax
    from textual.widgets import Static

    from tests.tui.pilot import ask, running, settings

    def rendered(widget: Any) -> str:
        region = widget.region.reset_offset
        return "".join(segment.text for strip in widget.render_lines(region) for segment in strip)

    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            reply = VALID.replace("message: hi", f"message: hi{EVIL}") + f"\nDone.{EVIL} **bold**{EVIL}\n"
            await ask(app, pilot, gemini, reply, "log hi")
            await app.mount(Static(f"plain{EVIL}", markup=False, id="plain"))
            await app.mount(Static(Syntax(f"x: 1{EVIL}", "yaml"), id="syntax"))
            await pilot.pause()
            shown = [w for w in app.query(Static) if w.region.area]
            texts = [rendered(w) for w in shown]
            assert any("Done." in t for t in texts) and any("plain" in t for t in texts)
            assert all(shows_no_escapes(t) for t in texts), [t for t in texts if not shows_no_escapes(t)]

    asyncio.run(scenario())
