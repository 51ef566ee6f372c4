"""One person on several platforms: `/link` joins a Telegram, a Discord and a terminal
identity, so they share one memory, one set of private documents and one quota.

A one-time code, valid for a few minutes, travels from one account to the other: only
someone who holds both accounts can link them. The identity that asked for the code
names the person; documents the other identity kept in private move to the person.
"""

from __future__ import annotations

import json
import secrets

from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from core.memory import KEY_PREFIX as MEMORY_PREFIX

LINK_CODE_TTL_SECONDS = 10 * 60
LINK_CODE_DIGITS = 8
_MEMORY_PARTS = ("turns", "summary", "pending")


class People:
    """Links between identities, in Postgres; pending codes in Redis."""

    def __init__(self, pool: AsyncConnectionPool, redis: Redis) -> None:
        self._pool = pool
        self._redis = redis

    async def person_of(self, identity: str) -> str:
        """The person an identity belongs to, or "" when it was never linked."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT person FROM people_links WHERE identity = %s", (identity,)
            )
            row = await cur.fetchone()
        return row[0] if row else ""

    async def identities(self, owner: str) -> list[str]:
        """Every identity of a person (just `owner` when it was never linked)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT identity FROM people_links WHERE person = %s ORDER BY identity", (owner,)
            )
            linked = [row[0] for row in await cur.fetchall()]
        return sorted({owner, *linked})

    async def start_link(self, identity: str, conversation_key: str) -> str:
        """A one-time code for `identity`, whose private conversation the person keeps."""
        code = f"{secrets.randbelow(10**LINK_CODE_DIGITS):0{LINK_CODE_DIGITS}d}"
        offer = json.dumps({"identity": identity, "conversation": conversation_key})
        await self._redis.set(f"link:{code}", offer, ex=LINK_CODE_TTL_SECONDS)
        return code

    async def complete_link(self, identity: str, code: str) -> str | None:
        """Join `identity` to the person behind `code`; the person, or None for a bad code."""
        raw = await self._redis.getdel(f"link:{code.strip()}")
        if raw is None:
            return None
        offer = json.loads(raw)
        issuer = offer["identity"]
        if issuer == identity:
            return None
        person = await self.person_of(issuer) or issuer
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO people_links (identity, person) VALUES (%s, %s), (%s, %s) "
                "ON CONFLICT (identity) DO UPDATE SET person = EXCLUDED.person",
                (issuer, person, identity, person),
            )
            # The joining identity's private documents become the person's (a file both
            # kept stays once).
            await conn.execute(
                """
                UPDATE documents SET scope = %(person)s
                WHERE scope = %(identity)s AND content_hash NOT IN
                    (SELECT content_hash FROM documents WHERE scope = %(person)s)
                """,
                {"person": person, "identity": identity},
            )
        await self._keep_conversation(offer["conversation"], f"{person}|private")
        return person

    async def _keep_conversation(self, old: str, new: str) -> None:
        """The issuer's private conversation goes on as the person's."""
        for part in _MEMORY_PARTS:
            source = f"{MEMORY_PREFIX}:{old}:{part}"
            if await self._redis.exists(source):
                await self._redis.renamenx(source, f"{MEMORY_PREFIX}:{new}:{part}")
