"""How an agent answer can end without an answer; light, so the chat path imports it freely."""

from __future__ import annotations

from core.errors import ReasonedError


class AgentGaveUp(ReasonedError):
    """The agent stopped before an answer: too many steps (`agent_steps`) or too slow."""
