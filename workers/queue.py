"""The core's `JobQueue`, backed by procrastinate."""

from __future__ import annotations

import logging
from typing import Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued

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
