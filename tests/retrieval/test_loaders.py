"""Loading sources from disk: folders, odd files, and the real Kestra material in ../shared."""

from collections import Counter
from pathlib import Path

import pytest

from copilot.retrieval import loaders
from copilot.retrieval.loaders import load_source
from copilot.retrieval.markdown import HARD_MAX_TOKENS, MAX_TOKENS
from tests.conftest import shared_path


def test_a_folder_of_docs_and_flows(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nAbout io.kestra.plugin.core.log.Log.\n")
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "hello.yml").write_text("id: hello\nnamespace: n\ntasks: []\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.md").write_text("# hidden\n\ntext\n")
    (tmp_path / "notes.txt").write_text("ignored")
    result = load_source(tmp_path, source="mine")
    assert sorted((c.kind, c.location) for c in result.chunks) == [("doc", "docs/a.md#a"), ("flow", "flows/hello.yml")]
    assert {c.source for c in result.chunks} == {"mine"} and result.files == 2


def test_non_utf8_bytes_do_not_crash_and_are_not_indexed_garbled(tmp_path: Path) -> None:
    page = tmp_path / "latin1.md"
    page.write_bytes("# Café\n\nna\xefve r\xe9sum\xe9\n".encode("latin-1"))
    result = load_source(page)
    assert result.chunks == [] and "is not UTF-8 text: byte 0xe9" in result.warnings[0]


def test_a_broken_yaml_file_is_said_to_be_broken_not_to_be_no_flow(tmp_path: Path) -> None:
    (tmp_path / "broken.yml").write_text("id: broken\nnamespace: x\n tasks:\n  - id: a\n")  # `tasks` indented
    (tmp_path / "settings.yml").write_text("retries: 3\n")
    result = load_source(tmp_path)
    assert result.warnings == ["broken.yml is not valid YAML (line 3: mapping values are not allowed here); skipped"]
    assert result.not_flows == ["settings.yml"] and result.chunks == []


def test_oversized_and_missing_files_become_warnings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loaders, "MAX_FILE_BYTES", 100)
    (tmp_path / "big.md").write_text("# Big\n\n" + "x" * 500)
    result = load_source(tmp_path)
    assert result.chunks == [] and "over the" in result.warnings[0]
    assert "no such file" in load_source(tmp_path / "nope").warnings[0]


def test_the_real_kestra_material_loads_sanely() -> None:
    counts: Counter = Counter()
    for name in ("kestra-docs", "kestra-plugin-docs", "kestra-flows"):
        result = load_source(shared_path(name))
        counts.update(c.kind for c in result.chunks)
        for chunk in result.chunks:
            if chunk.kind in ("doc", "plugin-doc") and "```" not in chunk.text:
                assert chunk.tokens <= MAX_TOKENS + 80, chunk.location
            assert chunk.tokens <= HARD_MAX_TOKENS + 2000, chunk.location
    print(f"\n[chunks] {dict(counts)}")
    assert counts["doc"] > 500 and counts["plugin-doc"] > 3000 and counts["blueprint"] > 200 and counts["flow"] > 1000
