"""One typed settings object, read from the environment and `.env`.

Built once in each entry point's `main()` and passed down explicitly; nothing reads
the environment at import time.
"""

from __future__ import annotations

import socket
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Provider(StrEnum):
    """Where chat completions come from."""

    AUTO = "auto"
    OPENAI = "openai"
    OLLAMA = "ollama"
    OPENAI_COMPATIBLE = "openai_compatible"


# The embedded model the launcher serves when no other is configured (SmolLM2-135M).
LOCAL_MODEL_NAME = "smollm2-135m"


class ModelServerBackend(StrEnum):
    """What `assistant serve-model` runs: llama.cpp (GGUF), transformers or vLLM."""

    LLAMACPP = "llamacpp"
    TRANSFORMERS = "transformers"
    VLLM = "vllm"


class ModelDevice(StrEnum):
    """Where the model service computes: `auto` takes a CUDA GPU when there is one."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class Quantisation(StrEnum):
    """Weights quantised on load (bitsandbytes, CUDA only) by the transformers and vLLM
    backends; a GGUF file carries its own quantisation."""

    NONE = "none"
    FOUR_BIT = "4bit"
    EIGHT_BIT = "8bit"


class GroundedAnswers(StrEnum):
    """How answers from documents are written: `auto` quotes them for the embedded model,
    which is too small to write one without losing the fact, and generates them otherwise."""

    AUTO = "auto"
    GENERATED = "generated"
    EXTRACTIVE = "extractive"


class EmbeddingsProvider(StrEnum):
    """Where embeddings come from; `local` needs no network or key."""

    LOCAL = "local"
    OPENAI = "openai"
    OLLAMA = "ollama"


class AccessMode(StrEnum):
    """Who may talk to the bot: everyone not blocked, or only those an admin allowed."""

    OPEN = "open"
    ALLOWLIST = "allowlist"


class LogFormat(StrEnum):
    """How log lines look: `text` for people, `json` (one object a line) for log collectors."""

    TEXT = "text"
    JSON = "json"


class MemoryStrategy(StrEnum):
    """What happens to turns that fall out of the token budget."""

    TRIM = "trim"
    SUMMARY = "summary"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of the service; `.env.example` documents each key."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Services
    database_url: str = "postgresql://postgres:postgres@localhost:5432/assistant"
    # Connections each of a process's two pools may open (see README, "Connections").
    database_pool_size: int = Field(default=5, ge=1, le=100)
    # psycopg prepares a statement on the server after 5 runs; a pooler in transaction
    # mode (PgBouncer before 1.21) hands the next transaction another server connection,
    # which lacks it. False turns preparing off (see README, "Scaling out").
    database_prepared_statements: bool = True
    redis_url: str = "redis://localhost:6379/0"
    data_dir: Path = Path("data")
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.TEXT
    # Names this replica's outbox consumer: unique per replica, stable across its restarts,
    # so a restarted bot re-reads what it had taken but not delivered. Empty: the host name.
    replica_name: str = ""

    # Job worker: LISTEN/NOTIFY wakes it at once; it needs a session-level connection, which
    # a transaction-mode pooler does not give, so there the worker only polls.
    worker_listen_notify: bool = True
    worker_poll_seconds: float = Field(default=5.0, gt=0)

    # Observability: /metrics and /healthz of bots and workers (0 = not served).
    metrics_port: int = Field(default=0, ge=0, lt=65536)
    # Loopback by default; a container serves its network instead (compose: 0.0.0.0).
    metrics_host: str = "127.0.0.1"

    # Model provider
    llm_provider: Provider = Provider.AUTO
    llm_model: str = ""
    llm_models: Annotated[list[str], NoDecode] = Field(default_factory=list)
    llm_base_url: str = ""
    openai_api_key: SecretStr | None = None
    ollama_base_url: str = "http://localhost:11434"
    llm_temperature: float = Field(default=0.3, ge=0.0, le=2.0)
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    llm_max_output_tokens: int = Field(default=1024, gt=0)
    local_model_path: Path | None = None
    local_model_context_tokens: int = Field(default=4096, ge=512)
    # The model service (`assistant serve-model`; README, "Inference service").
    model_server_backend: ModelServerBackend = ModelServerBackend.LLAMACPP
    model_server_device: ModelDevice = ModelDevice.AUTO
    model_server_quantisation: Quantisation = Quantisation.NONE
    model_server_host: str = "127.0.0.1"
    model_server_port: int = Field(default=8090, gt=0, lt=65536)
    # Requests decoded together (llama.cpp slots, transformers' continuous batching).
    model_server_parallel: int = Field(default=4, ge=1, le=256)
    # `assistant run` leaves the embedded model service running for the next run (as it
    # does local Postgres), and every process of the deployment reuses it.
    model_server_keep: bool = True
    system_prompt: str = (
        "You are a helpful, concise assistant in a chat app. "
        "Answer in the same language as the user's last message."
    )

    # Knowledge base
    embeddings_provider: EmbeddingsProvider = EmbeddingsProvider.LOCAL
    embeddings_model: str = ""
    embeddings_batch_size: int = Field(default=64, ge=1, le=2048)
    knowledge_max_file_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    knowledge_max_pages: int = Field(default=500, ge=1)
    knowledge_max_text_chars: int = Field(default=5_000_000, ge=1000)
    retrieval_top_k: int = Field(default=5, ge=1, le=50)
    grounded_answers: GroundedAnswers = GroundedAnswers.AUTO
    url_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    url_fetch_timeout_seconds: float = Field(default=15.0, gt=0)
    url_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)

    # Video and voice
    whisper_model: str = "offline-base"
    whisper_device: str = "auto"
    whisper_compute_type: str = "auto"
    media_max_seconds: int = Field(default=3 * 3600, ge=1)
    media_max_bytes: int = Field(default=500 * 1024 * 1024, ge=1024)

    # Agent mode (/agent): the model plans with tools (see README, "Agent mode")
    agent_mode_default: bool = False
    agent_tools: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "documents",
            "calculator",
            "datetime",
            "web_search",
            "wikipedia",
            "fetch_page",
            "youtube_transcript",
        ]
    )
    agent_max_steps: int = Field(default=6, ge=1, le=50)
    agent_tool_timeout_seconds: float = Field(default=20.0, gt=0)
    agent_timeout_seconds: float = Field(default=120.0, gt=0)
    agent_tool_output_chars: int = Field(default=4000, ge=200)
    default_timezone: str = "UTC"
    tavily_api_key: SecretStr | None = None
    # MCP servers as JSON, in langchain-mcp-adapters' connection format, e.g.
    # {"files": {"transport": "stdio", "command": "mcp-files", "args": []}}, and the
    # tools enabled from them as `server_tool`: every MCP tool is off until named.
    mcp_servers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    mcp_tools: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # LangSmith tracing: read by langsmith from the environment, exported at start-up so
    # a value in `.env` works too.
    langsmith_tracing: bool = False
    langsmith_api_key: SecretStr | None = None
    langsmith_project: str = ""
    langsmith_endpoint: str = ""

    # Memory
    memory_token_budget: int = Field(default=1500, ge=100)
    memory_strategy: MemoryStrategy = MemoryStrategy.SUMMARY
    memory_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)

    # People and language
    default_locale: str = "en"
    admin_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Access and limits (admins are exempt)
    access_mode: AccessMode = AccessMode.OPEN
    rate_limit_per_minute: int = Field(default=20, ge=0)
    daily_message_quota: int = Field(default=0, ge=0)
    max_pending_documents: int = Field(default=5, ge=1)
    max_concurrent_answers: int = Field(default=4, ge=1)

    # Telegram
    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str = ""
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_port: int = Field(default=8443, gt=0, lt=65536)
    # A self-hosted Bot API server started with --local: files of any size, read from disk.
    telegram_local_mode: bool = False

    # Web page (`assistant web`): loopback unless a host is set (compose: its network).
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, gt=0, lt=65536)
    # The page's public address, e.g. https://chat.example.com: /web then gives a link,
    # and an https address makes the session cookie Secure.
    web_public_url: str = ""
    web_session_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)

    # Discord
    discord_bot_token: SecretStr | None = None
    discord_guild_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    # Sharding (discord.py's AutoShardedClient): the deployment's total shards, and the ones
    # this process runs (empty: all of them). No count: Discord's recommended number.
    discord_shard_count: int | None = Field(default=None, ge=1)
    discord_shard_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: object) -> object:
        """`KEY=` (in .env, or `${KEY:-}` from compose) means "not set": use the default."""
        if not isinstance(data, dict):
            return data
        return {
            key: value
            for key, value in data.items()
            if not (isinstance(value, str) and not value.strip())
        }

    _split = field_validator(
        "llm_models",
        "admin_ids",
        "discord_guild_ids",
        "discord_shard_ids",
        "url_allowed_hosts",
        "agent_tools",
        "mcp_tools",
        mode="before",
    )(_split_csv)

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "expected an IANA time zone such as UTC or America/Sao_Paulo"
            ) from None
        return value

    @field_validator("default_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        from core.i18n import normalise_locale

        locale = normalise_locale(value)
        if locale is None:
            raise ValueError("expected one of: en, pt-BR")
        return locale

    @field_validator("telegram_api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http(s) URL such as https://api.telegram.org/bot")
        return value

    @field_validator("web_public_url")
    @classmethod
    def _page_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http(s) URL such as https://chat.example.com")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _provider_has_what_it_needs(self) -> Settings:
        if self.llm_provider is Provider.OPENAI and not (self.openai_api_key or self.llm_base_url):
            raise ValueError("OPENAI_API_KEY is required when LLM_PROVIDER=openai")
        if self.llm_provider is Provider.OPENAI_COMPATIBLE and not self.llm_base_url:
            raise ValueError("LLM_BASE_URL is required when LLM_PROVIDER=openai_compatible")
        return self

    @field_validator("discord_shard_ids")
    @classmethod
    def _shards_within_count(cls, value: list[int], info: ValidationInfo) -> list[int]:
        if not value:
            return value
        count = info.data.get("discord_shard_count")
        if count is None:
            raise ValueError("DISCORD_SHARD_COUNT must be set too")
        if any(not 0 <= shard < count for shard in value):
            raise ValueError(f"each must be from 0 to DISCORD_SHARD_COUNT - 1 ({count - 1})")
        return value

    def replica(self) -> str:
        """This replica's name: REPLICA_NAME, else the host name (a container's own)."""
        return self.replica_name or socket.gethostname()

    def tracing_environment(self) -> dict[str, str]:
        """LangSmith's variables as langsmith reads them from the process environment."""
        values = {
            "LANGSMITH_TRACING": "true" if self.langsmith_tracing else "",
            "LANGSMITH_API_KEY": (
                self.langsmith_api_key.get_secret_value() if self.langsmith_api_key else ""
            ),
            "LANGSMITH_PROJECT": self.langsmith_project,
            "LANGSMITH_ENDPOINT": self.langsmith_endpoint,
        }
        return {key: value for key, value in values.items() if value}

    def model_choices(self) -> list[str]:
        """The models a user may switch between with /model, the default first."""
        choices = [self.llm_model] if self.llm_model else []
        return choices + [m for m in self.llm_models if m not in choices]


class ConfigError(Exception):
    """Start-up configuration is wrong; the message names each bad key."""


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's report into one line per bad key."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            # Errors across keys (model validators) have no location; their text names the key.
            key = str(error["loc"][0]).upper() if error["loc"] else "LLM_PROVIDER"
            given = error.get("input")
            shown = "" if isinstance(given, dict) else f" (got {given!r})"
            lines.append(f"{key}: {error['msg']}{shown}")
        raise ConfigError("Configuration error:\n  " + "\n  ".join(lines)) from None
