"""The one shape of an expected failure: a stable reason code for users, a detail for logs."""

from __future__ import annotations

from core.i18n import has_text, t


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
    """What the user is told about `error`; a reason without a message reads as ours."""
    key = f"reason_{error.reason}"
    if not has_text(key):
        return t("reason_internal", locale)
    return t(key, locale, detail=error.detail, **error.values)
