"""Sources: paths, release tarballs over HTTP(S) (a loopback server here), a Kestra server (the fake)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from copilot.config import Settings
from copilot.flows import validate_flow
from copilot.retrieval.sources import Source, SourceError, corpus_dir, default_sources, load, parse_source
from copilot.workspace import Workspace
from tests.fakes.archives import tarball
from tests.fakes.kestra import FakeKestra
from tests.fakes.loopback import LoopbackServer, QuietHandler

DOC = "---\ntitle: Triggers\n---\n# Schedule\n\nRun flows on a cron.\n\n## Backfills\n\nReplay past dates.\n"
FLOW = "id: hello\nnamespace: company.team\ntasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"


class ArchiveServer:
    """Serves one archive with an ETag, answers 304 to a matching If-None-Match, counts full downloads."""

    def __init__(self, body: bytes, etag: str = '"v1"') -> None:
        self.body, self.etag, self.downloads, self.status = body, etag, 0, 200
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if server.status != 200:
                    self.send_response(server.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.headers.get("If-None-Match") == server.etag:
                    self.send_response(304)
                    self.end_headers()
                else:
                    server.downloads += 1
                    self.send_response(200)
                    self.send_header("ETag", server.etag)
                    self.send_header("Content-Length", str(len(server.body)))
                    self.end_headers()
                    self.wfile.write(server.body)

        self.httpd = LoopbackServer(Handler).start()
        self.url = f"{self.httpd.url}/docs-main.tar.gz"

    def close(self) -> None:
        self.httpd.stop()


@pytest.fixture
def archive_server() -> Iterator[ArchiveServer]:
    members = {
        "docs-main/src/contents/docs/triggers.md": DOC,
        "docs-main/src/contents/docs/hello.yaml": FLOW,
        "docs-main/README.md": "# Not docs\n\nOutside the folder asked for.\n",
        "docs-main/src/contents/docs/../../../../etc/evil.md": "# Evil\n\nmust never be read\n",
        "docs-main/src/contents/docs/image.png": "binary",
    }
    server = ArchiveServer(tarball(members))
    yield server
    server.close()


def test_parse_source_forms(tmp_path: Path) -> None:
    assert parse_source("kestra") == Source("kestra", "kestra")
    remote = parse_source("https://example.com/a/docs-main.tar.gz#src/contents/docs/")
    assert (remote.kind, remote.name, remote.target, remote.subdir) == (
        "tarball",
        "docs-main",
        "https://example.com/a/docs-main.tar.gz",
        "src/contents/docs",
    )
    named = parse_source(f"mine={tmp_path}")
    assert (named.kind, named.name, named.target) == ("path", "mine", str(tmp_path))
    assert parse_source("docs=https://x.io/d.tgz").name == "docs"
    with pytest.raises(SourceError):
        parse_source("name=")


def test_tarball_source_reads_the_folder_asked_for_and_nothing_outside(
    archive_server: ArchiveServer, tmp_path: Path
) -> None:
    source = parse_source(f"docs={archive_server.url}#src/contents/docs")
    result = load(source, cache_dir=tmp_path)
    locations = sorted({c.location.split("#")[0] for c in result.chunks})
    assert locations == ["hello.yaml", "triggers.md"]
    assert {c.title for c in result.chunks} >= {"Triggers > Schedule", "Flow hello"}
    assert all("Evil" not in c.text and "Not docs" not in c.text for c in result.chunks)
    assert not (tmp_path.parent / "etc").exists()


def test_tarball_is_downloaded_once_then_revalidated(archive_server: ArchiveServer, tmp_path: Path) -> None:
    source = parse_source(archive_server.url)
    first = load(source, cache_dir=tmp_path)
    second = load(source, cache_dir=tmp_path)
    assert archive_server.downloads == 1
    assert [c.id for c in first.chunks] == [c.id for c in second.chunks]
    archive_server.close()  # offline now: the cached copy still serves
    assert len(load(source, cache_dir=tmp_path).chunks) == len(first.chunks)


def test_tarball_errors_are_clear(archive_server: ArchiveServer, tmp_path: Path) -> None:
    archive_server.status = 404
    with pytest.raises(SourceError, match="HTTP 404"):
        load(parse_source(archive_server.url), cache_dir=tmp_path)
    archive_server.status, archive_server.body = 200, b"this is not a tarball"
    with pytest.raises(SourceError, match="not a readable tar archive"):
        load(parse_source(archive_server.url), cache_dir=tmp_path / "other")
    with pytest.raises(SourceError, match="Cannot download"):
        load(parse_source("http://127.0.0.1:9/nothing.tar.gz"), cache_dir=tmp_path / "none")


def test_kestra_source_indexes_the_servers_plugins_and_blueprints(tmp_path: Path) -> None:
    docs = {
        "io.kestra.plugin.core.log.Log": "# Log a message\n\nWrites a message to the execution logs.\n",
        "io.kestra.plugin.acme.Private": "# Private\n\nA plugin only this server has.\n",
        "io.kestra.plugin.acme.PollTrigger": "# Poll\n\nPolls the acme API.\n",
    }
    blueprints = [
        {"id": str(i), "title": f"Blueprint {i}", "description": "Say hello", "tags": [], "source": FLOW}
        for i in range(1, 4)
    ]
    with FakeKestra(version="1.3.2", plugin_docs=docs, blueprints=blueprints) as kestra:
        settings = Settings(kestra_url=kestra.url, kestra_username=kestra.username, kestra_password=kestra.password)
        result = load(parse_source("kestra"), cache_dir=tmp_path, kestra=Workspace(settings).kestra)
    assert result.kestra_version == "1.3.2"
    plugin_chunks = [c for c in result.chunks if c.kind == "plugin-doc"]
    assert {c.plugin_types[0] for c in plugin_chunks} == set(docs)
    assert any(c.title.startswith("Private") for c in plugin_chunks)
    blueprint_chunks = [c for c in result.chunks if c.kind == "blueprint"]
    assert sorted(c.title for c in blueprint_chunks) == ["Blueprint 1", "Blueprint 2", "Blueprint 3"]
    assert all(c.plugin_types == ("io.kestra.plugin.core.log.Log",) for c in blueprint_chunks)
    # Pages of 100: all three fit in one request; the sources of each are fetched one by one.
    assert sum(1 for _, path in kestra.requests if path.endswith("/source")) == 3


def test_kestra_source_without_blueprints_still_gives_plugins(tmp_path: Path) -> None:
    with FakeKestra(plugin_docs={"io.kestra.plugin.core.log.Log": "# Log\n\nLogs.\n"}) as kestra:
        kestra.tenant = "other"  # the tenant routes (blueprints) now answer 404
        settings = Settings(kestra_url=kestra.url, kestra_username=kestra.username, kestra_password=kestra.password)
        result = load(parse_source("kestra"), cache_dir=tmp_path, kestra=Workspace(settings).kestra)
    assert [c.kind for c in result.chunks] == ["plugin-doc"]
    assert any("no community blueprints" in w for w in result.warnings)


def test_kestra_source_with_wrong_credentials_fails_clearly(tmp_path: Path) -> None:
    with FakeKestra() as kestra:
        settings = Settings(kestra_url=kestra.url, kestra_username="someone", kestra_password="wrong")
        with pytest.raises(SourceError) as caught:
            load(parse_source("kestra"), cache_dir=tmp_path, kestra=Workspace(settings).kestra)
    assert "401" in str(caught.value) or "credentials" in str(caught.value).lower()


def test_the_project_corpus_is_valid_and_is_the_default_source() -> None:
    flows = sorted((corpus_dir() / "flows").glob("*.yaml"))
    assert len(flows) >= 10
    for path in flows:
        report = validate_flow(path.read_text(), kestra_version=1)
        assert report.valid, f"{path.name}: {[d.message for d in report.errors]}"
    sources = default_sources(kestra=False)
    assert sources[0].name == "corpus" and Path(sources[0].target) == corpus_dir() / "flows"
    assert all(s.optional for s in sources[1:]) and "kestra" not in [s.name for s in sources]
    assert "kestra" in [s.name for s in default_sources(kestra=True)]
