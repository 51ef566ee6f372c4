"""The core's view of background work: a named job is deferred, a worker runs it.

The core never imports the job engine; the entry point hands it a `JobQueue`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

SUMMARISE_CONVERSATION = "summarise_conversation"
INGEST_DOCUMENT = "ingest_document"
# `/summary long`: a map-reduce over the whole document, minutes of model time on a long
# one, so a worker writes it (near the model service), never the bot answering the command.
LONG_SUMMARY = "long_summary"


@dataclass(frozen=True)
class JobInfo:
    """A job as an admin sees it in /jobs."""

    id: int
    task: str
    status: str  # todo, doing, failed, …
    attempts: int
    subject: str  # what it works on: a document id, a conversation


class JobQueue(Protocol):
    """Defer a job by task name; `lock` keeps one waiting job per key; `queue` overrides
    the task's own queue (e.g. media work for GPU workers). Admins look at jobs, retry a
    failed one and cancel a waiting or running one."""

    async def defer(
        self, task_name: str, *, lock: str | None = None, queue: str | None = None, **kwargs: Any
    ) -> None: ...

    async def recent(self, statuses: tuple[str, ...], *, limit: int) -> list[JobInfo]:
        """The newest jobs in these statuses, newest first."""
        ...

    async def retry(self, job_id: int) -> bool:
        """Run a failed job again (as a new job); False when there is no such failed job."""
        ...

    async def cancel(self, job_id: int) -> bool:
        """Cancel a waiting job, or ask a running one to stop; False when it cannot be."""
        ...
