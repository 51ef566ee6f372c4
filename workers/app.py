"""The procrastinate job app: the project's only module-level global (see STYLE.md).

Tasks register on `app` at import; each process points it at its database with `connected`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import procrastinate

# The GPU-bound work of later issues gets its own queue so GPU hosts can run just that.
DEFAULT_QUEUE = "default"

app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(),
    import_paths=["workers.tasks"],
)


@asynccontextmanager
async def connected(database_url: str) -> AsyncIterator[procrastinate.App]:
    """`app`, open on `database_url` for the duration of the block."""
    connector = procrastinate.PsycopgConnector(conninfo=database_url)
    with app.replace_connector(connector) as bound:
        async with bound.open_async():
            yield bound
