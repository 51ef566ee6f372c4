"""The one shape of an expected failure: a stable reason code for users, a detail for logs."""

from __future__ import annotations


class ReasonedError(Exception):
    """A failure the user should hear about: `reason` picks the message (`reason_<reason>`
    in core.i18n), `detail` is for the log."""

    def __init__(self, reason: str, detail: str = "", **values: object) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        # Extra values the message `reason_<reason>` is formatted with (sizes, limits).
        self.values = values


def explain(error: ReasonedError, locale: str) -> str:
    """The user's text for a reasoned failure (`reason_<reason>`, else a generic one)."""
    from core.i18n import has_text, t

    key = f"reason_{error.reason}"
    if not has_text(key):
        key = "reason_internal"
    return t(key, locale, detail=error.detail, **error.values)
