"""A bot process loads only what chatting needs: the heavy parts wait for their first use.

The idle bot's memory (BENCHMARKS.md: footprint) depends on it, and one module-level import
in the wrong place undoes it silently.
"""

from __future__ import annotations

import json
import subprocess
import sys

# Loaded on first use: transcription, media download, the vector store's writer, the agent,
# MCP tools and the embedding models' numpy.
HEAVY = (
    "faster_whisper",
    "ctranslate2",
    "av",
    "yt_dlp",
    "sqlalchemy",
    "langgraph",
    "mcp",
    "numpy",
)


def test_the_bot_and_its_core_start_without_the_heavy_libraries() -> None:
    script = (
        "import json, sys; import launcher.frontends, bots.console, bots.telegram_bot, "
        "bots.discord_bot; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = json.loads(subprocess.check_output([sys.executable, "-c", script], text=True))
    assert [name for name in HEAVY if name in loaded] == []
