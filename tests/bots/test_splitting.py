"""Splitting long answers into messages, in the platform's own unit of length."""

from __future__ import annotations

import re

import pytest

from bots.splitting import split_text, utf16_length


def fences_balanced(piece: str) -> bool:
    return len(re.findall(r"^\s*```", piece, flags=re.MULTILINE)) % 2 == 0


def code_inside(pieces: list[str]) -> str:
    """The code of a fenced block split over pieces, put back together."""
    bodies = []
    for piece in pieces:
        match = re.search(r"```\w*\n(.*?)\n```", piece, flags=re.DOTALL)
        if match:
            bodies.append(match.group(1))
    return "\n".join(bodies)


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


def test_code_arrives_byte_identical_with_indentation_and_blank_lines() -> None:
    block = "def f(x):\n    if x:\n        return x\n\n    return -x\n"
    code = "\n".join(block.replace("f(", f"f{i}(") for i in range(120))
    text = f"Functions:\n\n```python\n{code}\n```"
    pieces = split_text(text, 500)
    assert len(pieces) > 5
    assert all(len(piece) <= 500 and fences_balanced(piece) for piece in pieces)
    assert code_inside(pieces) == code


def test_limit_counts_utf16_code_units_when_asked() -> None:
    # Each of these emoji is one code point but two UTF-16 code units.
    paragraphs = ["🎉🙂 " * 40 + f"end {i}." for i in range(60)]
    text = "\n\n".join(paragraphs)
    pieces = split_text(text, 4096, utf16_length)
    assert len(pieces) >= 3
    assert all(utf16_length(piece) <= 4096 for piece in pieces)
    assert max(len(piece) for piece in pieces) < 4096 * 0.6
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())


def test_a_measure_that_grows_after_formatting_is_respected() -> None:
    """A platform may count the text as shown, which can be longer than the source."""

    def shown_length(piece: str) -> int:
        return len(piece.replace("-", "•••"))

    text = " ".join(f"-{i}" for i in range(2000))
    pieces = split_text(text, 300, shown_length)
    assert all(shown_length(piece) <= 300 for piece in pieces)
    assert " ".join(pieces).split() == text.split()


def test_a_word_longer_than_the_limit_is_cut_hard() -> None:
    pieces = split_text("x" * 5000, 2000)
    assert [len(piece) for piece in pieces] == [1996, 1996, 1008]


def test_short_text_is_one_piece() -> None:
    assert split_text("  hello  ", 2000) == ["hello"]
