"""Caption files (WebVTT, SRT) to timed text segments, and time windows for chunking."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

# One Segment type for captions and speech recognition, so transcripts are handled alike.
from core.errors import ReasonedError
from core.media.transcription import Segment

FORMATS = ("vtt", "srt")
VTT_HEADER = "WEBVTT"
# Hours are optional in WebVTT; SRT uses a comma before the milliseconds.
TIMESTAMP = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
TIMING_LINE = re.compile(rf"^\s*{TIMESTAMP}\s*-->\s*{TIMESTAMP}")
# <c>, <i>, <v Speaker>, <00:00:01.234> and SRT <font> tags, plus SSA overrides like {\an8}.
MARKUP = re.compile(r"<[^>]*>|\{\\[^}]*\}")
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600


class CaptionError(ReasonedError):
    """The caption data is not WebVTT or SRT, or holds no text."""


def parse_captions(data: bytes | str, *, fmt: str | None = None) -> list[Segment]:
    """WebVTT or SRT (sniffed if fmt is None) → clean segments in order, roll-up removed."""
    text = _decode(data).replace("\r\n", "\n").replace("\r", "\n")
    fmt = fmt or _sniff(text)
    if fmt not in FORMATS:
        raise CaptionError("broken", f"unknown caption format {fmt!r}")
    if fmt == "vtt" and not text.startswith(VTT_HEADER):
        raise CaptionError("broken", "missing WEBVTT header")
    segments = _drop_rollup(list(_cues(text)))
    if not segments:
        raise CaptionError("empty", "no caption cues found")
    return segments


def windows(
    segments: list[Segment], *, seconds: float = 60.0, max_chars: int = 1200
) -> list[Segment]:
    """Merge consecutive segments into windows of at most `seconds` and `max_chars` each."""
    result: list[Segment] = []
    group: list[Segment] = []
    for segment in segments:
        if group and _overflows(group, segment, seconds, max_chars):
            result.append(_merge(group))
            group = []
        group.append(segment)
    if group:
        result.append(_merge(group))
    return result


def _decode(data: bytes | str) -> str:
    """Text as UTF-8 (BOM dropped), falling back to cp1252 which older SRT files use."""
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _sniff(text: str) -> str:
    """Format name from the header: only WebVTT has one."""
    return "vtt" if text.startswith(VTT_HEADER) else "srt"


def _seconds(hours: str | None, minutes: str, secs: str, millis: str) -> float:
    """Timestamp parts → seconds."""
    whole = int(hours or 0) * SECONDS_PER_HOUR + int(minutes) * SECONDS_PER_MINUTE + int(secs)
    return whole + int(millis.ljust(3, "0")) / 1000


def _cues(text: str) -> Iterator[tuple[float, float, list[str]]]:
    """Each cue block as (start, end, cleaned lines); blocks without timings are skipped."""
    # Only truly empty lines end a cue: YouTube auto captions hold lines of one space.
    for block in re.split(r"\n{2,}", text):
        lines = block.split("\n")
        for index, line in enumerate(lines):
            match = TIMING_LINE.match(line)
            if match:
                start = _seconds(*match.groups()[:4])
                end = _seconds(*match.groups()[4:])
                cleaned = [_clean(raw) for raw in lines[index + 1 :]]
                yield start, end, [line for line in cleaned if line]
                break


def _clean(line: str) -> str:
    """Line without markup or entities, whitespace collapsed."""
    return " ".join(html.unescape(MARKUP.sub("", line)).split())


def _drop_rollup(cues: list[tuple[float, float, list[str]]]) -> list[Segment]:
    """Keep only lines a cue adds over the previous one (YouTube auto captions roll up)."""
    segments: list[Segment] = []
    previous: list[str] = []
    for start, end, lines in cues:
        new_lines = lines[_overlap(previous, lines) :]
        previous = lines or previous
        if new_lines:
            segments.append(Segment(start, end, " ".join(new_lines)))
        elif lines and segments:
            # A pure repeat (the 10 ms hand-over cue): the text is still on screen.
            last = segments[-1]
            segments[-1] = Segment(last.start, max(last.end, end), last.text)
    return segments


def _overlap(previous: list[str], lines: list[str]) -> int:
    """Longest count k where the first k lines repeat the last k previous lines."""
    for size in range(min(len(previous), len(lines)), 0, -1):
        if previous[-size:] == lines[:size]:
            return size
    return 0


def _overflows(group: list[Segment], segment: Segment, seconds: float, max_chars: int) -> bool:
    """Whether adding the segment would push the window past its time span or length."""
    span = segment.end - group[0].start
    chars = sum(len(item.text) + 1 for item in group) + len(segment.text)
    return span > seconds or chars > max_chars


def _merge(group: list[Segment]) -> Segment:
    """One window from consecutive segments."""
    return Segment(group[0].start, group[-1].end, " ".join(item.text for item in group))
