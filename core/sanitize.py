"""Text from chat platforms made safe to store and show: no control characters.

A NUL byte in a question broke Postgres writes (psycopg refuses it) and other control
characters confuse terminals and logs. Line breaks and tabs are kept; everything else in
Unicode's control category goes, in the text, the command arguments and file names.
"""

from __future__ import annotations

import re
from dataclasses import replace

from core.types import Attachment, Command, Incoming

# C0 controls except tab and line breaks, DEL, and the C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    """`text` without control characters (tabs and line breaks stay)."""
    return _CONTROL.sub("", text)


def cleaned(incoming: Incoming) -> Incoming:
    """The message with its text, command arguments and file names cleaned."""
    command = incoming.command
    return replace(
        incoming,
        text=clean_text(incoming.text),
        command=Command(command.name, clean_text(command.args)) if command else None,
        attachments=tuple(_cleaned_attachment(a) for a in incoming.attachments),
    )


def _cleaned_attachment(attachment: Attachment) -> Attachment:
    return replace(attachment, file_name=clean_text(attachment.file_name) or "file")
