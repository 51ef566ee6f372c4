"""What every agent tool is built from: the conversation it serves, and how it fails."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.knowledge.index import Passage
from core.knowledge.retrieval import Retrieval
from core.media.transcripts import MediaTranscriber
from core.settings import Settings
from core.types import Incoming


class ToolFailed(Exception):
    """A tool could not do its job; the message becomes the model's observation."""


@dataclass
class ToolContext:
    """One answer's tools share this: the scope comes from here, never from the model."""

    settings: Settings
    incoming: Incoming
    locale: str
    retrieval: Retrieval
    media: MediaTranscriber
    # Passages document search handed to the model, numbered in order across calls, so
    # `[n]` in the answer names one source and the source list can be built from them.
    passages: list[Passage] = field(default_factory=list)


def shortened(text: str, max_chars: int) -> str:
    """`text` cut to `max_chars` at most, saying that it was cut."""
    if len(text) <= max_chars:
        return text
    return text[: max_chars - 20].rstrip() + " … [cut]"
