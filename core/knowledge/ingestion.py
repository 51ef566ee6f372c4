"""The ingestion job: extract (or transcribe), split, embed and index one document.

The job reports progress to the chat through the outbox and marks the document ready only
when every chunk is in, so a half-indexed document is never searched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from langchain_core.language_models import BaseChatModel

from core.errors import ReasonedError, explain
from core.i18n import t
from core.knowledge.documents import Document, DocumentStore
from core.knowledge.index import ChunkIndex
from core.knowledge.loaders import ExtractedDocument, extract
from core.knowledge.material import Material, from_extracted, from_transcript
from core.knowledge.progress import JobTarget, Progress
from core.knowledge.summary import digest, language_name
from core.knowledge.web import check_url, fetch_url
from core.media.transcripts import MediaTranscriber, StoredTranscript
from core.settings import Settings

PROGRESS_INTERVAL_SECONDS = 3.0
# Attempts at one document, however each ended (an error, or a worker that died with it).
MAX_ATTEMPTS = 3
GAVE_UP_REASON = "kept_failing"

logger = logging.getLogger(__name__)


class IngestionGaveUp(Exception):
    """The document's last attempt failed; it is marked failed and must not be retried."""


class Ingestion:
    """Turns a queued document into searchable chunks, telling its chat how it goes."""

    def __init__(
        self,
        settings: Settings,
        documents: DocumentStore,
        index: ChunkIndex,
        media: MediaTranscriber,
        progress: Progress,
    ) -> None:
        self.settings = settings
        self.documents = documents
        self.index = index
        self.media = media
        self.progress = progress

    async def ingest(self, document_id: str, target: JobTarget, model: BaseChatModel) -> None:
        """Extract (or transcribe), split, embed and index one document, reporting progress.

        One job at a time indexes a document (`DocumentStore.claim`); each attempt counts as
        it starts, so attempts whose worker died count too. Raises `IngestionGaveUp` when the
        last attempt failed: the document is marked failed and the job must not retry.
        """
        async with self.documents.claim(document_id) as document:
            if document is None:
                logger.info(
                    "document %s: gone, ready, or being indexed by another job", document_id
                )
                return
            if document.attempts > MAX_ATTEMPTS:
                # The last attempts started and never ended: their worker died on this document.
                await self._give_up(document, target)
                return
            try:
                await self._index(document, target, model)
            except Exception as exc:
                if document.attempts < MAX_ATTEMPTS:
                    raise  # the job engine retries it
                await self._give_up(document, target)
                raise IngestionGaveUp(document_id) from exc

    async def _index(self, document: Document, target: JobTarget, model: BaseChatModel) -> None:
        locale = target.locale
        await self._report(target, document, t("doc_reading", locale, name=document.title))
        try:
            await self.index.check_model()
            if document.is_media:
                material = from_transcript(document, await self._transcript(document, target))
            else:
                material = from_extracted(document, await self._extract(document), locale)
        except ReasonedError as exc:  # bad input or a stale index: a stated reason, no retry
            await self.documents.set_status(document.id, "failed", error=exc.reason)
            await self._report(target, document, _failed(document, exc, locale), final=True)
            return
        chunk_ids = await self._embed_and_write(document, material, target)
        await self.documents.mark_ready(
            document.id,
            title=material.title,
            page_count=material.page_count,
            chunk_count=len(material.chunks),
            language=material.language,
            embedding_model=self.index.model_name,
            chunk_ids=chunk_ids,
        )
        # The digest can take minutes on a slow model: say what is going on meanwhile.
        writing = t("doc_summarising", locale, name=material.title, where=material.where)
        await self._report(target, document, writing)
        ready = await self._ready_text(document, material, model, locale)
        await self._report(target, document, ready, final=True)

    async def _give_up(self, document: Document, target: JobTarget) -> None:
        """No attempt remains: mark the document failed and say so in its status message."""
        logger.error("document %s failed %d attempts; giving up", document.id, MAX_ATTEMPTS)
        await self.documents.give_up(document.id, GAVE_UP_REASON)
        text = _failed(document, ReasonedError(GAVE_UP_REASON), target.locale)
        await self._report(target, document, text, final=True)

    async def _ready_text(
        self, document: Document, material: Material, model: BaseChatModel, locale: str
    ) -> str:
        """Write and keep the document's digest; the chat's last message shows it."""
        result = await digest(
            model,
            title=material.title,
            text=material.text,
            # The digest is for the person who sent it, in their language.
            language=language_name(locale),
            headings=material.topics,
        )
        await self.documents.set_summary(document.id, result.summary, result.questions)
        text = t(
            "doc_ready",
            locale,
            name=material.title,
            where=material.where,
            passages=t("doc_passages", locale, count=len(material.chunks)),
            summary=result.summary,
            questions="\n".join(f"• {question}" for question in result.questions),
        )
        if material.moments:
            text += "\n\n" + t("media_moments", locale) + "\n" + "\n".join(material.moments)
        return text

    async def _embed_and_write(
        self, document: Document, material: Material, target: JobTarget
    ) -> list[str]:
        """Embed the chunks in batches and store them, telling the chat how far it got;
        returns the ids written."""
        batch_size = self.settings.embeddings_batch_size
        chunks = material.chunks
        chunk_ids: list[str] = []
        last_report = time.monotonic()
        for start in range(0, len(chunks), batch_size):
            batch = chunks[start : start + batch_size]
            vectors = await self.index.embeddings.aembed_documents([c.text for c in batch])
            chunk_ids += await self.index.write(
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
                await self._report(target, document, text)
        return chunk_ids

    async def _transcript(self, document: Document, target: JobTarget) -> StoredTranscript:
        """The document's transcript, with the share heard so far reported every few seconds."""
        fraction = [0.0]

        async def report_progress() -> None:
            while True:
                await asyncio.sleep(PROGRESS_INTERVAL_SECONDS)
                percent = int(fraction[0] * 100)
                text = t("media_transcribing", target.locale, name=document.title, percent=percent)
                await self._report(target, document, text)

        def on_progress(value: float) -> None:
            fraction[0] = value

        reporter = asyncio.create_task(report_progress())
        try:
            transcript = await self._hear(document, target.locale, on_progress)
        finally:
            reporter.cancel()
        await self.documents.set_transcript_key(document.id, transcript.source_key)
        return transcript

    async def _hear(
        self, document: Document, locale: str, on_progress: Callable[[float], None]
    ) -> StoredTranscript:
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
            max_text_chars=self.settings.knowledge_max_text_chars,
        )

    async def _report(
        self, target: JobTarget, document: Document, text: str, *, final: bool = False
    ) -> None:
        await self.progress.report(target, document.id, text, final=final)


def _failed(document: Document, error: ReasonedError, locale: str) -> str:
    return t("doc_failed", locale, name=document.title, reason=explain(error, locale))
