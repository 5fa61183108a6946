from pathlib import Path

import pytest

from copilot.config import Settings, load_settings, mask
from copilot.errors import ConfigError


def test_environment_overrides_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('model = "gemini-2.5-pro"\n[kestra]\nurl = "http://file:8080/"\nversion = 2\n')
    env = {"KESTRA_URL": "http://env:8080", "GOOGLE_API_KEY": "AIzaSyD-google-key-123456"}
    settings = load_settings(env, config)
    assert settings.kestra_url == "http://env:8080"
    assert settings.model == "gemini-2.5-pro"
    assert settings.kestra_version == 2
    assert settings.gemini_api_key == "AIzaSyD-google-key-123456"
    assert settings.config_file == config


def test_gemini_key_wins_over_google_key(tmp_path: Path) -> None:
    settings = load_settings({"GEMINI_API_KEY": "gem", "GOOGLE_API_KEY": "goo"}, tmp_path / "none.toml")
    assert settings.gemini_api_key == "gem"


def test_redacted_masks_every_secret() -> None:
    settings = Settings(gemini_api_key="AIzaSyD-secret-value-0000", kestra_password="hunter2hunter2")
    shown = settings.redacted()
    assert "secret-value" not in str(shown) and "hunter2hunter2" not in str(shown)
    assert shown["gemini_api_key"] == "AIza…(25 chars)"
    assert mask("short") == "****" and mask(None) is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("model = [", "not valid TOML"),
        ("colour = 'red'\n", "Unknown setting"),
        ("[kestra]\nversion = 3\n", "1 or 2"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, words: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=words):
        load_settings({}, config)


def test_prices_and_keys_tables_are_kept_whole(tmp_path: Path) -> None:
    from copilot.llm.prices import Price

    path = tmp_path / "config.toml"
    path.write_text(
        '[prices."qwen2.5-coder:7b"]\ninput = 0\noutput = 0\n'
        '[prices."gemini-3.8-flash"]\ninput = 1.5\noutput = 7.5\ncached = 0.15\n'
        '[keys]\nundo = "ctrl+u"\n'
    )
    settings = load_settings(environ={}, path=path)
    assert settings.prices == {"qwen2.5-coder:7b": Price(0.0, 0.0), "gemini-3.8-flash": Price(1.5, 7.5, 0.15)}
    assert settings.keys == {"undo": "ctrl+u"}
    assert settings.redacted()["prices"]["gemini-3.8-flash"] == [1.5, 7.5, 0.15]
    path.write_text('[prices."m"]\ninput = "cheap"\n')
    with pytest.raises(ConfigError, match="needs numbers"):
        load_settings(environ={}, path=path)


def test_test_run_timeout_is_seconds() -> None:
    assert load_settings({}).test_run_timeout == 600.0
    assert load_settings({"KESTRA_COPILOT_TEST_RUN_TIMEOUT": "90"}).test_run_timeout == 90.0
    with pytest.raises(ConfigError, match="test_run_timeout must be a number of seconds"):
        load_settings({"KESTRA_COPILOT_TEST_RUN_TIMEOUT": "soon"})


def test_a_keys_table_that_is_not_action_to_key_gives_an_example_the_chat_takes(tmp_path: Path) -> None:
    import re

    from copilot.tui.keys import refusal

    path = tmp_path / "config.toml"
    path.write_text("[keys]\nhelp = 5\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={}, path=path)
    example = re.search(r'e\.g\. (\w+) = "([^"]+)"', str(caught.value))
    assert example is not None and refusal(example[2]) is None  # not a key the input keeps, as ctrl+u was
