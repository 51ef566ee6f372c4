"""Serves the web page with uvicorn inside the launcher's event loop."""

from __future__ import annotations

import asyncio
import logging

import uvicorn

from bots.web.app import create_app
from core.deps import CoreDeps

logger = logging.getLogger(__name__)

# Open progress streams never end by themselves: a stop waits this long, then closes them.
GRACEFUL_STOP_SECONDS = 5


async def serve(deps: CoreDeps) -> None:
    """Serve on WEB_HOST:WEB_PORT until cancelled or signalled, then stop gracefully."""
    settings = deps.settings
    config = uvicorn.Config(
        create_app(deps),
        host=settings.web_host,
        port=settings.web_port,
        lifespan="off",  # the launcher opens and closes the core
        log_config=None,  # the launcher's logging
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_STOP_SECONDS,
    )
    server = uvicorn.Server(config)
    logger.info("web page on http://%s:%s", settings.web_host, settings.web_port)
    serving = asyncio.create_task(server.serve())
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True  # finish the requests in flight, then stop
        await serving
        raise
