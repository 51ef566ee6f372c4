"""Splitting long text into messages that fit a platform's limit, in the platform's unit.

Cuts fall at paragraph, line or word breaks. A piece that ends inside a ``` code block
closes it, and the next piece reopens it with the same language, so each piece renders
on its own and the code inside arrives unchanged (indentation and blank lines included).
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Room kept for the "\n```" that closes a code block cut in two.
FENCE_CLOSE = "\n```"
MIN_LIMIT = 32

_FENCE = re.compile(r"^\s*```(\S*)", re.MULTILINE)

Measure = Callable[[str], int]


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram counts message length in."""
    return len(text.encode("utf-16-le")) // 2


def split_text(
    text: str, limit: int, measure: Measure = len, estimate: Measure | None = None
) -> list[str]:
    """Pieces of `text` that each measure at most `limit`.

    `estimate`, a cheaper measure (e.g. before formatting), finds the cut; `measure`
    then checks each piece once, so a costly measure runs a few times, not per try.
    """
    if limit < MIN_LIMIT:
        raise ValueError("limit too small to split sensibly")
    pieces: list[str] = []
    rest = text.strip()
    reopen = ""
    estimate = estimate or measure
    while rest:
        # A text the estimate already finds too long is not measured at full cost.
        if estimate(reopen + rest) <= limit and measure(reopen + rest) <= limit:
            pieces.append(reopen + rest)
            break
        piece, rest, reopen = _next_piece(rest, reopen, limit, measure, estimate)
        pieces.append(piece)
    return pieces or [""]


def _next_piece(
    rest: str, reopen: str, limit: int, measure: Measure, estimate: Measure
) -> tuple[str, str, str]:
    """The next piece, what is left after it, and the fence that reopens its code block."""
    budget = _longest_fitting_prefix(rest, limit - estimate(reopen + FENCE_CLOSE), estimate)
    while True:
        head, tail = _cut(rest, budget, reopen)
        piece = reopen + head
        language = _open_fence_language(piece)
        if language is not None:
            piece += FENCE_CLOSE
        # Formatting may measure a prefix differently from the whole: shrink until it fits.
        if measure(piece) <= limit or budget <= 1:
            return piece, tail, "" if language is None else f"```{language}\n"
        budget = max(1, budget - max(1, measure(piece) - limit))


def _longest_fitting_prefix(text: str, budget: int, measure: Measure) -> int:
    """The most characters of `text` that measure at most `budget` (at least one)."""
    low, high = 1, min(len(text), max(budget, 1))
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def _cut(text: str, budget: int, reopen: str) -> tuple[str, str]:
    """Split `text` at the best break within `budget` characters: (head, tail).

    In prose the break's whitespace is dropped; inside code only the one line break that
    the closing fence replaces is, so the code's own spacing survives.
    """
    window = text[: budget + 1]
    for separator in ("\n\n", "\n", " "):
        position = window.rfind(separator)
        if position <= budget // 3:
            continue
        head = text[:position]
        if _open_fence_language(reopen + head) is None:
            return head.rstrip(), text[position:].lstrip("\n ")
        if separator != " ":
            return head, text[position + 1 :]
        break  # a very long code line: cut it hard rather than lose a space
    return text[:budget], text[budget:]


def _open_fence_language(text: str) -> str | None:
    """The language of a ``` block left open at the end of `text`, or None if all closed."""
    language: str | None = None
    for match in _FENCE.finditer(text):
        language = match.group(1) if language is None else None
    return language
