"""Memory footprint: resident memory of the bot (terminal chat) and worker processes.

Each role runs in a fresh child process that imports what its `assistant` sub-command
imports and opens the core, then reports its resident set size idle and again after
work: the bot after answering messages with an instant fake model (10 users at once),
the worker after what an ingestion job does (extracting, splitting and embedding a PDF
with the default offline model). A bare interpreter is the baseline.

Run: `.venv/bin/python -m benchmarks.footprint`.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.common import machine, print_machine, print_table, services, write_results

ROLES = ("python", "bot", "worker")
# What each process imports at start (`assistant console` / `assistant worker`).
ROLE_IMPORTS = {
    "python": (),
    "bot": ("launcher.frontends", "bots.console"),
    "worker": ("launcher.frontends", "workers.tasks"),
}
LOAD_MESSAGES = 200
LOAD_USERS = 10
LOAD_PDF_PAGES = 40
TARGET_IDLE_BOT_MB = 150


@dataclass(frozen=True)
class Row:
    """One role's resident memory."""

    role: str
    idle_mb: float
    loaded_mb: float
    peak_mb: float


def resident_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process, in MiB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


async def bot_load(database_url: str, redis_url: str) -> None:
    """Answer messages through the core and the delivery layer, as a busy bot does."""
    from benchmarks.chat_core import InstantChatModel, core_path, settings_for, timed
    from core.deps import ModelRegistry
    from core.service import ChatService
    from launcher.frontends import core_and_jobs

    settings = settings_for(database_url, redis_url)
    async with core_and_jobs(settings) as (deps, _job_app):
        idle = resident_mb()[0]
        deps.models = ModelRegistry(settings, lambda _settings, _name: InstantChatModel())
        await timed(LOAD_USERS, LOAD_MESSAGES // LOAD_USERS, core_path(ChatService(deps)))
        report(idle)


async def worker_load(database_url: str, redis_url: str) -> None:
    """Do an ingestion job's work in process: extract, split and embed a PDF."""
    from benchmarks.chat_core import settings_for
    from core.knowledge.embeddings import token_counter
    from core.knowledge.loaders import extract
    from core.knowledge.splitting import split_document
    from launcher.frontends import core_and_jobs
    from tests.knowledge_fixtures import fact_pages, pdf_bytes

    settings = settings_for(database_url, redis_url)
    async with core_and_jobs(settings) as (deps, _job_app):
        idle = resident_mb()[0]
        data = pdf_bytes(fact_pages(LOAD_PDF_PAGES))
        extracted = extract(
            data, file_name="load.pdf", mime_type="application/pdf", max_pages=LOAD_PDF_PAGES
        )
        chunks = split_document(extracted, count_tokens=token_counter())
        await deps.knowledge.index.embeddings.aembed_documents([chunk.text for chunk in chunks])
        report(idle)


def report(idle: float) -> None:
    """The child's answer to the parent: one JSON line on stdout."""
    loaded, peak = resident_mb()
    print(json.dumps({"idle_mb": idle, "loaded_mb": loaded, "peak_mb": peak}))


def child(role: str, database_url: str, redis_url: str) -> None:
    """Import what the role imports, then measure it idle and loaded."""
    for module in ROLE_IMPORTS[role]:
        importlib.import_module(module)
    if role == "bot":
        asyncio.run(bot_load(database_url, redis_url))
    elif role == "worker":
        asyncio.run(worker_load(database_url, redis_url))
    else:
        report(resident_mb()[0])


def measure(role: str, database_url: str, redis_url: str) -> Row:
    """Run one role in a fresh interpreter, so nothing another role loaded is counted."""
    command = [sys.executable, "-m", "benchmarks.footprint", role, database_url, redis_url]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return Row(role=role, **json.loads(output.strip().splitlines()[-1]))


def main() -> None:
    """Measure every role, print and save."""
    if len(sys.argv) == 4:
        child(*sys.argv[1:])
        return
    from benchmarks.common import scratch_database

    info = machine()
    with services() as (admin_url, redis_url), scratch_database(admin_url) as url:
        rows = [measure(role, url, redis_url) for role in ROLES]
    print_machine(info)
    print(
        f"bot load: {LOAD_MESSAGES} messages from {LOAD_USERS} users (instant model); "
        f"worker load: a {LOAD_PDF_PAGES}-page PDF extracted, split and embedded\n"
    )
    print_table(
        ["process", "idle MiB", "after load MiB", "peak MiB"],
        [(r.role, r.idle_mb, r.loaded_mb, r.peak_mb) for r in rows],
    )
    print(f"\ntarget: idle bot under {TARGET_IDLE_BOT_MB} MB")
    write_results("footprint", {"rows": [asdict(r) for r in rows]})


if __name__ == "__main__":
    main()
