"""People who talk to the bot: platform identity, chosen locale and model, role, usage."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from core.types import Identity


@dataclass(frozen=True)
class UserRecord:
    """A user row as the service needs it."""

    identity: str
    locale: str | None  # chosen with /lang
    last_locale: str | None  # language of the user's latest message that told us
    role: str
    model: str | None
    is_allowed: bool = False  # let in by an admin, for allow-list mode
    daily_quota: int | None = None  # None: the configured quota; 0: unlimited
    person: str = ""  # the person `/link` joined this identity to; "" when never linked

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_blocked(self) -> bool:
        return self.role == "blocked"


@dataclass(frozen=True)
class Usage:
    """What a user used on one day (UTC)."""

    messages: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


class UserStore:
    """Users and daily usage counters in Postgres."""

    def __init__(self, pool: AsyncConnectionPool, *, admin_ids: list[str]) -> None:
        self._pool = pool
        self._admin_ids = frozenset(admin_ids)

    async def touch(self, identity: Identity, *, detected_locale: str | None = None) -> UserRecord:
        """Create or refresh the user; ADMIN_IDS is the truth, so a removed id stops being admin."""
        role = "admin" if identity.key in self._admin_ids else "user"
        async with (
            self._pool.connection() as conn,
            conn.cursor(row_factory=class_row(UserRecord)) as cur,
        ):
            await cur.execute(
                """
                INSERT INTO users (identity, platform, display_name, role, last_locale)
                VALUES (%(identity)s, %(platform)s, %(name)s, %(role)s, %(detected)s)
                ON CONFLICT (identity) DO UPDATE SET
                    display_name = EXCLUDED.display_name,
                    -- ADMIN_IDS decides admin both ways; any other role (blocked) stays.
                    role = CASE
                        WHEN EXCLUDED.role = 'admin' THEN 'admin'
                        WHEN users.role = 'admin' THEN 'user'
                        ELSE users.role
                    END,
                    last_locale = COALESCE(EXCLUDED.last_locale, users.last_locale),
                    last_seen_at = now()
                RETURNING identity, locale, last_locale, role, model, is_allowed, daily_quota,
                    -- People.person_of, read in the same round trip (every message needs it).
                    COALESCE(
                        (SELECT person FROM people_links WHERE identity = users.identity), ''
                    ) AS person
                """,
                {
                    "identity": identity.key,
                    "platform": identity.platform.value,
                    "name": identity.display_name,
                    "role": role,
                    "detected": detected_locale,
                },
            )
            record = await cur.fetchone()
        assert record is not None
        return record

    async def set_locale(self, identity_key: str, locale: str) -> None:
        """Remember the language the user picked with /lang."""
        await self._set(identity_key, "locale", locale)

    async def set_model(self, identity_key: str, model: str) -> None:
        """Remember the model the user picked with /model."""
        await self._set(identity_key, "model", model)

    async def _set(self, identity_key: str, column: str, value: str) -> None:
        assert column in ("locale", "model")
        async with self._pool.connection() as conn:
            await conn.execute(
                f"UPDATE users SET {column} = %s WHERE identity = %s", (value, identity_key)
            )

    async def record_usage(
        self, identity_key: str, *, input_tokens: int, output_tokens: int
    ) -> None:
        """Count one answered message and its approximate tokens for today."""
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                INSERT INTO usage_counters (identity, day, messages, input_tokens, output_tokens)
                VALUES (%s, (now() AT TIME ZONE 'UTC')::date, 1, %s, %s)
                ON CONFLICT (identity, day) DO UPDATE SET
                    messages = usage_counters.messages + 1,
                    input_tokens = usage_counters.input_tokens + EXCLUDED.input_tokens,
                    output_tokens = usage_counters.output_tokens + EXCLUDED.output_tokens
                """,
                (identity_key, input_tokens, output_tokens),
            )

    async def usage_today(self, identity_key: str) -> Usage:
        """Today's (UTC) counters of one user."""
        async with (
            self._pool.connection() as conn,
            conn.cursor(row_factory=class_row(Usage)) as cur,
        ):
            await cur.execute(
                "SELECT messages, input_tokens, output_tokens FROM usage_counters "
                "WHERE identity = %s AND day = (now() AT TIME ZONE 'UTC')::date",
                (identity_key,),
            )
            return await cur.fetchone() or Usage()

    async def set_access(
        self, identity_key: str, *, is_allowed: bool | None = None, is_blocked: bool | None = None
    ) -> bool:
        """Allow or block someone (even before they first write); False for an unknown platform.

        Admins (ADMIN_IDS) are never blocked: their role is the configuration's.
        """
        platform = identity_key.partition(":")[0]
        if platform not in ("tg", "dc", "cli"):
            return False
        role = None if is_blocked is None else ("blocked" if is_blocked else "user")
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                INSERT INTO users (identity, platform, is_allowed, role)
                VALUES (%(identity)s, %(platform)s, coalesce(%(allowed)s, false),
                        coalesce(%(role)s, 'user'))
                ON CONFLICT (identity) DO UPDATE SET
                    is_allowed = coalesce(%(allowed)s, users.is_allowed),
                    role = CASE WHEN users.role = 'admin' OR %(role)s IS NULL THEN users.role
                                ELSE %(role)s END
                """,
                {
                    "identity": identity_key,
                    "platform": platform,
                    "allowed": is_allowed,
                    "role": role,
                },
            )
        return True

    async def set_daily_quota(self, identity_key: str, quota: int | None) -> bool:
        """A user's own daily message quota (None: back to the configured one)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE users SET daily_quota = %s WHERE identity = %s", (quota, identity_key)
            )
            return cur.rowcount == 1
