"""The procrastinate job app: the project's only module-level global (see STYLE.md).

Tasks register on `app` at import; each process binds it to its database with `bind`.
"""

from __future__ import annotations

import procrastinate

# The GPU-bound work of later issues gets its own queue so GPU hosts can run just that.
DEFAULT_QUEUE = "default"

app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(),
    import_paths=["workers.tasks"],
)


def bind(database_url: str) -> procrastinate.App:
    """A copy of `app`, with its tasks, connected to `database_url`."""
    return app.with_connector(procrastinate.PsycopgConnector(conninfo=database_url))
