"""The `assistant` console script: one entry point, one sub-command per job."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys
from types import FrameType

from core.settings import ConfigError, LogFormat, Settings, load_settings
from launcher.services import StartupError

# Heavy imports (langchain, the job engine, the bots) happen inside the sub-commands that
# need them, so light ones such as `serve-model` start fast.

logger = logging.getLogger(__name__)

# Processes that talk on stdout keep the log quiet so piped output stays clean.
QUIET_LOG_LEVEL = "WARNING"
# Within compose's healthcheck timeout (10 s, Python's start included): a hung server
# reads as unhealthy.
HEALTHCHECK_TIMEOUT_SECONDS = 4.0


def _cmd_run(settings: Settings, args: argparse.Namespace) -> None:
    from launcher.run import run

    run(settings, target=args.target, user=args.user)


def _cmd_frontend(settings: Settings, args: argparse.Namespace) -> None:
    from launcher.frontends import run_frontend
    from launcher.providers import provider_ready

    user = getattr(args, "user", "")
    with provider_ready(settings) as resolved:
        asyncio.run(run_frontend(resolved, target=args.command, user=user, with_worker=False))


def _cmd_worker(settings: Settings, args: argparse.Namespace) -> None:
    from launcher.frontends import run_worker
    from launcher.providers import provider_ready

    with provider_ready(settings) as resolved:
        asyncio.run(run_worker(resolved, args.queues))


def _cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    from launcher.migrate import migrate

    migrate(settings)
    print("Database is up to date.", file=sys.stderr)


def _cmd_reindex(settings: Settings, args: argparse.Namespace) -> None:
    from launcher.frontends import reindex

    count = asyncio.run(reindex(settings))
    print(
        f"Queued {count} document(s) for re-indexing; workers will rebuild them.", file=sys.stderr
    )


def _cmd_serve_model(settings: Settings, args: argparse.Namespace) -> None:
    from launcher.model_server import serve_forever

    serve_forever(
        settings,
        args.host or settings.model_server_host,
        args.port or settings.model_server_port,
        stop_with_parent=args.stop_with_parent,
    )


def _cmd_stop_model(settings: Settings, args: argparse.Namespace) -> None:
    from launcher.local_model import stop_kept_model

    was_running = stop_kept_model(settings)
    print(
        "Stopped the model service." if was_running else "No model service was running.",
        file=sys.stderr,
    )


def _cmd_healthcheck(settings: Settings, args: argparse.Namespace) -> None:
    import urllib.error
    import urllib.request

    if not settings.metrics_port:
        sys.exit("unhealthy: METRICS_PORT is 0, so no process serves /healthz")
    url = f"http://127.0.0.1:{settings.metrics_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=HEALTHCHECK_TIMEOUT_SECONDS) as response:
            print(response.read().decode())
    except urllib.error.HTTPError as exc:  # 503: the body names what is down
        sys.exit(f"unhealthy: {exc.read().decode()}")
    except OSError as exc:
        sys.exit(f"unhealthy: {url}: {exc}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start everything locally (what scripts/run does)")
    run.add_argument("target", nargs="?", choices=["console", "telegram", "discord", "bots", "web"])
    run.add_argument("--user", default=getpass.getuser(), help="terminal chat identity (cli:NAME)")
    run.set_defaults(handler=_cmd_run)

    console = commands.add_parser("console", help="chat in the terminal (also works piped)")
    console.add_argument("--user", default=getpass.getuser(), help="identity, cli:NAME")
    console.set_defaults(handler=_cmd_frontend)

    for name in ("telegram", "discord"):
        commands.add_parser(name, help=f"run the {name.title()} bot").set_defaults(
            handler=_cmd_frontend
        )
    commands.add_parser("web", help="serve the web page on WEB_HOST:WEB_PORT").set_defaults(
        handler=_cmd_frontend
    )

    worker = commands.add_parser("worker", help="run background jobs")
    worker.add_argument(
        "--queue", dest="queues", action="append", help="only this queue (repeatable)"
    )
    worker.set_defaults(handler=_cmd_worker)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(
        handler=_cmd_migrate
    )

    commands.add_parser(
        "reindex", help="re-embed every document with the configured embedding model"
    ).set_defaults(handler=_cmd_reindex)

    serve_model = commands.add_parser(
        "serve-model", help="run the OpenAI-compatible model service (MODEL_SERVER_*)"
    )
    serve_model.add_argument("--host", help="listen address (default: MODEL_SERVER_HOST)")
    serve_model.add_argument("--port", type=int, help="port (default: MODEL_SERVER_PORT)")
    serve_model.add_argument(
        "--stop-with-parent",
        action="store_true",
        help="stop when the process that started this one is gone (the launcher's children)",
    )
    serve_model.set_defaults(handler=_cmd_serve_model)

    commands.add_parser(
        "stop-model", help="stop the model service `assistant run` left running"
    ).set_defaults(handler=_cmd_stop_model)

    commands.add_parser(
        "healthcheck", help="exit 0 when this container's bot or worker is healthy (/healthz)"
    ).set_defaults(handler=_cmd_healthcheck)
    return parser


def main(argv: list[str] | None = None) -> None:
    import psycopg
    import redis.exceptions

    args = build_parser().parse_args(argv)
    _stop_on_sigterm()
    try:
        settings = load_settings()
        # LangSmith reads os.environ only: a value set in `.env` must reach it too.
        for key, value in settings.tracing_environment().items():
            os.environ.setdefault(key, value)
        is_quiet = args.command == "console" or (
            args.command == "run" and args.target in (None, "console")
        )
        _configure_logging(settings, is_quiet=is_quiet)
        args.handler(settings, args)
    except ConfigError as exc:
        sys.exit(str(exc))
    except psycopg.OperationalError as exc:
        sys.exit(postgres_problem(exc))
    except redis.exceptions.ConnectionError as exc:
        sys.exit(f"Cannot reach Redis (REDIS_URL): {exc}")
    except redis.exceptions.RedisError as exc:
        sys.exit(f"Redis refused a command (REDIS_URL): {exc}")
    except StartupError as exc:
        sys.exit(f"Cannot start: {exc}")
    except KeyboardInterrupt:
        pass  # Ctrl+C or SIGTERM, after a clean stop: exit status 0


def postgres_problem(error: Exception) -> str:
    """What to tell an operator whose Postgres refused or could not be reached."""
    if "too many clients" in str(error).lower():
        return (
            "Postgres refused the connection: all its connections are in use "
            "(max_connections). Each process keeps up to 2 × DATABASE_POOL_SIZE + 1; "
            "lower DATABASE_POOL_SIZE or raise max_connections."
        )
    return f"Cannot reach Postgres (DATABASE_URL): {error}".strip()


def _stop_on_sigterm() -> None:
    """Make SIGTERM (`docker compose stop`, systemd) stop every sub-command as Ctrl+C does.

    SIGTERM goes to whatever handles SIGINT at that moment: inside `asyncio.run` that
    cancels the main task, so `finally` blocks and context managers finish in-flight
    replies and jobs and close connections; elsewhere KeyboardInterrupt unwinds the stack,
    stopping the embedded model's process on the way. A second signal stops at once.
    """
    # A shell starts background jobs with SIGINT ignored; asyncio only takes over SIGINT
    # (to cancel its main task) when Python's default handler is in place.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def like_sigint(_signum: int, frame: FrameType | None) -> None:
        handler = signal.getsignal(signal.SIGINT)
        if not callable(handler):
            raise KeyboardInterrupt
        handler(signal.SIGINT, frame)

    signal.signal(signal.SIGTERM, like_sigint)


def _configure_logging(settings: Settings, *, is_quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format is LogFormat.JSON:
        from launcher.logs import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(
        level=QUIET_LOG_LEVEL if is_quiet else settings.log_level.upper(), handlers=[handler]
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
