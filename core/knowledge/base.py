"""The knowledge base: its parts built together over the shared stores.

`intake` takes files and links in, `ingestion` is the job that indexes them, and
`retrieval` reads what a scope knows. A document belongs to a scope (`scope_for`): the
user in a private chat, the chat itself in a group, and every query filters by it.
"""

from __future__ import annotations

from redis.asyncio import Redis

from core.jobs import JobQueue
from core.knowledge.documents import DocumentStore, scope_for
from core.knowledge.index import ChunkIndex
from core.knowledge.ingestion import Ingestion
from core.knowledge.intake import Intake
from core.knowledge.progress import Progress
from core.knowledge.reindex import reindex
from core.knowledge.retrieval import Retrieval
from core.media.transcripts import MediaTranscriber
from core.outbox import Outbox
from core.settings import Settings

__all__ = ["KnowledgeBase", "scope_for"]


class KnowledgeBase:
    """Documents and chunks for every scope, as intake, ingestion and retrieval."""

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
        self.documents = documents
        self.index = index
        self.media = media
        self._jobs = jobs
        self.intake = Intake(settings, documents, jobs)
        self.ingestion = Ingestion(settings, documents, index, media, Progress(outbox))
        self.retrieval = Retrieval(settings, documents, index, media, redis)

    async def reindex(self, scopes: list[str] | None = None) -> int:
        """Queue documents (of `scopes`, else all) for re-embedding; returns how many."""
        return await reindex(
            self.index,
            self.documents,
            self._jobs,
            scopes=scopes,
            locale=self.settings.default_locale,
        )
