"""Everything the bot keeps about one person: exported on request (/export), erased on
request (/forget all), from Postgres and Redis alike, outbox included.

What a person sent to a group belongs to the group's knowledge: it stays, without their
name on it. What they sent in private goes, with its chunks and stored bytes.
"""

from __future__ import annotations

import datetime as dtm
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from psycopg.rows import dict_row

from core.deps import CoreDeps
from core.knowledge.retrieval import SOURCES_KEY_PREFIX
from core.memory import KEY_PREFIX as MEMORY_PREFIX
from core.outbox import stream_key
from core.types import Platform

# The keys a person leaves in Redis besides their conversations.
_PERSONAL_KEYS = ("rate:{key}", "refused:{key}")
_GLOB_SPECIALS = re.compile(r"([*?\[\]\\])")


@dataclass(frozen=True)
class Erased:
    """What /forget all removed."""

    documents: int
    conversations: int


async def export(deps: CoreDeps, user_key: str) -> bytes:
    """The person's data as readable JSON: profile, usage, conversations, documents."""
    async with deps.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM users WHERE identity = %s", (user_key,))
        profile = await cur.fetchone()
        await cur.execute(
            "SELECT day, messages, input_tokens, output_tokens FROM usage_counters "
            "WHERE identity = %s ORDER BY day",
            (user_key,),
        )
        usage = await cur.fetchall()
        await cur.execute(
            "SELECT id, scope, title, kind, file_name, source_url, size_bytes, status, summary, "
            "created_at FROM documents WHERE added_by = %s ORDER BY created_at",
            (user_key,),
        )
        documents = await cur.fetchall()
    conversations = []
    for conversation_key in await _conversation_keys(deps, user_key):
        remembered = await deps.memory.load(conversation_key)
        conversations.append(
            {
                "chat": conversation_key.partition("|")[2],
                "summary": remembered.summary,
                "turns": [asdict(turn) for turn in remembered.turns],
            }
        )
    data = {
        "identity": user_key,
        "exported_at": dtm.datetime.now(dtm.UTC),
        "profile": profile,
        "usage": usage,
        "conversations": conversations,
        "documents": documents,
    }
    return json.dumps(data, default=_plain, ensure_ascii=False, indent=2).encode()


async def erase(deps: CoreDeps, user_key: str) -> Erased:
    """Delete the person everywhere; the next message starts them afresh."""
    documents = deps.knowledge.documents
    async with deps.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id FROM documents WHERE added_by = %s AND scope = %s", (user_key, user_key)
        )
        private = [row[0] for row in await cur.fetchall()]
    for document_id in private:
        await documents.delete(document_id)
    async with deps.pool.connection() as conn:
        await conn.execute("UPDATE documents SET added_by = '' WHERE added_by = %s", (user_key,))
        await conn.execute("DELETE FROM users WHERE identity = %s", (user_key,))
    conversations = await _conversation_keys(deps, user_key)
    for conversation_key in conversations:
        await deps.memory.reset(conversation_key)
        await deps.redis.delete(f"{SOURCES_KEY_PREFIX}:{conversation_key}")
    await deps.redis.delete(*(key.format(key=user_key) for key in _PERSONAL_KEYS))
    await _drop_from_outbox(deps, user_key)
    return Erased(documents=len(private), conversations=len(conversations))


async def _conversation_keys(deps: CoreDeps, user_key: str) -> list[str]:
    """The person's conversations (`user|chat`) that memory holds."""
    literal = _GLOB_SPECIALS.sub(r"\\\1", user_key)
    pattern = f"{MEMORY_PREFIX}:{literal}|*:turns"
    found = {
        (key.decode() if isinstance(key, bytes) else key)
        async for key in deps.redis.scan_iter(match=pattern, count=500)
    }
    prefix, suffix = f"{MEMORY_PREFIX}:", ":turns"
    return sorted(key[len(prefix) : -len(suffix)] for key in found)


async def _drop_from_outbox(deps: CoreDeps, user_key: str) -> None:
    """Messages still waiting for delivery to the person (job results, summaries)."""
    platform, _, name = user_key.partition(":")
    if platform == Platform.CONSOLE.value:
        await deps.redis.delete(stream_key(Platform.CONSOLE, name))
    for bot_platform in (Platform.TELEGRAM, Platform.DISCORD):
        stream = stream_key(bot_platform)
        mine = [
            entry_id
            for entry_id, fields in await deps.redis.xrange(stream) or []
            if entry_id is not None and _addressee(fields) == user_key
        ]
        if mine:
            await deps.redis.xdel(stream, *mine)


def _addressee(fields: dict[Any, Any] | None) -> str:
    """The `user_key` of an outbox entry's payload."""
    raw = (fields or {}).get(b"payload") or (fields or {}).get("payload")
    return str(json.loads(raw).get("user_key", "")) if raw else ""


def _plain(value: Any) -> Any:
    """JSON for dates and times."""
    if isinstance(value, dtm.date | dtm.datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")
