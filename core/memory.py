"""Conversation memory in Redis, one conversation per (user, chat).

Each conversation keeps its recent turns under a token budget. Turns pushed out of the
budget are either dropped (`trim`) or parked in a "pending" list that a background job
folds into a running summary (`summary`) once a batch of them has gathered, so the reply
path never waits on summarising. A counter beside the list keeps its size in tokens, so
an answer costs the same however many turns wait (say, while the worker is down).
All keys share a TTL that every write refreshes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.messages.utils import count_tokens_approximately
from redis.asyncio import Redis
from redis.exceptions import WatchError

from core.settings import MemoryStrategy

KEY_PREFIX = "mem"
MAX_WATCH_RETRIES = 5
# Trimmed turns are folded into the summary once they add up to this share of the budget:
# one summary job (one model call) per batch, not one per message once the budget is full.
SUMMARY_BATCH_SHARE_OF_BUDGET = 0.25


@dataclass(frozen=True)
class Turn:
    """One remembered message."""

    role: str  # "human" or "ai"
    content: str
    at: float
    # Counted once when the turn is made and stored with it: every answer sums the
    # conversation's tokens, and building messages to count them cost more than the rest.
    tokens: int = field(default=-1, compare=False)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            object.__setattr__(self, "tokens", count_tokens_approximately([self.to_message()]))

    def to_message(self) -> BaseMessage:
        return HumanMessage(self.content) if self.role == "human" else AIMessage(self.content)

    def to_json(self) -> str:
        return json.dumps(
            {"role": self.role, "content": self.content, "at": self.at, "tokens": self.tokens}
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Turn:
        data = json.loads(raw)
        # Turns stored before the count was kept are counted again.
        return cls(data["role"], data["content"], data["at"], data.get("tokens", -1))


@dataclass(frozen=True)
class Conversation:
    """What is remembered of one conversation right now."""

    turns: list[Turn]
    summary: str
    pending_count: int

    @property
    def tokens(self) -> int:
        return sum(turn.tokens for turn in self.turns)

    @property
    def is_empty(self) -> bool:
        return not self.turns and not self.summary and not self.pending_count


@dataclass(frozen=True)
class AppendResult:
    """How an append changed the conversation."""

    trimmed_count: int
    needs_summary: bool  # the pending turns make a batch worth a summary job


class ConversationMemory:
    """Bounded, expiring, per-conversation memory on Redis."""

    def __init__(
        self,
        redis: Redis,
        *,
        token_budget: int,
        strategy: MemoryStrategy,
        ttl_seconds: int,
    ) -> None:
        self._redis = redis
        self._token_budget = token_budget
        self._strategy = strategy
        self._ttl_seconds = ttl_seconds

    @staticmethod
    def _keys(conversation_key: str) -> tuple[str, str, str, str]:
        """Turns, summary, pending turns, and the pending turns' token count."""
        base = f"{KEY_PREFIX}:{conversation_key}"
        return f"{base}:turns", f"{base}:summary", f"{base}:pending", f"{base}:pending_tokens"

    async def load(self, conversation_key: str) -> Conversation:
        """Read turns, summary and the number of turns waiting to be summarised."""
        turns_key, summary_key, pending_key, _ = self._keys(conversation_key)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lrange(turns_key, 0, -1)
            pipe.get(summary_key)
            pipe.llen(pending_key)
            raw_turns, summary, pending_count = await pipe.execute()
        return Conversation(
            turns=[Turn.from_json(raw) for raw in raw_turns],
            summary=_text(summary),
            pending_count=int(pending_count),
        )

    async def append(self, conversation_key: str, *turns: Turn) -> AppendResult:
        """Add turns, then trim the oldest until the budget holds (the newest pair always stays)."""
        keys = self._keys(conversation_key)
        turns_key, _, pending_key, pending_tokens_key = keys
        for _ in range(MAX_WATCH_RETRIES):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(turns_key)
                    existing = [Turn.from_json(raw) for raw in await pipe.lrange(turns_key, 0, -1)]
                    trimmed = self._overflow(existing + list(turns), keep_last=len(turns))
                    parked = trimmed if self._strategy is MemoryStrategy.SUMMARY else []
                    parked_tokens = sum(turn.tokens for turn in parked)
                    pipe.multi()
                    pipe.incrby(pending_tokens_key, parked_tokens)  # first: results[0]
                    pipe.rpush(turns_key, *(turn.to_json() for turn in turns))
                    if trimmed:
                        pipe.ltrim(turns_key, len(trimmed), -1)
                    if parked:
                        pipe.rpush(pending_key, *(turn.to_json() for turn in parked))
                    for key in keys:
                        pipe.expire(key, self._ttl_seconds)
                    results = await pipe.execute()
                except WatchError:
                    continue
            pending_tokens = int(results[0])
            needs_summary = self._completes_batch(pending_tokens - parked_tokens, pending_tokens)
            return AppendResult(trimmed_count=len(trimmed), needs_summary=needs_summary)
        raise RuntimeError(f"memory for {conversation_key} is too contended to update")

    def _completes_batch(self, before: int, after: int) -> bool:
        """Whether the pending turns just grew past one more batch worth summarising.

        Once per batch, not on every answer while the job is queued; a job that was lost
        is asked for again when another batch has gathered.
        """
        batch = max(1, int(self._token_budget * SUMMARY_BATCH_SHARE_OF_BUDGET))
        return after // batch > before // batch

    def _overflow(self, turns: list[Turn], *, keep_last: int) -> list[Turn]:
        """The oldest turns that must go so the rest fits the token budget."""
        total = sum(turn.tokens for turn in turns)
        cut = 0
        while total > self._token_budget and cut < len(turns) - keep_last:
            total -= turns[cut].tokens
            cut += 1
        return turns[:cut]

    async def pending(self, conversation_key: str) -> tuple[str, list[Turn]]:
        """The current summary and the turns waiting to be folded into it."""
        _, summary_key, pending_key, _ = self._keys(conversation_key)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(summary_key)
            pipe.lrange(pending_key, 0, -1)
            summary, raw_pending = await pipe.execute()
        return _text(summary), [Turn.from_json(raw) for raw in raw_pending]

    async def store_summary(self, conversation_key: str, summary: str, folded_count: int) -> None:
        """Save a new running summary and drop the pending turns it already covers.

        The token counter is set from the turns still waiting (parked while the summary was
        written), so it cannot drift from the list.
        """
        _, summary_key, pending_key, pending_tokens_key = self._keys(conversation_key)
        for _ in range(MAX_WATCH_RETRIES):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(pending_key)
                    waiting = await pipe.lrange(pending_key, folded_count, -1)
                    waiting_tokens = sum(Turn.from_json(raw).tokens for raw in waiting)
                    pipe.multi()
                    pipe.set(summary_key, summary, ex=self._ttl_seconds)
                    pipe.ltrim(pending_key, folded_count, -1)
                    pipe.set(pending_tokens_key, waiting_tokens, ex=self._ttl_seconds)
                    await pipe.execute()
                except WatchError:
                    continue
            return
        raise RuntimeError(f"memory for {conversation_key} is too contended to update")

    async def reset(self, conversation_key: str) -> None:
        """Forget the conversation entirely."""
        await self._redis.delete(*self._keys(conversation_key))


def new_turn(role: str, content: str) -> Turn:
    """A turn stamped with the current time."""
    return Turn(role=role, content=content, at=time.time())


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value
