"""Conversation memory on a real Redis: budget, strategies, TTL, isolation, restarts."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from core.memory import ConversationMemory, new_turn
from core.settings import MemoryStrategy
from launcher.services import RedisServer

BUDGET_TOKENS = 120


def memory(redis: Redis, strategy: MemoryStrategy = MemoryStrategy.SUMMARY) -> ConversationMemory:
    return ConversationMemory(
        redis, token_budget=BUDGET_TOKENS, strategy=strategy, ttl_seconds=3600
    )


@pytest.fixture
async def redis(raw_redis: Redis) -> Redis:
    await raw_redis.flushdb()
    return raw_redis


async def test_trimming_keeps_the_budget_and_the_newest_turns(redis: Redis) -> None:
    store = memory(redis, MemoryStrategy.TRIM)
    for i in range(30):
        await store.append("u|c", new_turn("human", f"question number {i} " * 3))
        conversation = await store.load("u|c")
        assert conversation.tokens <= BUDGET_TOKENS
    assert conversation.turns[-1].content.startswith("question number 29")
    assert conversation.pending_count == 0  # trim strategy drops, never parks


async def test_summary_strategy_parks_trimmed_turns_for_the_worker(redis: Redis) -> None:
    store = memory(redis)
    results = [await store.append("u|c", new_turn("human", f"fact {i} " * 10)) for i in range(10)]
    assert any(result.needs_summary for result in results)
    conversation = await store.load("u|c")
    summary, pending = await store.pending("u|c")
    assert summary == ""
    assert len(pending) == conversation.pending_count > 0
    assert len(pending) + len(conversation.turns) == 10
    await store.store_summary("u|c", "the user listed facts", len(pending))
    after = await store.load("u|c")
    assert after.summary == "the user listed facts"
    assert after.pending_count == 0


async def test_a_single_oversized_exchange_is_still_kept(redis: Redis) -> None:
    store = memory(redis)
    huge = "word " * 500
    await store.append("u|c", new_turn("human", huge), new_turn("ai", "ok"))
    conversation = await store.load("u|c")
    assert [turn.content for turn in conversation.turns] == [huge, "ok"]


async def test_every_key_expires(redis: Redis) -> None:
    store = memory(redis)
    for i in range(10):
        await store.append("u|c", new_turn("human", f"fact {i} " * 10))
    for key in await redis.keys("mem:u|c:*"):
        assert 0 < await redis.ttl(key) <= 3600


async def test_reset_forgets_everything(redis: Redis) -> None:
    store = memory(redis)
    for i in range(10):
        await store.append("u|c", new_turn("human", f"fact {i} " * 10))
    await store.store_summary("u|c", "summary", 0)
    await store.reset("u|c")
    assert (await store.load("u|c")).is_empty
    assert await redis.keys("mem:u|c:*") == []


async def test_conversations_are_isolated_by_user_and_by_chat(redis: Redis) -> None:
    store = memory(redis)
    await store.append("cli:ana|cli:ana", new_turn("human", "ana private"))
    await store.append("tg:ana|tg:-100", new_turn("human", "ana in group one"))
    await store.append("tg:ana|tg:-200", new_turn("human", "ana in group two"))
    await store.append("tg:bia|tg:-100", new_turn("human", "bia in group one"))
    contents = {
        key: [turn.content for turn in (await store.load(key)).turns]
        for key in ("cli:ana|cli:ana", "tg:ana|tg:-100", "tg:ana|tg:-200", "tg:bia|tg:-100")
    }
    assert contents == {
        "cli:ana|cli:ana": ["ana private"],
        "tg:ana|tg:-100": ["ana in group one"],
        "tg:ana|tg:-200": ["ana in group two"],
        "tg:bia|tg:-100": ["bia in group one"],
    }


async def test_memory_survives_a_redis_restart(
    redis_server: RedisServer | None, redis_url: str
) -> None:
    if redis_server is None:
        pytest.skip("TEST_REDIS_URL points at a Redis this suite does not own")
    client = Redis.from_url(redis_url)
    await memory(client).append("ana|ana", new_turn("human", "my name is Ana"))
    await client.aclose()

    redis_server.stop()
    assert not redis_server.is_running()
    redis_server.start()

    client = Redis.from_url(redis_url)
    conversation = await memory(client).load("ana|ana")
    await client.aclose()
    assert [turn.content for turn in conversation.turns] == ["my name is Ana"]


async def test_trimmed_turns_are_summarised_in_batches_not_one_job_per_message(
    redis: Redis,
) -> None:
    store = memory(redis)
    trims = batches = 0
    for i in range(40):
        result = await store.append("u|c", new_turn("human", f"note {i} " * 4))
        trims += bool(result.trimmed_count)
        if result.needs_summary:  # what the summary job does
            batches += 1
            _summary, pending = await store.pending("u|c")
            await store.store_summary("u|c", "notes", len(pending))
    assert batches, "a full batch of trimmed turns asks for a summary"
    assert batches <= trims / 3  # a quarter of the budget (3 turns here) per job


async def test_while_no_worker_folds_a_summary_is_asked_for_once_per_batch(redis: Redis) -> None:
    store = memory(redis)
    asked = 0
    for i in range(40):
        asked += (await store.append("u|c", new_turn("human", f"note {i} " * 4))).needs_summary
    _summary, pending = await store.pending("u|c")
    batch_tokens = BUDGET_TOKENS // 4
    assert asked == sum(turn.tokens for turn in pending) // batch_tokens


async def test_turns_stored_without_a_token_count_are_counted_on_load(redis: Redis) -> None:
    await redis.rpush("mem:u|c:turns", '{"role": "human", "content": "hello there", "at": 1.0}')
    [turn] = (await memory(redis).load("u|c")).turns
    assert turn.tokens == new_turn("human", "hello there").tokens > 0
