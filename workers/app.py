"""The procrastinate job app: the project's only module-level global (see STYLE.md).

Tasks register on `app` at import; each process points it at its database with `connected`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import procrastinate
from psycopg_pool import AsyncConnectionPool

# The GPU-bound work of later issues gets its own queue so GPU hosts can run just that.
DEFAULT_QUEUE = "default"

app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(),
    import_paths=["workers.tasks"],
)


@asynccontextmanager
async def connected(pool: AsyncConnectionPool) -> AsyncIterator[procrastinate.App]:
    """`app`, working through the process's open psycopg `pool` for the block's duration.

    Sharing the core's pool keeps a process at one psycopg pool; procrastinate neither
    opens nor closes a pool it is given. A worker also holds one connection of its own
    for LISTEN/NOTIFY.
    """
    with app.replace_connector(procrastinate.PsycopgConnector()) as bound:
        async with bound.open_async(pool):
            yield bound
