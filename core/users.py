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

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


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
                RETURNING identity, locale, last_locale, role, model
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
                VALUES (%s, current_date, 1, %s, %s)
                ON CONFLICT (identity, day) DO UPDATE SET
                    messages = usage_counters.messages + 1,
                    input_tokens = usage_counters.input_tokens + EXCLUDED.input_tokens,
                    output_tokens = usage_counters.output_tokens + EXCLUDED.output_tokens
                """,
                (identity_key, input_tokens, output_tokens),
            )
