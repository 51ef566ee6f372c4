"""Documents in Postgres: what was sent, by whom, for which scope, and how indexing went."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from core.types import Incoming

DOCUMENT_COLUMNS = """
    id, scope, added_by, title, kind, file_name, mime_type, source_url, size_bytes,
    content_hash, status, error, page_count, chunk_count, language, summary,
    suggested_questions, embedding_model, created_at, updated_at, transcript_key
"""

# Kinds indexed from a transcript (heard, or captions), not from extracted text.
MEDIA_KINDS = frozenset({"video", "audio"})


def scope_for(incoming: Incoming) -> str:
    """Private chats teach the user's own knowledge; groups teach the group's."""
    return incoming.user.key if incoming.chat.is_private else incoming.chat.key


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

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

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
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE documents SET status = %s, error = %s, updated_at = now() WHERE id = %s",
                (status, error, document_id),
            )

    async def mark_ready(
        self,
        document_id: str,
        *,
        title: str,
        page_count: int | None,
        chunk_count: int,
        language: str | None,
        embedding_model: str,
    ) -> None:
        """Flip to ready only once every chunk is written, so search never sees half a document."""
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                UPDATE documents SET status = 'ready', error = NULL, title = %s, page_count = %s,
                    chunk_count = %s, language = %s, embedding_model = %s, updated_at = now()
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
