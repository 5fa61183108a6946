"""`index build|status`, `search` and `eval retrieval` from the command line, on small corpora."""

import json
from pathlib import Path

import pytest

from copilot.cli import main
from copilot.retrieval.embeddings import MiniLMEmbedder
from copilot.retrieval.sources import corpus_dir

DOCS = {
    "schedule.md": "---\ntitle: Schedule trigger\n---\n# Cron\n\nRun a flow on a cron schedule every day.\n",
    "webhook.md": "# Webhook trigger\n\nStart an execution from an HTTP request to the webhook URL.\n",
    "bigquery.md": "---\ntitle: Load\ntype: io.kestra.plugin.gcp.bigquery.Load\n---\n# Load\n\nLoad a file "
    "into a BigQuery table.\n",
}


@pytest.fixture
def env(tmp_path: Path, model_cache: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Share the session's model cache (building the ONNX graph again would cost ~3 s per test)."""
    monkeypatch.setenv("KESTRA_COPILOT_CACHE_DIR", str(model_cache))
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text)
    return docs


def test_build_status_search(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", "build", "--source", f"corpus={corpus_dir() / 'flows'}", "--source", str(env)]) == 0
    captured = capsys.readouterr()
    assert "embedding" in captured.err and "reading corpus" in captured.err
    assert "removed) in" in captured.out and "0 unchanged" in captured.out

    assert main(["index", "build", "--source", str(env)]) == 0  # corpus dropped: its chunks go
    out = capsys.readouterr().out
    assert "0 embedded" in out and "3 unchanged" in out and "removed" in out

    assert main(["index", "status"]) == 0
    status = capsys.readouterr().out
    assert "chunks:     3 (3 embedded)" in status and f"docs = {env}" in status

    assert main(["search", "io.kestra.plugin.gcp.bigquery.Load", "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1. [plugin-doc] Load")
    assert "types: io.kestra.plugin.gcp.bigquery.Load" in out and "bm25 #1" in out

    assert main(["search", "http request starts a run", "--json", "--kind", "doc"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["title"].startswith("Webhook trigger") and {h["kind"] for h in hits} == {"doc"}
    assert {"rank", "score", "dense_rank", "bm25_rank", "source", "location", "text"} <= hits[0].keys()


def test_search_before_any_build_says_what_to_do(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "anything"]) == 2
    err = capsys.readouterr().err
    assert "has not been built yet" in err and "kestra-copilot index build" in err


def test_a_missing_source_stops_the_build_and_changes_nothing(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", "build", "--source", str(env)]) == 0
    assert main(["index", "build", "--source", str(env / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["index", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chunks"] == 3


def test_eval_retrieval_scores_three_modes(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    cases = []
    for name in ("gcs_bigquery_elt", "webhook_trigger", "kv_and_secrets"):
        text = (corpus_dir() / "flows" / f"{name}.yaml").read_text()
        (flows / f"{name}.yaml").write_text(text)
        types = sorted({line.split("type:")[1].strip() for line in text.splitlines() if "type: io.kestra" in line})
        cases.append({"id": name, "title": name.replace("_", " "), "task_types": types, "source": f"{name}.yaml"})
    case_file = tmp_path / "cases.jsonl"
    case_file.write_text("".join(json.dumps(c) + "\n" for c in cases))
    args = ["eval", "retrieval", "--cases", str(case_file), "--source", str(env), "--source", f"flows={flows}"]
    assert main([*args, "-k", "3", "--index", str(tmp_path / "eval-index")]) == 0
    out = capsys.readouterr().out
    assert "3 cases" in out and "goal (hybrid" in out
    rows = {line.split()[0] for line in out.splitlines()[2:6]}
    assert rows == {"hybrid", "fusion", "dense", "bm25"}

    assert main([*args, "--json", "--index", str(tmp_path / "eval-index")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["modes"]) == {"hybrid", "fusion", "dense", "bm25"}
    for mode in report["modes"].values():
        assert 0.0 <= mode["type_recall"] <= 1.0 and len(mode["cases"]) == 3
        # Each flow is excluded from its own query: with only docs left, some types must be missing.
        assert any(case["missing"] for case in mode["cases"])


def test_an_optional_source_that_fails_keeps_its_indexed_chunks(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from copilot.cli_retrieval import build_index
    from copilot.config import load_settings
    from copilot.retrieval.index import Index
    from copilot.retrieval.sources import Source
    from tests.retrieval.test_sources import DOC, ArchiveServer, tarball

    server = ArchiveServer(tarball({"docs-main/triggers.md": DOC}))
    try:
        settings = load_settings()
        index = Index(tmp_path / "index", cache_dir=settings.cache_dir)
        remote = Source("remote-docs", server.url, optional=True)
        local = Source("docs", str(env))
        first = build_index(index, [local, remote], settings)
        server.status = 503  # the next sync finds the server down
        again = build_index(index, [local, remote], settings)
    finally:
        server.close()
    assert (again.added, again.removed, again.kept) == (0, 0, first.total)
    err = capsys.readouterr().err
    assert "remote-docs: " in err and "HTTP 503" in err and "chunks already indexed are kept" in err
    assert index.manifest()["sources"]["remote-docs"] == server.url


def test_a_yaml_file_that_is_not_a_flow_is_skipped_and_counted(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--source corpus` holds manifest.yaml beside the flows: it is not indexed as a "[flow] Flow" chunk.
    A flow with a syntax error is still a flow (its top-level keys say so)."""
    broken = tmp_path / "flows" / "broken.yaml"
    broken.parent.mkdir()
    broken.write_text("id: broken\nnamespace: company.team\ntasks:\n  - id: a\n   type: x\n")
    (tmp_path / "flows" / "settings.yml").write_text("retries: 3\n")
    sources = ["--source", str(corpus_dir()), "--source", str(broken.parent)]
    assert main(["index", "build", *sources]) == 0
    err = capsys.readouterr().err
    assert "10 chunks from 10 files; 1 YAML file skipped, not a flow (no id, namespace and tasks): manifest.yaml" in err
    assert "1 chunk from 1 file; 1 YAML file skipped, not a flow" in err and "settings.yml" in err
    assert main(["search", "sources manifest kestra_version", "--json", "-k", "20"]) == 0
    locations = {hit["location"] for hit in json.loads(capsys.readouterr().out)}
    assert "broken.yaml" in locations
    assert not {"manifest.yaml", "settings.yml"} & locations and all(
        location.startswith("flows/") for location in locations - {"broken.yaml"}
    )


def test_offline_default_build_says_the_index_has_no_docs_and_how_to_add_them(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No internet: the manifest's tarballs cannot be fetched. The build ends saying the index holds only the
    corpus's flows, and the command it prints (with a local docs folder for PATH) gives a doc search hits."""
    import shlex
    import shutil
    import socket

    with socket.socket() as closed:  # a loopback port nothing listens on: connections are refused, as offline
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_dir() / "flows", corpus / "flows")
    (corpus / "manifest.yaml").write_text(
        "sources:\n"
        f"  - {{name: kestra-docs, url: 'http://127.0.0.1:{port}/docs.tar.gz#src/contents/docs'}}\n"
        f"  - {{name: kestra-blueprints, url: 'http://127.0.0.1:{port}/blueprints.tar.gz#flows'}}\n"
    )
    monkeypatch.setattr("copilot.retrieval.sources.corpus_dir", lambda: corpus)

    assert main(["index", "build"]) == 0
    err = capsys.readouterr().err
    assert "cannot connect (offline?)" in err
    assert (
        "note: the index holds only 10 example flows and no documentation (kestra-docs, kestra-blueprints "
        "skipped): searches for docs find nothing" in err
    )
    command = err.split("hint: add documentation you have on disk, keeping these sources: `", 1)[1].split("`")[0]
    assert command == f"kestra-copilot index build --source corpus={corpus / 'flows'} --source docs=PATH"

    args = shlex.split(command.replace("PATH", str(env)))[1:]
    assert main(args) == 0
    assert "note:" not in capsys.readouterr().err
    assert main(["search", "run a flow every day on a cron schedule", "--kind", "doc"]) == 0
    assert capsys.readouterr().out.startswith("1. [doc] Schedule trigger")


def test_an_unreachable_server_source_is_named_once_in_its_warning(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from copilot.cli_retrieval import build_index
    from copilot.config import load_settings
    from copilot.retrieval.index import Index
    from copilot.retrieval.sources import KESTRA, Source
    from tests.fakes.kestra import FakeKestra

    with FakeKestra() as gone:
        url = gone.url
    monkeypatch.setenv("KESTRA_URL", url)
    settings = load_settings()
    index = Index(tmp_path / "index", cache_dir=settings.cache_dir)
    build_index(index, [Source("docs", str(env)), Source(KESTRA, KESTRA, optional=True)], settings)
    [warning] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warning.startswith(f"warning: Source kestra: Cannot reach Kestra at {url} to read the server version: ")
    assert warning.endswith(". Skipped; the index is built without it.") and "Error" not in warning
