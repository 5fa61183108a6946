"""Recipes from prompts/recipes and the prompts they assemble."""

from pathlib import Path

import pytest

from copilot.engine.prompt import build_prompt, render_sources, repair_prompt
from copilot.engine.recipes import RecipeError, list_recipes, load_recipe, prompts_dir
from copilot.retrieval.chunks import Chunk
from copilot.retrieval.hybrid import Hit

FLOW = "id: hello\nnamespace: company.team\ntasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"


def hits() -> list[Hit]:
    chunks = [
        Chunk("Use `{{ secret('X') }}` for credentials.", "doc", "docs", "Secrets", "secrets.md"),
        Chunk("```yaml\nid: a\n```", "flow", "corpus", "Flow a", "a.yaml", ("io.kestra.plugin.core.log.Log",)),
    ]
    return [Hit(c, 0.5) for c in chunks]


def test_every_shipped_recipe_loads() -> None:
    names = list_recipes()
    assert {"default", "no-retrieval", "flows-only"} <= set(names)
    for name in names:
        recipe = load_recipe(name)
        assert recipe.name == name and set(recipe.templates) == {
            "system",
            "edit",
            "repair_validation",
            "repair_run_logs",
            "question",
        }
    default = load_recipe()
    assert (default.k, default.budget_tokens, default.repair_attempts) == (8, 6000, 2)
    assert load_recipe("flows-only").kinds == ("flow", "blueprint")


def test_bad_recipes_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RecipeError) as caught:
        load_recipe("nope")
    assert "default" in (caught.value.hint or "")
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "broken.yaml").write_text("templates: {system: missing.md}\n")
    with pytest.raises(RecipeError, match="no template for: edit"):
        load_recipe("broken", folder=tmp_path)
    bad_kind = (prompts_dir() / "recipes" / "default.yaml").read_text().replace("blueprint]", "blog]")
    (tmp_path / "bad.yaml").write_text(bad_kind)
    with pytest.raises(RecipeError, match="unknown retrieval kinds: blog"):
        load_recipe(str(tmp_path / "bad.yaml"))


def test_first_turn_prompt_has_rules_version_and_cited_sources() -> None:
    prompt = build_prompt(load_recipe(), "log hello every day", hits=hits(), kestra_version=2)
    assert "Kestra 2.x" in prompt.system and "io.kestra.plugin.core.flow.Loop" in prompt.system
    assert "{{ secret('NAME') }}" in prompt.system  # Pebble braces survive the template
    assert "[S1] (doc) Secrets — secrets.md" in prompt.system and "[S2] (flow) Flow a — a.yaml" in prompt.system
    assert [m.role for m in prompt.messages] == ["user"] and prompt.messages[0].text == "log hello every day"
    assert set(prompt.parts) == {"system", "sources", "request"}


def test_edit_turn_carries_the_flow_and_hashes_change_with_it() -> None:
    recipe = load_recipe()
    first = build_prompt(recipe, "add a retry", current_flow=FLOW, revision=3)
    assert "revision 3" in first.messages[-1].text and FLOW.strip() in first.messages[-1].text
    assert first.messages[-1].text.endswith("Request: add a retry")
    again = build_prompt(recipe, "add a retry", current_flow=FLOW, revision=3)
    other = build_prompt(recipe, "add a retry", current_flow=FLOW.replace("hi", "hello"), revision=3)
    assert first.hash == again.hash != other.hash
    assert first.parts["system"] == other.parts["system"] and first.parts["flow"] != other.parts["flow"]
    no_flow = build_prompt(load_recipe("no-retrieval"), "add a retry", hits=[], current_flow=None)
    assert "flow" not in no_flow.parts and "sources" not in no_flow.parts


def test_repair_prompt_appends_the_reply_and_the_diagnostics() -> None:
    recipe = load_recipe()
    prompt = build_prompt(recipe, "log hello", hits=hits())
    repaired = repair_prompt(
        recipe, prompt, "```yaml\nid: x\n```", "7:5 error[unknown-property] Unknown property `colour`"
    )
    assert [m.role for m in repaired.messages] == ["user", "model", "user"]
    assert "Unknown property `colour`" in repaired.messages[-1].text and repaired.system == prompt.system
    assert repaired.hash != prompt.hash and "repair" in repaired.parts


def test_render_sources_is_empty_without_hits() -> None:
    assert render_sources([]) == ""


def test_a_question_prompt_asks_for_an_answer_with_or_without_a_flow(tmp_path: Path) -> None:
    recipe = load_recipe()
    asked = build_prompt(recipe, "why a merge?", current_flow=FLOW, revision=2, question=True)
    text = asked.messages[-1].text
    assert "Do not write or change the flow" in text and FLOW.strip() in text
    assert text.endswith("Question: why a merge?")
    assert "question" in asked.parts and "flow" not in asked.parts  # not the edit template
    first = build_prompt(recipe, "what is a flow trigger?", question=True).messages[-1].text
    assert "(There is no flow yet.)" in first
    # a recipe written before questions had a template of their own gets the shipped one
    older = (prompts_dir() / "recipes" / "default.yaml").read_text().replace("  question: question.md\n", "")
    (tmp_path / "older.yaml").write_text(older)
    assert load_recipe(str(tmp_path / "older.yaml")).templates["question"] == recipe.templates["question"]
