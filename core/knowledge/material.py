"""What a document yields for indexing and for its digest: chunks, a title, where it is from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from core.i18n import normalise_locale, t
from core.knowledge.answer import clock
from core.knowledge.documents import Document
from core.knowledge.embeddings import token_counter
from core.knowledge.loaders import ExtractedDocument
from core.knowledge.splitting import ChunkDraft, split_document
from core.media.captions import windows
from core.media.sources import timestamp_link, youtube_id
from core.media.transcripts import StoredTranscript

TRANSCRIPT_WINDOW_SECONDS = 60.0
MOMENT_COUNT = 3
MOMENT_WORDS = 12

Item = TypeVar("Item")


@dataclass(frozen=True)
class Material:
    """What a document or a transcript yields for indexing and for its digest."""

    title: str
    where: str  # "12 pages", "3 sections", "Channel, 12:34"
    chunks: list[ChunkDraft]
    page_count: int | None
    language: str | None
    text: str
    topics: list[str]
    moments: list[str] = field(default_factory=list)  # timestamped key points of media


def from_extracted(document: Document, extracted: ExtractedDocument, locale: str) -> Material:
    """Chunks of an extracted file or page, split at its sections and pages."""
    return Material(
        title=extracted.title or document.title,
        where=_where(extracted, locale),
        chunks=split_document(extracted, count_tokens=token_counter()),
        page_count=extracted.page_count,
        language=extracted.language,
        text="\n\n".join(s.text for s in extracted.sections),
        topics=_section_names(extracted),
    )


def from_transcript(document: Document, transcript: StoredTranscript) -> Material:
    """Transcript windows as chunks, each knowing when it starts."""
    spans = windows(transcript.segments, seconds=TRANSCRIPT_WINDOW_SECONDS)
    chunks = [
        ChunkDraft(span.text, None, None, position, start_seconds=span.start)
        for position, span in enumerate(spans)
    ]
    url = document.source_url
    video_id = youtube_id(url or "")
    moments = [
        f"• {clock(span.start)} {_first_words(span.text)}"
        + (f" ({timestamp_link(url, video_id, span.start)})" if url else "")
        for span in _spread(spans, MOMENT_COUNT)
    ]
    where = ", ".join(part for part in (transcript.channel, clock(transcript.duration)) if part)
    return Material(
        title=transcript.title,
        where=where,
        chunks=chunks,
        page_count=None,
        language=normalise_locale(transcript.language),
        text=" ".join(s.text for s in transcript.segments),
        topics=[],
        moments=moments,
    )


def _where(extracted: ExtractedDocument, locale: str) -> str:
    if extracted.page_count:
        return t("doc_pages", locale, count=extracted.page_count)
    return t("doc_sections", locale, count=len(extracted.sections))


def _first_words(text: str) -> str:
    words = text.split()
    return " ".join(words[:MOMENT_WORDS]) + ("…" if len(words) > MOMENT_WORDS else "")


def _spread(items: Sequence[Item], count: int) -> list[Item]:
    """`count` items evenly spread over the list (all of them when there are few)."""
    if len(items) <= count:
        return list(items)
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]


def _section_names(extracted: ExtractedDocument) -> list[str]:
    """The last part of each heading path ("Guide > Setup" → "Setup"), in order, once each."""
    names = (s.heading.split(" > ")[-1] for s in extracted.sections if s.heading)
    return list(dict.fromkeys(names))[:3]
