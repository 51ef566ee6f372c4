"""The core's view of background work: a named job is deferred, a worker runs it.

The core never imports the job engine; the entry point hands it a `JobQueue`.
"""

from __future__ import annotations

from typing import Any, Protocol

SUMMARISE_CONVERSATION = "summarise_conversation"
INGEST_DOCUMENT = "ingest_document"


class JobQueue(Protocol):
    """Defer a job by task name; `lock` keeps one waiting job per key; `queue` overrides
    the task's own queue (e.g. media work for GPU workers)."""

    async def defer(
        self, task_name: str, *, lock: str | None = None, queue: str | None = None, **kwargs: Any
    ) -> None: ...
