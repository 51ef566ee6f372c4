"""Access and limits for a community: who may talk, how fast, how much a day, how many
files at once, and each platform delivery handled once.

Counters that several processes share live in Redis (the rate-limit buckets, deliveries
seen) or Postgres (daily usage, pending documents). Bot admins are exempt from limits.
"""

from __future__ import annotations

import datetime as dtm
import math
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from core.i18n import t
from core.settings import AccessMode, Settings
from core.users import UserRecord, UserStore

# A delivery is remembered this long: platforms redeliver within minutes, not days.
DELIVERY_TTL_SECONDS = 24 * 3600
# A refused person hears why once in this long, then silence (no reply loops).
REFUSAL_QUIET_SECONDS = 24 * 3600

# Token bucket: `capacity` messages at once, refilled at `rate` per second. Redis's own
# clock keeps every process of the deployment on one time line.
_TAKE_TOKEN = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - at) / 1000 * rate)
local wait_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait_ms = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return wait_ms
"""


@dataclass(frozen=True)
class Refusal:
    """Why a message is not answered, already in the user's language; quiet: say nothing."""

    text: str
    is_quiet: bool = False


class Limits:
    """The checks a message goes through before the bot spends anything on it."""

    def __init__(
        self, settings: Settings, redis: Redis, pool: AsyncConnectionPool, users: UserStore
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._pool = pool
        self._users = users
        self._take_token = redis.register_script(_TAKE_TOKEN)

    async def is_first_delivery(self, delivery_id: str) -> bool:
        """False when the platform already delivered this update or interaction once."""
        if not delivery_id:
            return True
        key = f"delivered:{delivery_id}"
        return bool(await self._redis.set(key, 1, nx=True, ex=DELIVERY_TTL_SECONDS))

    async def admit(self, user: UserRecord, locale: str) -> Refusal | None:
        """None when the message may be handled; else why not (blocked, not allowed, too fast)."""
        if user.is_admin:
            return None
        if user.is_blocked:
            return await self._once(user, t("access_blocked", locale))
        if self._settings.access_mode == AccessMode.ALLOWLIST and not user.is_allowed:
            return await self._once(user, t("access_not_allowed", locale, identity=user.identity))
        wait_seconds = await self._wait_for_token(user.identity)
        if wait_seconds:
            return Refusal(t("limit_rate", locale, seconds=wait_seconds))
        return None

    async def check_quota(self, user: UserRecord, owner: str, locale: str) -> Refusal | None:
        """None while the person (`owner`) has answers left today; else when it resets."""
        quota = self.daily_quota(user)
        if not quota:
            return None
        used = (await self._users.usage_today(owner)).messages
        if used < quota:
            return None
        return Refusal(t("limit_daily", locale, quota=quota, resets_in=self.resets_in()))

    async def check_pending_documents(self, user: UserRecord, locale: str) -> Refusal | None:
        """None while the user has room for another file or link being indexed."""
        limit = self._settings.max_pending_documents
        if user.is_admin:
            return None
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM documents "
                "WHERE added_by = %s AND status IN ('queued', 'processing')",
                (user.identity,),
            )
            row = await cur.fetchone()
        pending = row[0] if row else 0
        if pending < limit:
            return None
        return Refusal(t("limit_pending", locale, count=pending))

    def daily_quota(self, user: UserRecord) -> int:
        """Answers a day this user may get (0: unlimited)."""
        if user.is_admin:
            return 0
        return self._settings.daily_message_quota if user.daily_quota is None else user.daily_quota

    @staticmethod
    def resets_in() -> str:
        """`5h 12m`: how long until the daily counters start again (midnight UTC)."""
        now = dtm.datetime.now(dtm.UTC)
        midnight = (now + dtm.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        minutes = math.ceil((midnight - now).total_seconds() / 60)
        return f"{minutes // 60}h {minutes % 60:02d}m"

    async def _wait_for_token(self, identity: str) -> int:
        """Seconds to wait before this user may send again (0: go ahead)."""
        per_minute = self._settings.rate_limit_per_minute
        if not per_minute:
            return 0
        wait_ms = await self._take_token(
            keys=[f"rate:{identity}"], args=[per_minute, per_minute / 60]
        )
        return math.ceil(int(wait_ms) / 1000)

    async def _once(self, user: UserRecord, text: str) -> Refusal:
        """Say it the first time in a while; after that stay quiet."""
        key = f"refused:{user.identity}"
        is_first = await self._redis.set(key, 1, nx=True, ex=REFUSAL_QUIET_SECONDS)
        return Refusal(text, is_quiet=not is_first)
