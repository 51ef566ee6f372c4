"""The knowledge base: intake of files and links, the ingestion job, and retrieval.

Intake only records a document (bytes, hash, scope) and defers a job; the job extracts,
splits, embeds and writes chunks, reporting progress to the chat through the outbox, and
marks the document ready only when every chunk is in. A document belongs to a scope: the
user in a private chat, the chat itself in a group, and every query filters by it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel
from redis.asyncio import Redis

from core.errors import ReasonedError
from core.i18n import has_text, normalise_locale, t
from core.jobs import INGEST_DOCUMENT, JobQueue
from core.knowledge.answer import cite, clock, excerpt, relevant
from core.knowledge.documents import Document, DocumentStore
from core.knowledge.embeddings import token_counter
from core.knowledge.index import ChunkIndex, Passage
from core.knowledge.loaders import DocumentError, ExtractedDocument, detect_kind, extract
from core.knowledge.splitting import ChunkDraft, split_document
from core.knowledge.summary import digest, long_summary
from core.knowledge.web import UrlRefused, check_url, fetch_url
from core.media.captions import windows
from core.media.sources import (
    MediaError,
    is_media_url,
    is_playlist_url,
    playlist_entries,
    timestamp_link,
    youtube_id,
)
from core.media.transcripts import MediaTranscriber
from core.outbox import Outbox
from core.settings import Settings
from core.types import Attachment, ChatRef, Incoming, Notice, OutboxMessage, Platform

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 3.0
MEDIA_KINDS = frozenset({"video", "audio"})
MEDIA_QUEUE = "media"  # Whisper work: GPU hosts run `assistant worker --queue media`
TRANSCRIPT_WINDOW_SECONDS = 60.0
MOMENT_COUNT = 3
PLAYLIST_MAX_ENTRIES = 10
MOMENT_WORDS = 12
AUDIO_EXTENSIONS = (".mp3", ".m4a", ".ogg", ".oga", ".opus", ".wav", ".flac", ".aac")
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".mov")
SOURCES_KEY_PREFIX = "sources"
WEB_PAGE_KIND = "web"
LANGUAGE_NAMES = {"pt-BR": "Brazilian Portuguese", "en": "English"}


def scope_for(incoming: Incoming) -> str:
    """Private chats teach the user's own knowledge; groups teach the group's."""
    return incoming.user.key if incoming.chat.is_private else incoming.chat.key


@dataclass(frozen=True)
class JobTarget:
    """Where a job reports: the chat, the person, and their language."""

    chat: ChatRef
    user_key: str
    locale: str
    is_silent: bool = False  # reindexing reports to nobody

    def as_kwargs(self) -> dict[str, object]:
        return {
            "platform": self.chat.platform.value,
            "chat_id": self.chat.id,
            "is_private": self.chat.is_private,
            "user_key": self.user_key,
            "locale": self.locale,
            "is_silent": self.is_silent,
        }

    @classmethod
    def from_kwargs(
        cls,
        *,
        platform: str,
        chat_id: str,
        is_private: bool,
        user_key: str,
        locale: str,
        is_silent: bool = False,
    ) -> JobTarget:
        chat = ChatRef(Platform(platform), chat_id, is_private)
        return cls(chat, user_key, locale, is_silent)


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


class KnowledgeBase:
    """Documents and chunks for every scope."""

    def __init__(
        self,
        settings: Settings,
        documents: DocumentStore,
        index: ChunkIndex,
        outbox: Outbox,
        jobs: JobQueue,
        redis: Redis,
        media: MediaTranscriber,
    ) -> None:
        self.settings = settings
        self.media = media
        self.documents = documents
        self.index = index
        self._outbox = outbox
        self._jobs = jobs
        self._redis = redis

    # --- intake ------------------------------------------------------------------

    async def add_file(self, incoming: Incoming, attachment: Attachment, locale: str) -> Notice:
        """Accept a file sent in chat: check it, store it, and queue its indexing."""
        name = attachment.file_name
        limit = self.settings.knowledge_max_file_bytes
        if attachment.size_bytes > limit:
            return _too_large(name, attachment.size_bytes, limit, locale)
        if attachment.fetch is None:
            return Notice(
                t("doc_failed", locale, name=name, reason=t("reason_broken", locale)), is_error=True
            )
        data = await attachment.fetch()
        if len(data) > limit:  # the platform's declared size was wrong
            return _too_large(name, len(data), limit, locale)
        try:
            kind = media_kind(name, attachment.mime_type) or detect_kind(
                name, attachment.mime_type, data
            )
        except DocumentError as exc:
            return Notice(self._failure_text(name, exc.reason, exc.detail, locale), is_error=True)
        return await self._record(
            incoming,
            locale,
            title=name,
            kind=kind,
            file_name=name,
            mime_type=attachment.mime_type,
            data=data,
        )

    async def add_url(self, incoming: Incoming, url: str, locale: str) -> Notice:
        """Accept a web link (a page, a document, or a video/audio): record it and queue it."""
        return await self._record(
            incoming,
            locale,
            title=url,
            # Matching yt-dlp's site patterns takes a moment the first time: off the loop.
            kind="video" if await asyncio.to_thread(is_media_url, url) else WEB_PAGE_KIND,
            file_name=url,
            mime_type="text/html",
            data=b"",
            source_url=url,
        )

    async def expand_playlists(self, urls: list[str]) -> list[str]:
        """Links with each YouTube playlist replaced by its first videos, one by one."""
        links: list[str] = []
        for url in urls:
            if not is_playlist_url(url):
                links.append(url)
                continue
            try:
                await check_url(url, allowed_hosts=self.settings.url_allowed_hosts)
                entries = await asyncio.to_thread(playlist_entries, url, limit=PLAYLIST_MAX_ENTRIES)
            except (UrlRefused, MediaError) as exc:
                logger.info("playlist %s not expanded (%s); taking it as one link", url, exc)
                entries = []
            links.extend(entries or [url])
        return links

    async def _record(self, incoming: Incoming, locale: str, **document: object) -> Notice:
        """Store the document; the notice has a status key when indexing must (re)start."""
        document_row, is_new = await self.documents.add(
            scope=scope_for(incoming),
            added_by=incoming.user.key,
            **document,  # type: ignore[arg-type]
        )
        name = document_row.title
        if is_new:
            return Notice(t("doc_received", locale, name=name), status_key=document_row.id)
        if document_row.status == "failed":
            return Notice(t("doc_retrying", locale, name=name), status_key=document_row.id)
        status = t(f"status_{document_row.status}", locale)
        duplicate = t("doc_duplicate", locale, name=name, status=status)
        # A document still queued may have lost its job: starting it again is harmless.
        is_queued = document_row.status == "queued"
        return Notice(duplicate, status_key=document_row.id if is_queued else "")

    async def start_indexing(self, document_id: str, incoming: Incoming, locale: str) -> None:
        """Queue the ingestion job; called once the status message is out, so it can be edited."""
        target = JobTarget(incoming.chat, incoming.user.key, locale)
        document = await self.documents.get(document_id)
        is_media = document is not None and document.kind in MEDIA_KINDS
        await self._jobs.defer(
            INGEST_DOCUMENT,
            lock=f"ingest:{document_id}",
            queue=MEDIA_QUEUE if is_media else None,
            document_id=document_id,
            **target.as_kwargs(),
        )

    # --- the ingestion job ------------------------------------------------------------

    async def ingest(self, document_id: str, target: JobTarget, model: BaseChatModel) -> None:
        """Extract (or transcribe), split, embed and index one document, reporting progress."""
        document = await self.documents.get(document_id)
        if document is None:
            return  # forgotten while it waited in the queue
        locale = target.locale
        await self.index.check_model()
        await self.documents.set_status(document_id, "processing")
        await self.index.delete_document(document_id)  # leftovers of a crashed attempt
        await self._report(
            target, document_id, t("doc_reading", locale, name=document.title), final=False
        )
        try:
            if document.kind in MEDIA_KINDS:
                material = await self._media_material(document, target)
            else:
                material = await self._document_material(document, locale)
        except ReasonedError as exc:  # bad input: a stated reason, no retry
            await self.documents.set_status(document_id, "failed", error=exc.reason)
            text = self._failure_text(document.title, exc.reason, exc.detail, locale)
            await self._report(target, document_id, text, final=True)
            return
        await self._embed_and_write(document, material, target)
        await self.documents.mark_ready(
            document_id,
            title=material.title,
            page_count=material.page_count,
            chunk_count=len(material.chunks),
            language=material.language,
            embedding_model=self.index.model_name,
        )
        result = await digest(
            model,
            title=material.title,
            text=material.text,
            # The digest is for the person who sent it, in their language.
            language=LANGUAGE_NAMES.get(locale, "English"),
            headings=material.topics,
        )
        await self.documents.set_summary(document_id, result.summary, result.questions)
        questions = "\n".join(f"• {question}" for question in result.questions)
        text = t(
            "doc_ready",
            locale,
            name=material.title,
            where=material.where,
            chunks=len(material.chunks),
            summary=result.summary,
            questions=questions,
        )
        if material.moments:
            text += "\n\n" + t("media_moments", locale) + "\n" + "\n".join(material.moments)
        await self._report(target, document_id, text, final=True)

    async def _embed_and_write(
        self, document: Document, material: Material, target: JobTarget
    ) -> None:
        """Embed the chunks in batches and store them, telling the chat how far it got."""
        batch_size = self.settings.embeddings_batch_size
        chunks = material.chunks
        last_report = time.monotonic()
        for start in range(0, len(chunks), batch_size):
            batch = chunks[start : start + batch_size]
            vectors = await self.index.embeddings.aembed_documents([c.text for c in batch])
            await self.index.write(
                scope=document.scope, document_id=document.id, chunks=batch, vectors=vectors
            )
            if time.monotonic() - last_report >= PROGRESS_INTERVAL_SECONDS:
                last_report = time.monotonic()
                text = t(
                    "doc_embedding",
                    target.locale,
                    name=material.title,
                    where=material.where,
                    done=min(start + batch_size, len(chunks)),
                    total=len(chunks),
                )
                await self._report(target, document.id, text, final=False)

    async def _document_material(self, document: Document, locale: str) -> Material:
        extracted = await self._extract(document)
        return Material(
            title=extracted.title or document.title,
            where=_where(extracted, locale),
            chunks=split_document(extracted, count_tokens=token_counter()),
            page_count=extracted.page_count,
            language=extracted.language,
            text="\n\n".join(s.text for s in extracted.sections),
            topics=_section_names(extracted),
        )

    async def _media_material(self, document: Document, target: JobTarget) -> Material:
        """Transcript windows as chunks, each knowing when it starts."""
        fraction = [0.0]

        async def report_progress() -> None:
            while True:
                await asyncio.sleep(PROGRESS_INTERVAL_SECONDS)
                percent = int(fraction[0] * 100)
                text = t("media_transcribing", target.locale, name=document.title, percent=percent)
                await self._report(target, document.id, text, final=False)

        def on_progress(value: float) -> None:
            fraction[0] = value

        reporter = asyncio.create_task(report_progress())
        try:
            transcript = await self._transcript(document, target.locale, on_progress)
        finally:
            reporter.cancel()
        await self.documents.set_transcript_key(document.id, transcript.source_key)
        spans = windows(transcript.segments, seconds=TRANSCRIPT_WINDOW_SECONDS)
        chunks = [
            ChunkDraft(span.text, None, None, position, start_seconds=span.start)
            for position, span in enumerate(spans)
        ]
        video_id = youtube_id(document.source_url or "")
        moments = [
            f"• {_clock(span.start)} {_first_words(span.text)}"
            + (
                f" ({timestamp_link(document.source_url, video_id, span.start)})"
                if document.source_url
                else ""
            )
            for span in _spread(spans, MOMENT_COUNT)
        ]
        where = ", ".join(
            part for part in (transcript.channel, _clock(transcript.duration)) if part
        )
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

    async def _transcript(self, document: Document, locale: str, on_progress):  # noqa: ANN001, ANN202
        if document.source_url:
            await check_url(document.source_url, allowed_hosts=self.settings.url_allowed_hosts)
            return await self.media.for_link(
                document.source_url, locale=locale, progress=on_progress
            )
        return await self.media.for_file(
            await self.documents.blob(document.id),
            source_key=f"file:{document.content_hash}",
            title=document.title,
            locale=locale,
            progress=on_progress,
        )

    async def fail(self, document_id: str, target: JobTarget) -> None:
        """Give up on a document after the job's last attempt, and say so."""
        document = await self.documents.get(document_id)
        if document is None:
            return
        await self.documents.set_status(document_id, "failed", error="internal")
        text = self._failure_text(document.title, "internal", "", target.locale)
        await self._report(target, document_id, text, final=True)

    async def _extract(self, document: Document) -> ExtractedDocument:
        data = await self.documents.blob(document.id)
        file_name, mime_type = document.file_name, document.mime_type
        if document.source_url and not data:
            fetched = await fetch_url(
                document.source_url,
                allowed_hosts=self.settings.url_allowed_hosts,
                max_bytes=self.settings.url_max_bytes,
                timeout_seconds=self.settings.url_fetch_timeout_seconds,
            )
            data, file_name, mime_type = fetched.data, fetched.file_name, fetched.content_type
            await self.documents.store_fetched(document.id, data, mime_type=mime_type)
        return await asyncio.to_thread(
            extract,
            data,
            file_name=file_name,
            mime_type=mime_type,
            max_pages=self.settings.knowledge_max_pages,
        )

    async def _report(self, target: JobTarget, document_id: str, text: str, *, final: bool) -> None:
        if target.is_silent:
            return
        await self._outbox.publish(
            OutboxMessage(
                chat=target.chat,
                text=text,
                user_key=target.user_key,
                status_key=document_id,
                is_final=final,
            )
        )

    def _failure_text(self, name: str, reason: str, detail: str, locale: str) -> str:
        reason_text = t(
            f"reason_{reason}" if has_text(f"reason_{reason}") else "reason_internal",
            locale,
            limit=self.settings.knowledge_max_pages,
            detail=detail,
        )
        return t("doc_failed", locale, name=name, reason=reason_text)

    async def reindex_all(self) -> int:
        """Re-embed every document from its stored bytes with the configured model.

        The chunk table takes the new model's dimension, every document goes back in the
        queue, and workers rebuild the chunks; returns how many documents were queued.
        """
        dimensions = len(await self.index.embeddings.aembed_query("dimension probe"))
        await self.index.rebuild(dimensions)
        documents = await self.documents.requeue_all()
        silent = JobTarget(
            ChatRef(Platform.CONSOLE, "reindex", is_private=True),
            user_key="",
            locale=self.settings.default_locale,
            is_silent=True,
        )
        for document_id in documents:
            await self._jobs.defer(
                INGEST_DOCUMENT,
                lock=f"ingest:{document_id}",
                document_id=document_id,
                **silent.as_kwargs(),
            )
        return len(documents)

    # --- retrieval ---------------------------------------------------------------------

    async def evidence(self, incoming: Incoming, question: str) -> list[Passage]:
        """Passages of this chat's scope that bear on the question (may be empty)."""
        passages = await self.index.search(
            scope_for(incoming), question, k=self.settings.retrieval_top_k
        )
        return relevant(passages)

    async def retry(self, document: Document, incoming: Incoming, locale: str) -> Notice:
        """Mark a failed (or stuck) document queued again; the caller starts its job."""
        await self.documents.set_status(document.id, "queued")
        return Notice(t("doc_retrying", locale, name=document.title), status_key=document.id)

    async def long_summary(self, document: Document, model: BaseChatModel, locale: str) -> str:
        """A detailed summary written now from the document's chunks, in the user's language."""
        text = "\n\n".join(await self.index.document_text(document.id))
        try:
            written = await long_summary(
                model,
                title=document.title,
                text=text,
                language=LANGUAGE_NAMES.get(locale, "English"),
            )
        except Exception as exc:  # the stored summary is a fine answer when the model fails
            logger.warning("long summary of %s failed: %r", document.id, exc)
            written = document.summary or ""
        return f"{document.title}\n\n{written}" if written else t("summary_none", locale)

    async def transcript_lines(self, document: Document) -> list[str]:
        """`[12:34] text` lines of a media document's transcript; [] for other documents."""
        if document.kind not in MEDIA_KINDS:
            return []
        stored = await self.media.stored(document.transcript_key or "")
        if stored is None:
            return []
        return [f"[{clock(s.start)}] {s.text.strip()}" for s in stored.segments]

    async def has_documents(self, incoming: Incoming) -> bool:
        """Whether this chat's scope has any document ready to answer from."""
        return bool(await self.documents.ready_ids(scope_for(incoming)))

    async def remember_sources(self, conversation_key: str, passages: list[Passage]) -> None:
        """Keep the passages behind the last answer for /sources."""
        payload = json.dumps([{"cite": cite(p), "excerpt": excerpt(p)} for p in passages])
        await self._redis.set(
            f"{SOURCES_KEY_PREFIX}:{conversation_key}", payload, ex=self.settings.memory_ttl_seconds
        )

    async def last_sources(self, conversation_key: str) -> list[dict[str, str]]:
        raw = await self._redis.get(f"{SOURCES_KEY_PREFIX}:{conversation_key}")
        return json.loads(raw) if raw else []


def _where(extracted: ExtractedDocument, locale: str) -> str:
    if extracted.page_count:
        return t("doc_pages", locale, pages=extracted.page_count)
    return t("doc_sections", locale, sections=len(extracted.sections))


def media_kind(file_name: str, mime_type: str) -> str | None:
    """ "audio" or "video" for files Whisper should hear, else None."""
    name = file_name.lower()
    if mime_type.startswith("audio/") or name.endswith(AUDIO_EXTENSIONS):
        return "audio"
    if mime_type.startswith("video/") or name.endswith(VIDEO_EXTENSIONS):
        return "video"
    return None


def _clock(seconds: float | None) -> str:
    return clock(seconds) if seconds is not None else ""


def _first_words(text: str) -> str:
    words = text.split()
    return " ".join(words[:MOMENT_WORDS]) + ("…" if len(words) > MOMENT_WORDS else "")


def _spread(items: list, count: int) -> list:  # noqa: ANN401
    """`count` items evenly spread over the list (all of them when there are few)."""
    if len(items) <= count:
        return items
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]


def _section_names(extracted: ExtractedDocument) -> list[str]:
    """The last part of each heading path ("Guide > Setup" → "Setup"), in order, once each."""
    names = (s.heading.split(" > ")[-1] for s in extracted.sections if s.heading)
    return list(dict.fromkeys(names))[:3]


def _too_large(name: str, size_bytes: int, limit_bytes: int, locale: str) -> Notice:
    text = t("doc_too_large", locale, name=name, size=_size(size_bytes), limit=_size(limit_bytes))
    return Notice(text, is_error=True)


def _size(size_bytes: int) -> str:
    return f"{size_bytes / (1024 * 1024):.1f} MB"
