"""Configuration: every bad value stops start-up with a message naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import ConfigError, MemoryStrategy, Provider, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer .env or exported keys leak into these tests."""
    monkeypatch.chdir(tmp_path)
    for key in ("LLM_PROVIDER", "OPENAI_API_KEY", "MEMORY_TOKEN_BUDGET", "TELEGRAM_BOT_TOKEN"):
        monkeypatch.delenv(key, raising=False)


def test_defaults_need_no_configuration() -> None:
    settings = load_settings()
    assert settings.llm_provider is Provider.AUTO
    assert settings.memory_strategy is MemoryStrategy.SUMMARY
    assert settings.openai_api_key is None and settings.telegram_bot_token is None


def test_dotenv_file_is_read_and_empty_keys_mean_unset(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "LLM_PROVIDER=ollama\nOPENAI_API_KEY=\nLOCAL_MODEL_PATH=\n"
        "LLM_MODELS=llama3.2, qwen2.5\nADMIN_IDS=tg:1,dc:2\nDISCORD_GUILD_IDS=10,20\n"
        "DEFAULT_LOCALE=pt_BR\n"
    )
    settings = load_settings()
    assert settings.llm_provider is Provider.OLLAMA
    assert settings.openai_api_key is None and settings.local_model_path is None
    assert settings.llm_models == ["llama3.2", "qwen2.5"]
    assert settings.admin_ids == ["tg:1", "dc:2"]
    assert settings.discord_guild_ids == [10, 20]
    assert settings.default_locale == "pt-BR"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("LLM_PROVIDER", "gpt", "LLM_PROVIDER: Input should be 'auto', 'openai'"),
        ("MEMORY_TOKEN_BUDGET", "lots", "MEMORY_TOKEN_BUDGET: Input should be a valid integer"),
        (
            "MEMORY_TOKEN_BUDGET",
            "5",
            "MEMORY_TOKEN_BUDGET: Input should be greater than or equal to 100",
        ),
        ("MEMORY_STRATEGY", "forget", "MEMORY_STRATEGY: Input should be 'trim' or 'summary'"),
        ("DEFAULT_LOCALE", "fr", "DEFAULT_LOCALE: Value error, expected one of: en, pt-BR"),
        (
            "TELEGRAM_API_BASE_URL",
            "api.telegram.org",
            "TELEGRAM_API_BASE_URL: Value error, expected an http(s) URL",
        ),
        ("DISCORD_GUILD_IDS", "abc", "DISCORD_GUILD_IDS"),
        ("LLM_TEMPERATURE", "7", "LLM_TEMPERATURE: Input should be less than or equal to 2"),
        ("DISCORD_SHARD_IDS", "0,1", "DISCORD_SHARD_IDS: Value error, DISCORD_SHARD_COUNT must"),
    ],
)
def test_bad_values_name_the_key(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(raised.value).startswith("Configuration error:")
    assert expected in str(raised.value)


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ("openai", "OPENAI_API_KEY is required when LLM_PROVIDER=openai"),
        ("openai_compatible", "LLM_BASE_URL is required when LLM_PROVIDER=openai_compatible"),
    ],
)
def test_a_provider_without_what_it_needs_is_refused(
    monkeypatch: pytest.MonkeyPatch, provider: str, expected: str
) -> None:
    monkeypatch.setenv("LLM_PROVIDER", provider)
    with pytest.raises(ConfigError, match=expected):
        load_settings()


def test_model_choices_put_the_default_first() -> None:
    settings = load_settings(llm_model="b", llm_models="a,b,c")
    assert settings.model_choices() == ["b", "a", "c"]


def test_shard_ids_are_read_and_must_fall_within_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_SHARD_COUNT", "4")
    monkeypatch.setenv("DISCORD_SHARD_IDS", "2, 3")
    assert load_settings().discord_shard_ids == [2, 3]
    monkeypatch.setenv("DISCORD_SHARD_IDS", "3,4")
    with pytest.raises(ConfigError, match="DISCORD_SHARD_IDS: Value error, each must be from 0 to"):
        load_settings()


def test_langsmith_tracing_is_off_unless_set_and_reaches_the_environment() -> None:
    assert load_settings().tracing_environment() == {}
    traced = load_settings(
        langsmith_tracing=True, langsmith_api_key="lsv2-key", langsmith_project="assistant"
    )
    assert traced.tracing_environment() == {
        "LANGSMITH_TRACING": "true",
        "LANGSMITH_API_KEY": "lsv2-key",
        "LANGSMITH_PROJECT": "assistant",
    }


def test_agent_settings_read_lists_and_check_the_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENT_TOOLS", "calculator, datetime")
    monkeypatch.setenv("MCP_SERVERS", '{"demo": {"transport": "stdio", "command": "demo-mcp"}}')
    monkeypatch.setenv("MCP_TOOLS", "demo_add")
    settings = load_settings()
    assert settings.agent_tools == ["calculator", "datetime"]
    assert settings.mcp_servers["demo"]["command"] == "demo-mcp"
    assert settings.mcp_tools == ["demo_add"]
    with pytest.raises(ConfigError, match="DEFAULT_TIMEZONE: .*IANA time zone"):
        load_settings(default_timezone="Mars/Olympus")
