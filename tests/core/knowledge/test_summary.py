"""Document digests: the model's when it keeps the format, a fallback when it does not."""

from __future__ import annotations

import json

from core.knowledge.summary import SUMMARY_INPUT_CHARS, condense, digest
from tests.fakes import EchoChatModel


async def test_a_well_formed_digest_is_used() -> None:
    model = EchoChatModel(
        reply=json.dumps({"summary": "About lighthouses.", "questions": ["a?", "b?", "c?"]})
    )
    result = await digest(model, title="T", text="text", language="English", headings=[])
    assert result.summary == "About lighthouses." and result.questions == ["a?", "b?", "c?"]


async def test_a_broken_digest_falls_back_to_the_text() -> None:
    model = EchoChatModel(reply="Sure! Here is a summary without any JSON.")
    text = "Lighthouses guide ships. Keepers maintain lighthouses. Lighthouses use lamps."
    result = await digest(model, title="Guide", text=text, language="English", headings=[])
    assert result.summary.startswith("Lighthouses guide ships.")
    assert len(result.questions) == 3 and "lighthouses" in result.questions[1]


async def test_long_texts_are_summarised_part_by_part_then_together() -> None:
    model = EchoChatModel(reply="a short summary")
    long_text = "word " * (SUMMARY_INPUT_CHARS // 2)
    condensed = await condense(model, long_text, language="English")
    assert condensed.startswith("Part 1: a short summary") and "Part 2:" in condensed
    assert len(model.calls) >= 2
    short = "just a little text"
    assert await condense(model, short, language="English") == short
