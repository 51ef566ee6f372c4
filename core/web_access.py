"""Sign-in to the web page: `/web` in a private chat gives a one-time code; the page trades
it for a session bound to that chat identity.

The web page is not a new identity: a session *is* the chat identity that asked for the
code (and its private chat), so it sees that identity's memory and private documents and
nothing else. Codes and sessions live in Redis with a TTL; a code works once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass

from redis.asyncio import Redis

from core.types import Attachment, ChatRef, Command, Identity, Incoming, Platform

WEB_CODE_TTL_SECONDS = 10 * 60
WEB_CODE_LENGTH = 8
# No 0/O, 1/I/L: a code is read off one screen and typed into another.
WEB_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
SESSION_TOKEN_BYTES = 32
# Wrong codes one client may try per window before it is told to wait.
SIGN_IN_ATTEMPTS_PER_WINDOW = 10
SIGN_IN_WINDOW_SECONDS = 60


@dataclass(frozen=True)
class WebIdentity:
    """The chat identity behind a web session, and its private chat with the bot."""

    platform: str
    user_id: str
    display_name: str
    chat_id: str

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.user_id}"

    def incoming(
        self,
        text: str = "",
        *,
        command: Command | None = None,
        attachments: tuple[Attachment, ...] = (),
        language_hint: str | None = None,
        person: str = "",
    ) -> Incoming:
        """A message from this identity in its private chat, its jobs reporting to the web."""
        platform = Platform(self.platform)
        return Incoming(
            Identity(platform, self.user_id, display_name=self.display_name),
            ChatRef(platform, self.chat_id, is_private=True),
            text,
            command=command,
            attachments=attachments,
            language_hint=language_hint,
            person=person,
            via=ChatRef(Platform.WEB, self.key, is_private=True),
        )


class WebAccess:
    """One-time sign-in codes and web sessions, in Redis."""

    def __init__(self, redis: Redis, *, session_ttl_seconds: int) -> None:
        self._redis = redis
        self.session_ttl_seconds = session_ttl_seconds

    async def issue_code(self, incoming: Incoming) -> str:
        """A code that signs the page in as the sender of `incoming` (a private chat)."""
        code = "".join(secrets.choice(WEB_CODE_ALPHABET) for _ in range(WEB_CODE_LENGTH))
        who = WebIdentity(
            incoming.user.platform.value,
            incoming.user.id,
            incoming.user.display_name,
            incoming.chat.id,
        )
        await self._redis.set(_code_key(code), json.dumps(asdict(who)), ex=WEB_CODE_TTL_SECONDS)
        return code

    async def sign_in(self, code: str) -> str | None:
        """Trade a code for a new session token; None for a wrong, used or expired code."""
        raw = await self._redis.getdel(_code_key(normalised_code(code)))
        if raw is None:
            return None
        token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
        who = WebIdentity(**json.loads(raw))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(_session_key(token), raw, ex=self.session_ttl_seconds)
            # Listed per identity, so that /forget all can sign every browser out.
            pipe.sadd(_sessions_of(who.key), _session_key(token))
            pipe.expire(_sessions_of(who.key), self.session_ttl_seconds)
            await pipe.execute()
        return token

    async def identity(self, token: str) -> WebIdentity | None:
        """The identity a session token stands for, or None when unknown or expired."""
        if not token:
            return None
        raw = await self._redis.get(_session_key(token))
        return WebIdentity(**json.loads(raw)) if raw else None

    async def sign_out(self, token: str) -> None:
        await self._redis.delete(_session_key(token))

    async def sign_out_everywhere(self, identity: str) -> None:
        """End every web session of `identity` (its data is being erased)."""
        sessions = await self._redis.smembers(_sessions_of(identity))
        await self._redis.delete(_sessions_of(identity), *sessions)

    async def may_try(self, client: str) -> bool:
        """Whether `client` (an address) may try a code now: guessing is slowed down."""
        key = f"web-sign-in-tries:{client}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, SIGN_IN_WINDOW_SECONDS, nx=True)
            tries, _ = await pipe.execute()
        return int(tries) <= SIGN_IN_ATTEMPTS_PER_WINDOW


def normalised_code(code: str) -> str:
    """Codes are typed by hand: case and spaces do not matter."""
    return "".join(code.split()).upper()


def _code_key(code: str) -> str:
    return f"web-code:{code}"


def _sessions_of(identity: str) -> str:
    return f"web-sessions:{identity}"


def _session_key(token: str) -> str:
    # Hashed: a copy of Redis (a backup, a replica) holds no usable session.
    return f"web-session:{hashlib.sha256(token.encode()).hexdigest()}"
