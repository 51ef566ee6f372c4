"""Intake of files and links sent in chat: check them, record them, queue their indexing.

Intake only records a document (bytes, hash, scope) and defers the ingestion job; a bad
file gets its clear refusal here, at once, and loses nothing else.
"""

from __future__ import annotations

import asyncio
import logging

from core.errors import ReasonedError, explain
from core.i18n import file_size, t
from core.jobs import INGEST_DOCUMENT, JobQueue
from core.knowledge.documents import Document, DocumentStore, scope_for
from core.knowledge.ingestion import GAVE_UP_REASON
from core.knowledge.loaders import detect_kind
from core.knowledge.progress import JobTarget
from core.knowledge.web import UrlRefused, check_url
from core.media.sources import MediaError, is_media_url, is_playlist_url, playlist_entries
from core.settings import Settings
from core.types import Attachment, Incoming, Notice

logger = logging.getLogger(__name__)

MEDIA_QUEUE = "media"  # Whisper work: GPU hosts run `assistant worker --queue media`
PLAYLIST_MAX_ENTRIES = 10
AUDIO_EXTENSIONS = (".mp3", ".m4a", ".ogg", ".oga", ".opus", ".wav", ".flac", ".aac")
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".mov")
WEB_PAGE_KIND = "web"
# Refusals that read better as a sentence of their own than as "❌ name: reason".
OWN_REFUSAL_KEYS = {"too_large": "doc_too_large"}


class Intake:
    """Takes files and links in as documents of the sender's scope."""

    def __init__(self, settings: Settings, documents: DocumentStore, jobs: JobQueue) -> None:
        self.settings = settings
        self.documents = documents
        self._jobs = jobs

    async def add_file(self, incoming: Incoming, attachment: Attachment, locale: str) -> Notice:
        """Accept a file sent in chat: check it, store it, and queue its indexing."""
        name = attachment.file_name
        try:
            data = await self._fetch(attachment)
            kind = media_kind(name, attachment.mime_type) or detect_kind(
                name, attachment.mime_type, data
            )
        except ReasonedError as exc:  # the platform's download too: its reason is the user's
            logger.info("file %s refused: %s", name, exc)
            return refusal(name, exc, locale)
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

    async def start_indexing(
        self, document_id: str, incoming: Incoming, locale: str, *, is_silent: bool = False
    ) -> None:
        """Queue the ingestion job; called once the status message is out, so it can be edited."""
        target = JobTarget(incoming.front_end, incoming.user.key, locale, is_silent)
        document = await self.documents.get(document_id)
        is_media = document is not None and document.is_media
        await self._jobs.defer(
            INGEST_DOCUMENT,
            lock=f"ingest:{document_id}",
            queue=MEDIA_QUEUE if is_media else None,
            document_id=document_id,
            **target.as_kwargs(),
        )

    async def retry(self, document: Document, locale: str) -> Notice:
        """Mark a failed (or stuck) document queued again; the caller starts its job."""
        await self.documents.set_status(document.id, "queued")
        return Notice(t("doc_retrying", locale, name=document.title), status_key=document.id)

    async def _fetch(self, attachment: Attachment) -> bytes:
        """The file's bytes, refused when over the size limit, declared or real."""
        limit = self.settings.knowledge_max_file_bytes
        if attachment.size_bytes > limit:
            raise _too_large(attachment.size_bytes, limit)
        if attachment.fetch is None:
            raise ReasonedError("broken", "attachment without bytes")
        data = await attachment.fetch()
        if len(data) > limit:  # the platform's declared size was wrong
            raise _too_large(len(data), limit)
        if not data:  # nothing to learn, and every empty file would look like every other
            raise ReasonedError("empty")
        return data

    async def _record(
        self,
        incoming: Incoming,
        locale: str,
        *,
        title: str,
        kind: str,
        file_name: str,
        mime_type: str,
        data: bytes,
        source_url: str | None = None,
    ) -> Notice:
        """Store the document; the notice has a status key when indexing must (re)start."""
        document, is_new = await self.documents.add(
            scope=scope_for(incoming),
            added_by=incoming.user.key,
            title=title,
            kind=kind,
            file_name=file_name,
            mime_type=mime_type,
            data=data,
            source_url=source_url,
        )
        name = document.title
        if is_new:
            return Notice(t("doc_received", locale, name=name), status_key=document.id)
        if document.status == "failed" and document.error == GAVE_UP_REASON:
            # Sending it again would loop it again: only an admin's /retry starts it over.
            return refusal(name, ReasonedError(GAVE_UP_REASON), locale)
        if document.status == "failed":
            return Notice(t("doc_retrying", locale, name=name), status_key=document.id)
        # Its job reports to the chat that sent it first: this one is answered now.
        if document.status == "ready":
            summary = f"\n\n{document.summary}" if document.summary else ""
            return Notice(t("doc_already_ready", locale, name=name, summary=summary))
        if document.status == "queued":
            # It may have lost its job: starting one again is harmless, and silent here.
            await self.start_indexing(document.id, incoming, locale, is_silent=True)
        return Notice(t("doc_already_indexing", locale, name=name))


def refusal(name: str, error: ReasonedError, locale: str) -> Notice:
    """The notice refusing the file `name`, saying why."""
    key = OWN_REFUSAL_KEYS.get(error.reason)
    if key is not None:
        return Notice(t(key, locale, name=name, **error.values), is_error=True)
    return Notice(t("doc_failed", locale, name=name, reason=explain(error, locale)), is_error=True)


def media_kind(file_name: str, mime_type: str) -> str | None:
    """ "audio" or "video" for files Whisper should hear, else None."""
    name = file_name.lower()
    if mime_type.startswith("audio/") or name.endswith(AUDIO_EXTENSIONS):
        return "audio"
    if mime_type.startswith("video/") or name.endswith(VIDEO_EXTENSIONS):
        return "video"
    return None


def _too_large(size_bytes: int, limit_bytes: int) -> ReasonedError:
    return ReasonedError(
        "too_large",
        f"{size_bytes} > {limit_bytes} bytes",
        size=file_size(size_bytes),
        limit=file_size(limit_bytes),
    )
