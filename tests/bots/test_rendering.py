"""Splitting long answers and streaming them by throttled edits, platform-neutral."""

from __future__ import annotations

import re

import pytest

from bots.rendering import STREAMING_CURSOR, RateLimited, StreamingReply, split_text


def fences_balanced(piece: str) -> bool:
    return len(re.findall(r"^\s*```", piece, flags=re.MULTILINE)) % 2 == 0


@pytest.mark.parametrize("limit", [2000, 4096])
def test_long_text_splits_at_paragraphs_within_the_limit(limit: int) -> None:
    paragraphs = [f"Paragraph {i}. " + "words " * 60 for i in range(40)]
    pieces = split_text("\n\n".join(paragraphs), limit)
    assert len(pieces) > 1
    assert all(len(piece) <= limit for piece in pieces)
    # Every piece ends at a paragraph end: no paragraph is cut in two.
    assert all(piece.rstrip().endswith("words") for piece in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join(" ".join(paragraphs).split())


def test_code_blocks_are_closed_and_reopened_across_pieces() -> None:
    code = "\n".join(f"print({i})" for i in range(400))
    text = f"Here is the code:\n\n```python\n{code}\n```\n\nThat's all."
    pieces = split_text(text, 2000)
    assert len(pieces) > 2
    assert all(len(piece) <= 2000 and fences_balanced(piece) for piece in pieces)
    assert all(piece.startswith("```python\n") for piece in pieces[1:-1])
    lines = [line for piece in pieces for line in piece.splitlines() if line.startswith("print(")]
    assert lines == code.splitlines()


def test_a_word_longer_than_the_limit_is_cut_hard() -> None:
    pieces = split_text("x" * 5000, 2000)
    assert [len(piece) for piece in pieces] == [1996, 1996, 1008]


def test_short_text_is_one_piece() -> None:
    assert split_text("  hello  ", 2000) == ["hello"]


class RecordingSink:
    """A platform that records sends and edits, and can demand a wait once."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.edits = 0
        self.rate_limit_next: float | None = None

    def _maybe_limit(self) -> None:
        if self.rate_limit_next is not None:
            wait, self.rate_limit_next = self.rate_limit_next, None
            raise RateLimited(wait)

    async def send(self, text: str) -> int:
        self._maybe_limit()
        self.messages.append(text)
        return len(self.messages) - 1

    async def edit(self, handle: int, text: str) -> None:
        self._maybe_limit()
        self.messages[handle] = text
        self.edits += 1


async def test_edits_are_throttled_and_the_final_text_has_no_cursor() -> None:
    sink = RecordingSink()
    reply = StreamingReply(sink, limit=2000, edit_interval_seconds=60)
    for word in ["one ", "two ", "three"]:
        await reply.add(word)
    assert sink.messages == ["one" + STREAMING_CURSOR]  # later deltas wait for the interval
    await reply.finish()
    assert sink.messages == ["one two three"] and sink.edits == 1


async def test_a_growing_answer_spills_into_new_messages() -> None:
    sink = RecordingSink()
    reply = StreamingReply(sink, limit=100, edit_interval_seconds=0)
    for i in range(30):
        await reply.add(f"sentence {i:02d}. ")
    await reply.finish()
    assert len(sink.messages) > 1 and all(len(m) <= 100 for m in sink.messages)
    assert "".join(sink.messages).count("sentence") == 30
    assert not any(m.endswith(STREAMING_CURSOR) for m in sink.messages)


async def test_flood_control_skips_an_edit_but_the_final_text_arrives() -> None:
    sink = RecordingSink()
    reply = StreamingReply(sink, limit=2000, edit_interval_seconds=0)
    await reply.add("first")
    sink.rate_limit_next = 0.01
    await reply.add(" second")  # refused: skipped, not fatal
    sink.rate_limit_next = 0.01
    await reply.finish("first second third")  # refused once, then retried after the wait
    assert sink.messages == ["first second third"]


async def test_nothing_is_sent_for_an_empty_answer() -> None:
    sink = RecordingSink()
    await StreamingReply(sink, limit=2000).finish("   ")
    assert sink.messages == []
