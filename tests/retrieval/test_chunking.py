"""Markdown and flow chunking: breadcrumbs, code fences never cut, MDX noise, sizes, odd input."""

from pathlib import Path

from copilot.retrieval.chunks import Chunk, plugin_types_in
from copilot.retrieval.flows import MAX_FLOW_CHARS, flow_chunk, flows_from_jsonl
from copilot.retrieval.markdown import HARD_MAX_TOKENS, MAX_TOKENS, chunk_markdown


def chunks(text: str) -> list[Chunk]:
    return chunk_markdown(text, source="docs", location="page.md")


def test_breadcrumbs_follow_the_heading_tree_and_front_matter_title() -> None:
    text = (
        "---\ntitle: Triggers\nicon: x.svg\n---\n\nIntro.\n\n## Schedule\n\nRuns flows.\n\n"
        "### Backfills\n\nReplays missed runs.\n\n## Flow\n\nChains flows.\n"
    )
    titles = [c.title for c in chunks(text)]
    assert titles == ["Triggers", "Triggers > Schedule", "Triggers > Schedule > Backfills", "Triggers > Flow"]
    assert "icon" not in " ".join(c.text for c in chunks(text))  # front matter stripped
    assert chunks(text)[2].location == "page.md#backfills"


def test_six_heading_levels() -> None:
    text = "".join(f"{'#' * level} H{level}\n\nbody {level}\n\n" for level in range(1, 7))
    assert chunks(text)[-1].title == "H1 > H2 > H3 > H4 > H5 > H6"


def test_a_code_fence_is_never_cut_and_headings_inside_it_are_not_headings() -> None:
    code = "```yaml\n" + "".join(f"# not a heading {i}\nkey{i}: value\n\n" for i in range(40)) + "```"
    text = "# Page\n\n" + "prose. " * 200 + "\n\n" + code + "\n\nafter\n"
    found = chunks(text)
    assert all(c.title == "Page" for c in found)
    assert sum(code in c.text for c in found) == 1


def test_tilde_fences_nested_backticks_and_unclosed_fences() -> None:
    nested = "~~~~markdown\n```yaml\nid: a\n```\n## inside\n~~~~"
    assert any(nested in c.text for c in chunks(f"# A\n\n{nested}\n\n## B\n\ntext\n"))
    unclosed = chunks("# A\n\n```python\nprint(1)\n## still code\n")
    assert len(unclosed) == 1 and "## still code" in unclosed[0].text


def test_a_huge_code_block_is_split_and_each_part_re_fenced() -> None:
    code = "```sql\n" + "\n".join(f"select {i};" for i in range(4000)) + "\n```"
    parts = chunks(f"# Big\n\n{code}\n")
    assert len(parts) > 1
    assert all(p.text.startswith("```sql") and p.text.endswith("```") for p in parts)
    assert all(p.tokens <= HARD_MAX_TOKENS + 50 for p in parts)


def test_huge_pages_give_bounded_chunks_that_keep_all_the_text() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 80 for i in range(200)]
    found = chunks("# Long\n\n" + "\n\n".join(paragraphs) + "\n")
    assert all(c.tokens <= MAX_TOKENS + 20 for c in found)
    joined = "\n\n".join(c.text for c in found)
    assert all(p.strip() in joined for p in paragraphs)


def test_one_enormous_line_is_split_too() -> None:
    found = chunks("# Wall\n\n" + "x" * 20_000 + "\n")
    assert len(found) > 1 and "".join(c.text for c in found) == "x" * 20_000


def test_empty_and_front_matter_only_documents_give_no_chunks() -> None:
    assert chunks("") == [] and chunks("   \n\n") == [] and chunks("---\ntitle: T\n---\n") == []


def test_mdx_imports_components_and_directives_are_dropped_keeping_text() -> None:
    text = (
        "import ChildCard from '../components/ChildCard.vue'\nexport const meta = {}\n\n# Page\n\n"
        ':::alert{type="info"}\nKeep this note.\n:::\n\n<ChildCard pageUrl="/docs" />\n\n'
        "Java `Property<String>` stays.\n"
    )
    body = chunks(text)[0].text
    assert "import" not in body and "ChildCard" not in body and ":::" not in body
    assert "Keep this note." in body and "Property<String>" in body


def test_small_sibling_sections_are_merged_under_their_parent() -> None:
    text = "# Task\n\n## Properties\n\n" + "".join(f"### `p{i}`\n\nShort {i}.\n\n" for i in range(30))
    found = chunks(text)
    assert len(found) < 10 and all(c.title == "Task > Properties" for c in found)
    assert all(f"`p{i}`" in "".join(c.text for c in found) for i in range(30))


def test_ids_are_stable_and_plugin_types_are_found() -> None:
    text = "# A\n\nUse `io.kestra.plugin.gcp.bigquery.Load` then io.kestra.plugin.core.log.Log.\n"
    first, second = chunks(text), chunks(text)
    assert [c.id for c in first] == [c.id for c in second]
    assert first[0].plugin_types == ("io.kestra.plugin.gcp.bigquery.Load", "io.kestra.plugin.core.log.Log")
    assert plugin_types_in("io.kestra.plugin.gcp and io.kestra.core.tasks.flows.Switch") == (
        "io.kestra.core.tasks.flows.Switch",
    )


def test_flow_chunks_carry_types_even_from_broken_yaml() -> None:
    good = flow_chunk(
        "id: a\nnamespace: n\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n",
        source="s",
        location="a.yml",
    )
    assert good.kind == "flow" and good.plugin_types == ("io.kestra.plugin.core.log.Log",)
    broken = flow_chunk(
        "id: a\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n   bad: [\n", source="s", location="b.yml"
    )
    assert broken.plugin_types == ("io.kestra.plugin.core.log.Log",)
    huge = flow_chunk("id: a\n" + "# filler line\n" * 2000, source="s", location="c.yml")
    assert len(huge.text) < MAX_FLOW_CHARS + 100 and "flow truncated" in huge.text


def test_jsonl_flows_with_a_bad_line(tmp_path: Path) -> None:
    text = (
        '{"id": "bp-1", "kind": "blueprint", "title": "Load CSV", "description": "Loads it.", '
        '"yaml": "id: x\\nnamespace: n\\ntasks: []\\n"}\nnot json\n{"id": "f", "yaml": "id: y\\n"}\n'
    )
    warnings: list[str] = []
    found = list(flows_from_jsonl(text, source="flows", location="dev.jsonl", warnings=warnings))
    assert [c.kind for c in found] == ["blueprint", "flow"] and found[0].title == "Load CSV"
    assert warnings == ["dev.jsonl:2: not a JSON line, skipped"]
