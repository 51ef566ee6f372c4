"""Cut extracted documents into token-sized chunks that break at natural boundaries.

A chunk never crosses a page or a section, so every chunk can cite one page and one heading.
No chunk is longer than `max_chunk_chars(chunk_tokens)` characters either: the tokenizer
counts a "word" of any length (a 2-million-character run, base64) as one token, so text
is measured as at least one token per `MAX_CHARS_PER_TOKEN` characters, which makes the
splitter cut such runs too.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from core.knowledge.loaders import ExtractedDocument, Section

DEFAULT_CHUNK_TOKENS = 220  # all-MiniLM-L6-v2 reads 256 word pieces at most
DEFAULT_OVERLAP_TOKENS = 40
TINY_SECTION_FRACTION = 0.1  # sections under this share of a chunk join the previous chunk
# Prose runs 3 to 5 characters per word piece; only unbroken runs ever get near this.
MAX_CHARS_PER_TOKEN = 10
TOKEN_COUNT_CACHE_SIZE = 4096  # the splitter measures the same pieces several times
# Regexes: paragraph, line, sentence end ('. ', '? ', '! ' as one level, so a chunk can
# start after any of them), word, and characters as the last resort for endless "words".
SEPARATORS = ["\n\n", "\n", r"(?<=[.?!]) ", " ", ""]
MERGE_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class ChunkDraft:
    """A piece of a document before it is embedded and stored."""

    text: str
    page: int | None
    section: str | None
    position: int  # 0-based order in the document
    start_seconds: float | None = None  # where a transcript window starts


def split_document(
    document: ExtractedDocument,
    *,
    count_tokens: Callable[[str], int],
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
) -> list[ChunkDraft]:
    """Token-sized chunks with overlap, cut per section so none spans two pages or sections."""

    @functools.lru_cache(maxsize=TOKEN_COUNT_CACHE_SIZE)
    def count(text: str) -> int:
        return max(count_tokens(text), math.ceil(len(text) / MAX_CHARS_PER_TOKEN))

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_tokens,
        chunk_overlap=overlap_tokens,
        length_function=count,
        separators=SEPARATORS,
        is_separator_regex=True,
        keep_separator="end",  # a sentence keeps its full stop
    )
    tiny_tokens = int(chunk_tokens * TINY_SECTION_FRACTION)
    drafts: list[ChunkDraft] = []
    for section in document.sections:
        if drafts and _joins_previous(drafts[-1], section, count, tiny_tokens, chunk_tokens):
            drafts[-1] = _merged(drafts[-1], section)
            continue
        drafts.extend(_section_chunks(section, splitter, start=len(drafts)))
    return drafts


def max_chunk_chars(chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> int:
    """The most characters a chunk of `chunk_tokens` tokens can hold."""
    return chunk_tokens * MAX_CHARS_PER_TOKEN


def _section_chunks(
    section: Section, splitter: RecursiveCharacterTextSplitter, *, start: int
) -> Iterator[ChunkDraft]:
    """The chunks of one section, numbered on from `start`."""
    pieces = (text for text in splitter.split_text(section.text) if text.strip())
    for position, text in enumerate(pieces, start=start):
        yield ChunkDraft(text, page=section.page, section=section.heading, position=position)


def _joins_previous(
    previous: ChunkDraft,
    section: Section,
    count: Callable[[str], int],
    tiny_tokens: int,
    chunk_tokens: int,
) -> bool:
    """A few words under their own heading make a poor chunk; keep them with the one before."""
    if section.page != previous.page:
        return False
    size = count(section.text)
    if size >= tiny_tokens:
        return False
    return count(_merged(previous, section).text) <= chunk_tokens


def _merged(previous: ChunkDraft, section: Section) -> ChunkDraft:
    """The previous chunk followed by the tiny section, its own heading kept in the text."""
    addition = section.text
    if section.heading not in (None, previous.section):
        addition = f"{section.heading}\n{section.text}"
    return dataclasses.replace(previous, text=f"{previous.text}{MERGE_SEPARATOR}{addition}")
