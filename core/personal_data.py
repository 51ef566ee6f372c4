"""Everything the bot keeps about one person: exported on request (/export), erased on
request (/forget all), from Postgres and Redis alike, outbox included, for every identity
the person linked (/link).

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

from core.agent.mode import agent_mode_key
from core.agent.trace import trace_key
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


async def export(deps: CoreDeps, owner: str) -> bytes:
    """The person's data as readable JSON: profiles, usage, conversations, documents."""
    identities = await deps.people.identities(owner)
    async with deps.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM users WHERE identity = ANY(%s) ORDER BY identity", (identities,)
        )
        profiles = await cur.fetchall()
        await cur.execute(
            "SELECT identity, day, messages, input_tokens, output_tokens FROM usage_counters "
            "WHERE identity = ANY(%s) ORDER BY day, identity",
            (identities,),
        )
        usage = await cur.fetchall()
        await cur.execute(
            "SELECT id, scope, added_by, title, kind, file_name, source_url, size_bytes, status, "
            "summary, created_at FROM documents WHERE added_by = ANY(%(ids)s) "
            "OR scope = %(owner)s ORDER BY created_at",
            {"ids": identities, "owner": owner},
        )
        documents = await cur.fetchall()
    conversations = []
    for conversation_key in await _conversation_keys(deps, identities):
        remembered = await deps.memory.load(conversation_key)
        conversations.append(
            {
                "conversation": conversation_key,
                "summary": remembered.summary,
                "turns": [asdict(turn) for turn in remembered.turns],
            }
        )
    data = {
        "person": owner,
        "identities": identities,
        "exported_at": dtm.datetime.now(dtm.UTC),
        "profiles": profiles,
        "usage": usage,
        "conversations": conversations,
        "documents": documents,
    }
    return json.dumps(data, default=_plain, ensure_ascii=False, indent=2).encode()


async def erase(deps: CoreDeps, owner: str) -> Erased:
    """Delete the person everywhere; the next message starts them afresh."""
    identities = await deps.people.identities(owner)
    documents = deps.knowledge.documents
    async with deps.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id FROM documents WHERE scope = ANY(%s)", ([owner, *identities],)
        )
        private = [row[0] for row in await cur.fetchall()]
    for document_id in private:
        await documents.delete(document_id)
    async with deps.pool.connection() as conn:
        await conn.execute(
            "UPDATE documents SET added_by = '' WHERE added_by = ANY(%s)", (identities,)
        )
        await conn.execute("DELETE FROM users WHERE identity = ANY(%s)", (identities,))
        await conn.execute(
            "DELETE FROM people_links WHERE identity = ANY(%(ids)s) OR person = %(owner)s",
            {"ids": identities, "owner": owner},
        )
    conversations = await _conversation_keys(deps, identities)
    for conversation_key in conversations:
        await deps.memory.reset(conversation_key)
        await deps.redis.delete(
            f"{SOURCES_KEY_PREFIX}:{conversation_key}",
            trace_key(conversation_key),
            agent_mode_key(conversation_key),
        )
    for identity in identities:
        await deps.redis.delete(*(key.format(key=identity) for key in _PERSONAL_KEYS))
        await _drop_from_outbox(deps, identity)
        await deps.web_access.sign_out_everywhere(identity)
    return Erased(documents=len(private), conversations=len(conversations))


async def _conversation_keys(deps: CoreDeps, identities: list[str]) -> list[str]:
    """The conversations (`who|chat`) that memory holds for these identities."""
    prefix, suffix = f"{MEMORY_PREFIX}:", ":turns"
    found: set[str] = set()
    for identity in identities:
        literal = _GLOB_SPECIALS.sub(r"\\\1", identity)
        async for key in deps.redis.scan_iter(match=f"{prefix}{literal}|*{suffix}", count=500):
            found.add(key.decode() if isinstance(key, bytes) else key)
    return sorted(key[len(prefix) : -len(suffix)] for key in found)


async def _drop_from_outbox(deps: CoreDeps, user_key: str) -> None:
    """Messages still waiting for delivery to the person (job results, summaries)."""
    platform, _, name = user_key.partition(":")
    if platform == Platform.CONSOLE.value:
        await deps.redis.delete(stream_key(Platform.CONSOLE, name))
    await deps.redis.delete(stream_key(Platform.WEB, user_key))
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
