"""Caption parsing against small WebVTT/SRT fixtures, and time windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.media.captions import CaptionError, Segment, parse_captions, windows

FIXTURES = Path(__file__).parents[2] / "data" / "captions"


def load(name: str) -> list[Segment]:
    """Parse a fixture file as bytes, the way downloads arrive."""
    return parse_captions((FIXTURES / name).read_bytes())


def test_manual_vtt_drops_settings_tags_notes_and_decodes_entities() -> None:
    assert load("manual.vtt") == [
        Segment(1.0, 4.5, "Welcome to the show"),
        Segment(5.0, 8.25, "Tom & Jerry <3 second line"),
        Segment(3723.04, 3725.0, "Late cue"),
    ]


def test_youtube_auto_captions_read_once() -> None:
    segments = load("auto.vtt")
    assert [segment.text for segment in segments] == [
        "hello everyone and welcome",
        "to the channel",
        "today we cook",
    ]
    # The 10 ms hand-over cues extend the previous segment instead of repeating it.
    assert [(segment.start, segment.end) for segment in segments] == [
        (0.16, 2.04),
        (2.04, 4.32),
        (4.32, 6.0),
    ]


def test_srt_with_comma_milliseconds_crlf_and_ssa_tags() -> None:
    assert load("comma.srt") == [
        Segment(1.0, 2.5, "First subtitle"),
        Segment(3.25, 5.0, "Second subtitle on two lines"),
        Segment(60.1, 62.9, "Third"),
    ]


def test_portuguese_srt_keeps_accents() -> None:
    assert load("pt.srt") == [
        Segment(0.5, 3.0, "Olá, como você está?"),
        Segment(3.5, 6.0, "Ação e coração não são iguais."),
    ]


def test_cp1252_srt_falls_back_from_utf8() -> None:
    data = "1\n00:00:00,000 --> 00:00:01,000\nOlá\n".encode("cp1252")
    assert parse_captions(data) == [Segment(0.0, 1.0, "Olá")]


def test_str_input_and_explicit_format() -> None:
    text = (FIXTURES / "manual.vtt").read_text(encoding="utf-8")
    assert parse_captions(text, fmt="vtt") == load("manual.vtt")


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        ((FIXTURES / "broken.vtt").read_bytes(), None),
        (b"", None),
        (b"<html><body>not captions</body></html>", None),
        (b"1\n00:00:01,000 --> 00:00:02,000\nhi\n", "vtt"),
        (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhi\n", "ass"),
        (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n\n", None),
    ],
)
def test_garbage_raises(data: bytes, fmt: str | None) -> None:
    with pytest.raises(CaptionError):
        parse_captions(data, fmt=fmt)


def test_identical_consecutive_cues_merge() -> None:
    data = (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nla la\n\n00:00:01.000 --> 00:00:02.000\nla la\n"
    )
    assert parse_captions(data) == [Segment(0.0, 2.0, "la la")]


def seg(start: float, end: float, text: str = "word") -> Segment:
    """Shorthand for window tests."""
    return Segment(start, end, text)


def test_windows_close_at_time_span() -> None:
    segments = [seg(0, 20), seg(20, 40), seg(40, 60), seg(60, 80), seg(80, 100)]
    assert windows(segments, seconds=60) == [
        Segment(0, 60, "word word word"),
        Segment(60, 100, "word word"),
    ]


def test_windows_close_at_max_chars() -> None:
    segments = [seg(0, 1, "a" * 5), seg(1, 2, "b" * 5), seg(2, 3, "c" * 5)]
    assert windows(segments, max_chars=11) == [
        Segment(0, 2, "aaaaa bbbbb"),
        Segment(2, 3, "ccccc"),
    ]


def test_windows_never_split_a_long_segment() -> None:
    long = seg(0, 500, "x" * 5000)
    assert windows([long, seg(500, 501)], seconds=60, max_chars=100) == [
        long,
        seg(500, 501),
    ]


def test_windows_of_nothing() -> None:
    assert windows([]) == []
