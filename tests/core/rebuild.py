"""Swapping the knowledge base's settings or index mid-test, as a restart with them would."""

from __future__ import annotations

from core.deps import CoreDeps
from core.knowledge.base import KnowledgeBase
from core.knowledge.index import ChunkIndex
from core.media.transcripts import MediaTranscriber, TranscriptStore


def rebuild_knowledge(
    deps: CoreDeps, *, index: ChunkIndex | None = None, **settings: object
) -> None:
    """Build the knowledge base again with these setting changes and/or another index."""
    knowledge = deps.knowledge
    changed = knowledge.settings.model_copy(update=settings)
    # The transcriber reads settings too (URL_ALLOWED_HOSTS for the links it fetches).
    media = MediaTranscriber(changed, TranscriptStore(deps.pool)) if settings else knowledge.media
    deps.knowledge = KnowledgeBase(
        changed,
        knowledge.documents,
        index or knowledge.index,
        deps.outbox,
        deps.jobs,
        deps.redis,
        media,
    )
