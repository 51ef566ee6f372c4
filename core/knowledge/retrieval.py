"""Reading the knowledge of a scope: evidence for a question, the /sources of the last
answer, a document's transcript and long summary, documents matching what was typed."""

from __future__ import annotations

import json
import logging

from langchain_core.language_models import BaseChatModel
from redis.asyncio import Redis

from core.i18n import t
from core.knowledge.answer import cite, clock, relevant
from core.knowledge.documents import Document, DocumentStore, scope_for
from core.knowledge.index import ChunkIndex, Passage
from core.knowledge.summary import language_name, long_summary
from core.media.transcripts import MediaTranscriber
from core.settings import Settings
from core.types import Incoming

logger = logging.getLogger(__name__)

SOURCES_KEY_PREFIX = "sources"


class Retrieval:
    """Answers questions about what a scope knows; never writes documents."""

    def __init__(
        self,
        settings: Settings,
        documents: DocumentStore,
        index: ChunkIndex,
        media: MediaTranscriber,
        redis: Redis,
    ) -> None:
        self.settings = settings
        self.documents = documents
        self.index = index
        self.media = media
        self._redis = redis

    async def evidence(self, incoming: Incoming, question: str) -> list[Passage]:
        """Passages of this chat's scope that bear on the question (may be empty)."""
        passages = await self.index.search(
            scope_for(incoming), question, k=self.settings.retrieval_top_k
        )
        return relevant(passages)

    async def has_documents(self, incoming: Incoming) -> bool:
        """Whether this chat's scope has any document ready to answer from."""
        return bool(await self.documents.ready_ids(scope_for(incoming)))

    async def matching(self, incoming: Incoming, typed: str) -> list[Document]:
        """This chat's documents whose title contains, or id starts with, what was typed."""
        wanted = typed.strip().lower()
        return [
            document
            for document in await self.documents.list([scope_for(incoming)])
            if wanted in document.title.lower() or document.id.startswith(wanted)
        ]

    async def remember_sources(
        self, conversation_key: str, passages: list[Passage], quotes: list[str]
    ) -> None:
        """Keep the passages behind the last answer for /sources: each with the sentence
        quoted under the answer, and whole for `/sources N`."""
        payload = json.dumps(
            [
                {"cite": cite(p), "quote": quote, "text": p.text}
                for p, quote in zip(passages, quotes, strict=True)
            ]
        )
        await self._redis.set(
            _sources_key(conversation_key), payload, ex=self.settings.memory_ttl_seconds
        )

    async def last_sources(self, conversation_key: str) -> list[dict[str, str]]:
        """The passages kept by `remember_sources` ([] once they expired)."""
        raw = await self._redis.get(_sources_key(conversation_key))
        kept: list[dict[str, str]] = json.loads(raw) if raw else []
        # Kept before quotes and whole passages were stored: the excerpt serves as both.
        return [{"quote": p.get("excerpt", ""), "text": p.get("excerpt", ""), **p} for p in kept]

    async def long_summary(self, document: Document, model: BaseChatModel, locale: str) -> str:
        """A detailed summary written now from the document's chunks, in the user's language."""
        text = "\n\n".join(await self.index.document_text(document.id))
        try:
            written = await long_summary(
                model, title=document.title, text=text, language=language_name(locale)
            )
        except Exception as exc:  # the stored summary is a fine answer when the model fails
            logger.warning("long summary of %s failed: %r", document.id, exc)
            written = document.summary or ""
        return f"{document.title}\n\n{written}" if written else t("summary_none", locale)

    async def transcript_lines(self, document: Document) -> list[str]:
        """`[12:34] text` lines of a media document's transcript; [] for other documents."""
        if not document.is_media:
            return []
        stored = await self.media.stored(document.transcript_key or "")
        if stored is None:
            return []
        return [f"[{clock(s.start)}] {s.text.strip()}" for s in stored.segments]


def _sources_key(conversation_key: str) -> str:
    return f"{SOURCES_KEY_PREFIX}:{conversation_key}"
