"""Whether a conversation answers in agent mode, and whether its model can."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from redis.asyncio import Redis

from core.settings import LOCAL_MODEL_NAME

AGENT_MODE_KEY_PREFIX = "agent"


async def is_agent_on(redis: Redis, conversation_key: str, *, default: bool) -> bool:
    """The conversation's /agent choice, else the deployment's AGENT_MODE_DEFAULT."""
    chosen = await redis.get(agent_mode_key(conversation_key))
    return default if chosen is None else chosen in (b"on", "on")


async def set_agent_mode(redis: Redis, conversation_key: str, *, is_on: bool) -> None:
    """Keep the choice until /forget all: it is a preference, not a memory."""
    await redis.set(agent_mode_key(conversation_key), "on" if is_on else "off")


def can_call_tools(model: BaseChatModel, model_name: str) -> bool:
    """Whether the model can drive an agent: it binds tools, and it is not the embedded
    SmolLM2-135M, which accepts tools but never calls one on its own."""
    if model_name == LOCAL_MODEL_NAME:
        return False
    return type(model).bind_tools is not BaseChatModel.bind_tools


def agent_mode_key(conversation_key: str) -> str:
    return f"{AGENT_MODE_KEY_PREFIX}:{conversation_key}"
