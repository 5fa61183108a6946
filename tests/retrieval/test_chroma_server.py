"""The index on a real Chroma server (`chroma run` on loopback), as `--chroma-url` uses it."""

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from copilot.cli import main
from copilot.retrieval.embeddings import MiniLMEmbedder
from copilot.retrieval.hybrid import search
from copilot.retrieval.index import Index, IndexError_
from copilot.retrieval.loaders import load_source
from copilot.retrieval.sources import corpus_dir


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    executable = Path(sys.executable).parent / "chroma"
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data / "server.log").open("w")
    process = subprocess.Popen(
        [str(executable), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chroma run did not start: {(data / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_build_and_search_on_a_chroma_server(
    chroma_url: str, tmp_path: Path, model_cache: Path, embedder: MiniLMEmbedder
) -> None:
    chunks = load_source(corpus_dir() / "flows", source="corpus").chunks
    index = Index(tmp_path / "a", cache_dir=model_cache, chroma_url=chroma_url)
    report = index.build(chunks, sources={"corpus": "corpus/flows"})
    assert report.added == len(chunks)
    assert not (tmp_path / "a" / "chroma").exists()  # vectors live on the server

    reopened = Index(tmp_path / "a", cache_dir=model_cache, chroma_url=chroma_url)
    assert reopened.build(chunks, sources={"corpus": "corpus/flows"}).kept == len(chunks)
    hits = search(reopened, "start a flow from an HTTP call", k=3, mode="dense")
    assert hits[0].chunk.location == "webhook_trigger.yaml"

    other = Index(tmp_path / "b", cache_dir=model_cache, chroma_url=chroma_url)
    assert other.collection_name != index.collection_name  # two indexes, one server: kept apart
    assert other.build(chunks[:2], sources={}).added == 2
    assert index.collection().count() == len(chunks)


def test_cli_search_through_a_chroma_server(
    chroma_url: str,
    model_cache: Path,
    embedder: MiniLMEmbedder,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KESTRA_COPILOT_CACHE_DIR", str(model_cache))
    monkeypatch.setenv("KESTRA_COPILOT_CHROMA_URL", chroma_url)
    assert main(["index", "build", "--source", f"corpus={corpus_dir() / 'flows'}"]) == 0
    assert main(["index", "status"]) == 0
    assert f"(Chroma at {chroma_url})" in capsys.readouterr().out
    assert main(["search", "merge into postgres without duplicates", "-k", "1", "--mode", "dense"]) == 0
    assert "postgres_etl_staging_merge" in capsys.readouterr().out


def test_an_unreachable_chroma_server_is_a_clear_error(tmp_path: Path, model_cache: Path) -> None:
    index = Index(tmp_path, cache_dir=model_cache, chroma_url=f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(IndexError_) as caught:
        index.collection()
    assert "Cannot reach the Chroma server" in str(caught.value) and "chroma run" in (caught.value.hint or "")
    with pytest.raises(IndexError_, match="must look like"):
        Index(tmp_path, cache_dir=model_cache, chroma_url="localhost:8000").collection()
