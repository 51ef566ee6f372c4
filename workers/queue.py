"""The core's `JobQueue`, backed by procrastinate."""

from __future__ import annotations

import logging
from typing import Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued

from core.jobs import JobInfo

logger = logging.getLogger(__name__)


class ProcrastinateJobs:
    """Defers jobs by task name, so the core never imports task code."""

    def __init__(self, app: procrastinate.App) -> None:
        self._app = app

    async def defer(
        self, task_name: str, *, lock: str | None = None, queue: str | None = None, **kwargs: Any
    ) -> None:
        options: dict[str, Any] = {"queueing_lock": lock}
        if queue is not None:
            options["queue"] = queue
        try:
            await self._app.configure_task(task_name, **options).defer_async(**kwargs)
        except AlreadyEnqueued:
            # A waiting job with the same lock will pick up this work too.
            logger.debug("job %s already waiting for lock %s", task_name, lock)

    async def recent(self, statuses: tuple[str, ...], *, limit: int) -> list[JobInfo]:
        """The newest jobs in these statuses, newest first."""
        manager = self._app.job_manager
        found = [job for status in statuses for job in await manager.list_jobs_async(status=status)]
        found.sort(key=lambda job: job.id or 0, reverse=True)
        return [_info(job) for job in found[:limit]]

    async def retry(self, job_id: int) -> bool:
        """Defer a failed job's task again with the same arguments and queue."""
        [*jobs] = await self._app.job_manager.list_jobs_async(id=job_id, status="failed")
        if not jobs:
            return False
        job = jobs[0]
        await self.defer(job.task_name, lock=job.queueing_lock, queue=job.queue, **job.task_kwargs)
        return True

    async def cancel(self, job_id: int) -> bool:
        """Cancel a waiting job; a running one is asked to abort."""
        return await self._app.job_manager.cancel_job_by_id_async(job_id, abort=True)


def _info(job: procrastinate.jobs.Job) -> JobInfo:
    kwargs = job.task_kwargs
    subject = str(kwargs.get("document_id") or kwargs.get("conversation_key") or "")
    return JobInfo(
        id=job.id or 0,
        task=job.task_name,
        status=str(job.status),
        attempts=job.attempts,
        subject=subject,
    )
