"""Documents in Postgres: what was sent, by whom, for which scope, and how indexing went."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from core.knowledge.index import TABLE as CHUNK_TABLE
from core.types import Incoming

DOCUMENT_COLUMNS = """
    id, scope, added_by, title, kind, file_name, mime_type, source_url, size_bytes,
    content_hash, status, error, page_count, chunk_count, language, summary,
    suggested_questions, embedding_model, created_at, updated_at, transcript_key, attempts
"""

# Advisory locks of ingestion: (this namespace, hashtext(document id)).
INGEST_LOCK_NAMESPACE = 7001

# Kinds indexed from a transcript (heard, or captions), not from extracted text.
MEDIA_KINDS = frozenset({"video", "audio"})


def scope_for(incoming: Incoming) -> str:
    """Private chats teach the person's own knowledge; groups teach the group's."""
    return incoming.owner if incoming.chat.is_private else incoming.chat.key


@dataclass(frozen=True)
class Document:
    """One document row."""

    id: str
    scope: str
    added_by: str
    title: str
    kind: str
    file_name: str
    mime_type: str
    source_url: str | None
    size_bytes: int
    content_hash: str
    status: str
    error: str | None
    page_count: int | None
    chunk_count: int
    language: str | None
    summary: str | None
    suggested_questions: list[str] = field(default_factory=list)
    embedding_model: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    transcript_key: str | None = None  # media: the shared transcript this came from
    attempts: int = 0  # ingestion attempts started since the last outcome or /retry

    @property
    def is_media(self) -> bool:
        return self.kind in MEDIA_KINDS

    @property
    def short_id(self) -> str:
        """What users type after /forget: the first 8 characters of the id."""
        return self.id[:8]


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# `DocumentStore.list` shadows the builtin in the class's annotations.
Strings = list[str]
Documents = list[Document]


class DocumentStore:
    """Document rows and their original bytes; every query is scoped."""

    def __init__(self, pool: AsyncConnectionPool, database_url: str) -> None:
        self._pool = pool
        self._database_url = database_url  # for the ingestion lock's own connection

    async def add(
        self,
        *,
        scope: str,
        added_by: str,
        title: str,
        kind: str,
        file_name: str,
        mime_type: str,
        data: bytes,
        source_url: str | None = None,
    ) -> tuple[Document, bool]:
        """Record a document and its bytes; returns (document, is_new). Same bytes: same row."""
        digest = content_hash(data) if data else content_hash(f"url:{source_url}".encode())
        async with self._pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=class_row(Document))
            await cur.execute(
                f"""
                INSERT INTO documents (scope, added_by, title, kind, file_name, mime_type,
                                       source_url, size_bytes, content_hash)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (scope, content_hash) DO NOTHING
                RETURNING {DOCUMENT_COLUMNS}
                """,
                (scope, added_by, title, kind, file_name, mime_type, source_url, len(data), digest),
            )
            created = await cur.fetchone()
            if created is None:
                await cur.execute(
                    f"SELECT {DOCUMENT_COLUMNS} FROM documents "
                    "WHERE scope = %s AND content_hash = %s",
                    (scope, digest),
                )
                existing = await cur.fetchone()
                assert existing is not None
                return existing, False
            await conn.execute(
                "INSERT INTO document_blobs (document_id, data) VALUES (%s, %s)", (created.id, data)
            )
            return created, True

    async def get(self, document_id: str) -> Document | None:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(Document))
            await cur.execute(
                f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = %s", (document_id,)
            )
            return await cur.fetchone()

    async def blob(self, document_id: str) -> bytes:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT data FROM document_blobs WHERE document_id = %s", (document_id,)
            )
            row = await cur.fetchone()
        return bytes(row[0]) if row else b""

    async def list(self, scopes: Strings) -> Documents:
        """Documents of these scopes, newest first."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(Document))
            await cur.execute(
                f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE scope = ANY(%s) "
                "ORDER BY created_at DESC",
                (scopes,),
            )
            return await cur.fetchall()

    async def find(self, scopes: Strings | None, reference: str) -> Documents:
        """Documents whose id starts with, or title or file name contains, `reference`.

        `scopes` None searches every scope (bot admins acting on anyone's document). The
        reference is matched literally: `%` and `_` are characters, not wildcards.
        """
        pattern = reference.strip().lower()
        if not pattern:
            return []
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(Document))
            await cur.execute(
                f"""
                SELECT {DOCUMENT_COLUMNS} FROM documents
                WHERE (%(scopes)s::text[] IS NULL OR scope = ANY(%(scopes)s))
                  AND (starts_with(id, %(pattern)s) OR lower(title) = %(pattern)s
                       OR lower(file_name) = %(pattern)s
                       OR position(%(pattern)s IN lower(title)) > 0
                       OR position(%(pattern)s IN lower(file_name)) > 0)
                ORDER BY starts_with(id, %(pattern)s) DESC, created_at DESC
                """,
                {"scopes": scopes, "pattern": pattern},
            )
            return await cur.fetchall()

    async def ready_ids(self, scope: str) -> Strings:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id FROM documents WHERE scope = %s AND status = 'ready'", (scope,)
            )
            return [row[0] for row in await cur.fetchall()]

    async def delete(self, document_id: str) -> None:
        """Remove the document, its bytes and all its chunks (cascade), in one statement."""
        async with self._pool.connection() as conn:
            await conn.execute("DELETE FROM documents WHERE id = %s", (document_id,))

    async def requeue(self, scopes: Strings | None) -> Strings:
        """Mark the documents of these scopes (None: every one) queued again; their ids."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE documents SET status = 'queued', chunk_count = 0, updated_at = now() "
                "WHERE %(scopes)s::text[] IS NULL OR scope = ANY(%(scopes)s) RETURNING id",
                {"scopes": scopes},
            )
            return [row[0] for row in await cur.fetchall()]

    async def set_status(self, document_id: str, status: str, *, error: str | None = None) -> None:
        """A stated outcome, or an admin's retry: the attempt count starts again."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE documents SET status = %s, error = %s, attempts = 0, updated_at = now() "
                "WHERE id = %s",
                (status, error, document_id),
            )

    async def give_up(self, document_id: str, reason: str) -> None:
        """Mark failed keeping the attempt count, so only an admin's /retry starts it again."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE documents SET status = 'failed', error = %s, updated_at = now() "
                "WHERE id = %s",
                (reason, document_id),
            )

    @asynccontextmanager
    async def claim(self, document_id: str) -> AsyncIterator[Document | None]:
        """The document marked processing, one more attempt counted, while this block alone
        ingests it; None when it is gone, already ready, or another job holds it.

        The lock is a session advisory lock on a connection of its own, held for the whole
        block: two jobs never index one document at once, and a killed worker's lock goes
        with its connection, so the retry of its job can take the document.
        """
        async with await AsyncConnection.connect(self._database_url, autocommit=True) as conn:
            cur = await conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                (INGEST_LOCK_NAMESPACE, document_id),
            )
            row = await cur.fetchone()
            if not (row and row[0]):
                yield None
                return
            claimed = conn.cursor(row_factory=class_row(Document))
            await claimed.execute(
                f"""
                UPDATE documents SET status = 'processing', attempts = attempts + 1,
                    error = NULL, updated_at = now()
                WHERE id = %s AND status <> 'ready'
                RETURNING {DOCUMENT_COLUMNS}
                """,
                (document_id,),
            )
            yield await claimed.fetchone()

    async def mark_ready(
        self,
        document_id: str,
        *,
        title: str,
        page_count: int | None,
        chunk_count: int,
        language: str | None,
        embedding_model: str,
        chunk_ids: Strings,
    ) -> None:
        """Flip to ready only once every chunk is written, so search never sees half a document.

        In the same transaction the document's other chunks (an earlier version's, a crashed
        attempt's) go: the new set replaces the old at once.
        """
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                f"DELETE FROM {CHUNK_TABLE} WHERE document_id = %s AND NOT (id = ANY(%s::uuid[]))",
                (document_id, chunk_ids),
            )
            await conn.execute(
                """
                UPDATE documents SET status = 'ready', error = NULL, attempts = 0, title = %s,
                    page_count = %s, chunk_count = %s, language = %s, embedding_model = %s,
                    updated_at = now()
                WHERE id = %s
                """,
                (title, page_count, chunk_count, language, embedding_model, document_id),
            )

    async def store_fetched(self, document_id: str, data: bytes, *, mime_type: str) -> None:
        """Keep a fetched page's bytes, so a retry or reindex never fetches it again."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                "UPDATE document_blobs SET data = %s WHERE document_id = %s", (data, document_id)
            )
            await conn.execute(
                "UPDATE documents SET mime_type = %s, size_bytes = %s WHERE id = %s",
                (mime_type, len(data), document_id),
            )

    async def set_transcript_key(self, document_id: str, transcript_key: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE documents SET transcript_key = %s WHERE id = %s",
                (transcript_key, document_id),
            )

    async def set_summary(self, document_id: str, summary: str, questions: Strings) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE documents SET summary = %s, suggested_questions = %s WHERE id = %s",
                (summary, Jsonb(questions), document_id),
            )
