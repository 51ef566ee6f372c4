"""Open the resources an entry point needs: a reachable model, the core, the job app."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import procrastinate

from core.deps import CoreDeps, open_core
from core.settings import Settings
from launcher.local_model import start_local_model
from launcher.providers import resolve_provider
from workers.app import app, connected
from workers.queue import ProcrastinateJobs

logger = logging.getLogger(__name__)

CHILD_STOP_TIMEOUT_SECONDS = 20


@contextmanager
def provider_ready(settings: Settings) -> Iterator[Settings]:
    """Resolve LLM_PROVIDER=auto, starting the embedded model if nothing else answers."""
    resolved, description = resolve_provider(settings)
    if resolved is not None:
        print(f"Model: {description}", file=sys.stderr)
        yield resolved
        return
    print(f"Model: starting {description}…", file=sys.stderr)
    process, resolved = start_local_model(settings, settings.data_dir / "logs" / "model.log")
    try:
        yield resolved
    finally:
        stop_child(process)


def stop_child(process: subprocess.Popen[bytes]) -> None:
    """Ask a child process to stop, and kill it if it will not."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(CHILD_STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        logger.warning("child %s did not stop in time; killing it", process.args)
        process.kill()
        process.wait()


@asynccontextmanager
async def core_and_jobs(settings: Settings) -> AsyncIterator[tuple[CoreDeps, procrastinate.App]]:
    """The core's resources and the job app bound to the same database."""
    # The core opens first: it checks both servers and fails fast with a clear error.
    async with open_core(settings, jobs=ProcrastinateJobs(app)) as deps, connected(
        settings.database_url
    ) as job_app:
        yield deps, job_app
