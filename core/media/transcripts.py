"""Transcripts of videos and audio: made once per source, shared by every scope that sends it.

`transcript_for` finds or makes the timed text of a media document: captions through
yt-dlp first (manual, then automatic, in the user's language when there are some), else
the audio downloaded and transcribed by Whisper. It is blocking-heavy work meant for the
`media` job queue.
"""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from psycopg_pool import AsyncConnectionPool

from core.media.sources import download_audio, fetch_captions, probe
from core.media.transcription import Segment, Transcriber
from core.settings import Settings

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class StoredTranscript:
    """A transcript row."""

    source_key: str
    url: str | None
    title: str
    channel: str | None
    language: str
    duration: float
    origin: str  # "captions" or "whisper"
    segments: list[Segment]


class TranscriptStore:
    """Transcripts in Postgres, keyed by source."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def get(self, source_key: str) -> StoredTranscript | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT source_key, url, title, channel, language, duration, origin, segments "
                "FROM transcripts WHERE source_key = %s",
                (source_key,),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        source_key, url, title, channel, language, duration, origin, raw_segments = row
        segments = [Segment(s["start"], s["end"], s["text"]) for s in raw_segments]
        return StoredTranscript(
            source_key, url, title, channel, language, duration, origin, segments=segments
        )

    async def save(self, transcript: StoredTranscript) -> None:
        segments = [{"start": s.start, "end": s.end, "text": s.text} for s in transcript.segments]
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                INSERT INTO transcripts (source_key, url, title, channel, language, duration,
                                         origin, segments)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (source_key) DO NOTHING
                """,
                (
                    transcript.source_key,
                    transcript.url,
                    transcript.title,
                    transcript.channel,
                    transcript.language,
                    transcript.duration,
                    transcript.origin,
                    json.dumps(segments),
                ),
            )


class MediaTranscriber:
    """Finds or makes transcripts; loads Whisper only the first time it is needed."""

    def __init__(self, settings: Settings, store: TranscriptStore) -> None:
        self._settings = settings
        self._store = store
        self._whisper: Transcriber | None = None
        self._lock = asyncio.Lock()

    async def for_link(
        self, url: str, *, locale: str, progress: Callable[[float], None]
    ) -> StoredTranscript:
        """The transcript of a video or audio link: stored, captions, or Whisper."""
        limit = self._settings.media_max_seconds
        allowed_hosts = self._settings.url_allowed_hosts
        info = await asyncio.to_thread(probe, url, max_seconds=limit, allowed_hosts=allowed_hosts)
        stored = await self._store.get(info.source_key)
        if stored is not None:
            return stored
        language = locale.split("-")[0]
        captions = await asyncio.to_thread(
            fetch_captions, url, languages=[language, "en"], allowed_hosts=allowed_hosts
        )
        if captions is not None:
            caption_language, segments = captions
            transcript = StoredTranscript(
                info.source_key,
                info.url,
                info.title,
                info.channel,
                caption_language,
                info.duration or (segments[-1].end if segments else 0.0),
                "captions",
                segments,
            )
        else:
            with tempfile.TemporaryDirectory(prefix="media-") as directory:
                audio = await asyncio.to_thread(
                    download_audio,
                    url,
                    Path(directory),
                    max_bytes=self._settings.media_max_bytes,
                    allowed_hosts=allowed_hosts,
                )
                spoken = await self._transcribe(audio, locale=locale, progress=progress)
            transcript = StoredTranscript(
                info.source_key,
                info.url,
                info.title,
                info.channel,
                spoken.language,
                spoken.duration,
                "whisper",
                spoken.segments,
            )
        await self._store.save(transcript)
        return transcript

    async def for_file(
        self,
        data: bytes,
        *,
        source_key: str,
        title: str,
        locale: str,
        progress: Callable[[float], None],
    ) -> StoredTranscript:
        """The transcript of an audio or video file sent in chat."""
        stored = await self._store.get(source_key)
        if stored is not None:
            return stored
        spoken = await self._transcribe(io.BytesIO(data), locale=locale, progress=progress)
        transcript = StoredTranscript(
            source_key,
            None,
            title,
            None,
            spoken.language,
            spoken.duration,
            "whisper",
            spoken.segments,
        )
        await self._store.save(transcript)
        return transcript

    async def stored(self, source_key: str) -> StoredTranscript | None:
        return await self._store.get(source_key)

    async def hear(self, data: bytes, *, locale: str, max_seconds: float) -> str:
        """What a short voice note says (not stored: it is a message, not knowledge)."""
        whisper = await self._model()
        spoken = await whisper.atranscribe(
            io.BytesIO(data), fallback_language=locale.split("-")[0], max_seconds=max_seconds
        )
        return spoken.text.strip()

    async def _transcribe(self, audio, *, locale: str, progress: Callable[[float], None]):  # noqa: ANN001, ANN202
        whisper = await self._model()
        return await whisper.atranscribe(
            audio,
            fallback_language=locale.split("-")[0],
            max_seconds=self._settings.media_max_seconds,
            progress=progress,
        )

    async def _model(self) -> Transcriber:
        async with self._lock:
            if self._whisper is None:
                self._whisper = await asyncio.to_thread(
                    Transcriber,
                    model=self._settings.whisper_model,
                    device=self._settings.whisper_device,
                    compute_type=self._settings.whisper_compute_type,
                    cache_dir=self._settings.data_dir / "models",
                )
            return self._whisper
