"""Rebuilding the whole index for a new embedding model (`assistant reindex`)."""

from __future__ import annotations

from core.jobs import INGEST_DOCUMENT, JobQueue
from core.knowledge.documents import DocumentStore
from core.knowledge.index import ChunkIndex
from core.knowledge.progress import JobTarget
from core.types import ChatRef, Platform


async def reindex_all(
    index: ChunkIndex, documents: DocumentStore, jobs: JobQueue, *, locale: str
) -> int:
    """Re-embed every document from its stored bytes with the configured model.

    The chunk table takes the new model's dimension, every document goes back in the
    queue, and workers rebuild the chunks; returns how many documents were queued.
    """
    dimensions = len(await index.embeddings.aembed_query("dimension probe"))
    await index.rebuild(dimensions)
    queued = await documents.requeue_all()
    silent = JobTarget(
        ChatRef(Platform.CONSOLE, "reindex", is_private=True),
        user_key="",
        locale=locale,
        is_silent=True,
    )
    for document_id in queued:
        await jobs.defer(
            INGEST_DOCUMENT,
            lock=f"ingest:{document_id}",
            document_id=document_id,
            **silent.as_kwargs(),
        )
    return len(queued)
