"""Media links through yt-dlp: identify, probe, fetch captions and download audio.

Every function here blocks (network and disk): callers use asyncio.to_thread.
yt-dlp reaches the network only through `core.knowledge.egress.guarded_proxy`, so each
request and redirect it makes passes the same `HostGuard` as fetched web pages, and only
formats it downloads itself (over http) are chosen, never ones it hands to ffmpeg.
PyAV only ever opens the downloaded file, never a URL.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse, urlsplit

from core.errors import ReasonedError
from core.knowledge.egress import guarded_proxy
from core.media.captions import CaptionError, Segment, parse_captions

# yt-dlp and PyAV are imported where first used: a bot that is never sent a link does not
# carry them (BENCHMARKS.md: memory footprint).
if TYPE_CHECKING:
    from yt_dlp.extractor.common import InfoExtractor

logger = logging.getLogger(__name__)

SOCKET_TIMEOUT_SECONDS = 20
RETRIES = 2
# Formats yt-dlp downloads in Python, through the proxy (http, https, DASH fragments);
# others (rtmp, non-native HLS) would go to ffmpeg, which connects by itself.
AUDIO_FORMAT = "bestaudio[protocol^=http]/best[protocol^=http]"
MEDIA_EXTENSIONS = (".mp3", ".m4a", ".ogg", ".opus", ".wav", ".mp4", ".webm", ".mkv", ".mov")
CAPTION_FORMATS = "vtt/srt/best"
YOUTUBE_HOSTS = {"youtube.com", "m.youtube.com", "music.youtube.com", "youtube-nocookie.com"}
YOUTUBE_PATH_PREFIXES = ("shorts", "embed", "live", "v")
YOUTUBE_ID_LENGTH = 11
LIVE_STATUSES = {"is_live", "is_upcoming"}
# yt-dlp names YouTube's original-language speech recognition track "<lang>-orig"; the
# other automatic tracks are machine translations of it.
ORIGINAL_CAPTION_SUFFIX = "-orig"
GENERIC_KEY_HASH_CHARS = 16

# First match wins: YouTube says "Video unavailable. This video is private", so the
# specific reasons come before the general ones. Lower-case fragments of yt-dlp errors.
ERROR_REASONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("private", ("private video", "video is private")),
    ("age_restricted", ("confirm your age", "age-restricted", "age restricted")),
    ("live", ("live event will begin", "premieres in", "premiere will begin", "is live")),
    ("unsupported", ("unsupported url",)),
    ("no_audio", ("requested format is not available",)),
    (
        "unavailable",
        (
            "video unavailable",
            "has been removed",
            "no longer available",
            "account associated with this video has been terminated",
            "http error 404",
            "http error 410",
            "does not exist",
        ),
    ),
    (
        "network",
        (
            "unable to download",
            "urlopen error",
            "timed out",
            "connection refused",
            "connection reset",
            "name or service not known",
            "temporary failure in name resolution",
            "http error 5",
            "http error 429",
            "not a bot",
        ),
    ),
)
DEFAULT_ERROR_REASON = "unavailable"


@dataclass(frozen=True)
class MediaInfo:
    """What we know about a media link before downloading it."""

    source_key: str
    url: str
    title: str
    channel: str | None
    duration: float | None
    is_live: bool
    video_id: str | None


class MediaError(ReasonedError):
    """A video or audio link we cannot use."""


class _YtdlpLogger:
    """Send yt-dlp's output to logging instead of the terminal."""

    def debug(self, message: str) -> None:
        """yt-dlp routes both debug and info lines here."""
        logger.debug("yt-dlp: %s", message)

    def info(self, message: str) -> None:
        """Progress chatter."""
        logger.debug("yt-dlp: %s", message)

    def warning(self, message: str) -> None:
        """Mostly routine ("Falling back on generic information extractor"), so info."""
        logger.info("yt-dlp: %s", message)

    def error(self, message: str) -> None:
        """Callers also get it as a MediaError, so it is only logged at info."""
        logger.info("yt-dlp: %s", message)


def youtube_id(url: str) -> str | None:
    """The 11-character video id of a YouTube link, or None for anything else."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    segments = [segment for segment in parts.path.split("/") if segment]
    candidate: str | None = None
    if host == "youtu.be" and segments:
        candidate = segments[0]
    elif host in YOUTUBE_HOSTS:
        if segments == ["watch"]:
            candidate = parse_qs(parts.query).get("v", [None])[0]
        elif len(segments) >= 2 and segments[0] in YOUTUBE_PATH_PREFIXES:
            candidate = segments[1]
    return candidate if candidate and _looks_like_id(candidate) else None


def _looks_like_id(candidate: str) -> bool:
    """YouTube ids are 11 characters of [A-Za-z0-9_-]."""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
    return len(candidate) == YOUTUBE_ID_LENGTH and set(candidate) <= allowed


def is_media_url(url: str) -> bool:
    """Whether a link is worth handing to yt-dlp rather than the web page reader: YouTube,
    a link to an audio/video file, or a page of a site yt-dlp has an extractor for."""
    if youtube_id(url):
        return True
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        return False
    if parts.path.lower().endswith(MEDIA_EXTENSIONS):
        return True
    if parts.path in ("", "/"):
        return False  # a site's home page is a page, even on a video site
    return any(extractor.suitable(url) for extractor in _site_extractors())


@functools.cache
def _site_extractors() -> tuple[type[InfoExtractor], ...]:
    """yt-dlp's site-specific extractors (the generic one would claim every page)."""
    from yt_dlp.extractor import gen_extractor_classes

    return tuple(
        extractor for extractor in gen_extractor_classes() if extractor.ie_key() != "Generic"
    )


def timestamp_link(info_url: str, video_id: str | None, seconds: float) -> str:
    """A link that starts playback at `seconds`, for citing a transcript passage."""
    if video_id:
        return f"https://youtu.be/{video_id}?t={int(seconds)}"
    return f"{info_url}#t={int(seconds)}"


def media_error(message: str) -> MediaError:
    """Map a yt-dlp error message to a MediaError with a stable reason."""
    lowered = message.lower()
    for reason, fragments in ERROR_REASONS:
        if any(fragment in lowered for fragment in fragments):
            return MediaError(reason, message)
    return MediaError(DEFAULT_ERROR_REASON, message)


def _options(**extra: Any) -> dict[str, Any]:
    """Quiet, bounded yt-dlp options that never write outside the given paths."""
    return {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "noplaylist": True,
        # A bare playlist link still yields a playlist: resolve (or download) only its first.
        "playlistend": 1,
        "socket_timeout": SOCKET_TIMEOUT_SECONDS,
        "retries": RETRIES,
        "logger": _YtdlpLogger(),
        # The cache would otherwise land in ~/.cache; nothing we do needs it.
        "cachedir": False,
        **extra,
    }


def _extract(
    url: str,
    options: dict[str, Any],
    *,
    allowed_hosts: Sequence[str],
    download: bool = False,
) -> dict[str, Any]:
    """Run yt-dlp behind the guarded proxy, turning its errors into MediaError."""
    import yt_dlp
    from yt_dlp.utils import YoutubeDLError

    try:
        with (
            guarded_proxy(allowed_hosts) as proxy,
            yt_dlp.YoutubeDL({**options, "proxy": proxy}) as ydl,
        ):
            info = ydl.extract_info(url, download=download)
    except YoutubeDLError as error:
        raise media_error(str(error)) from error
    if not info:
        raise MediaError("unsupported", url)
    return info


def _single(info: dict[str, Any]) -> dict[str, Any]:
    """The first video of a page that yields several (e.g. two <video> tags)."""
    entries = list(info.get("entries") or [])
    if info.get("_type") == "playlist":
        if not entries:
            raise MediaError("unsupported", "playlist without entries")
        return entries[0]
    return info


def is_playlist_url(url: str) -> bool:
    """A YouTube link naming a playlist (`list=`): its videos are taken one by one."""
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    is_youtube = host == "youtu.be" or host.endswith("youtube.com")
    return is_youtube and "list" in parse_qs(parsed.query)


def playlist_entries(url: str, *, limit: int, allowed_hosts: Sequence[str] = ()) -> list[str]:
    """Entry URLs of a playlist (first `limit`), or [] when the link is not a playlist."""
    options = _options(noplaylist=False, extract_flat="in_playlist", playlistend=limit)
    info = _extract(url, options, allowed_hosts=allowed_hosts)
    if info.get("_type") != "playlist":
        return []
    urls = [entry.get("url") or entry.get("webpage_url") for entry in info.get("entries") or []]
    return [entry_url for entry_url in urls if entry_url][:limit]


def probe(
    url: str, *, max_seconds: float | None = None, allowed_hosts: Sequence[str] = ()
) -> MediaInfo:
    """Metadata without downloading; refuses live streams and media over `max_seconds`.

    A direct file's length is unknown until it is downloaded (yt-dlp reports none, and
    PyAV never opens URLs): the transcriber checks it then.
    """
    info = _single(_extract(url, _options(), allowed_hosts=allowed_hosts))
    media = _media_info(url, info)
    if media.is_live:
        raise MediaError("live", url)
    if max_seconds is not None and media.duration is not None and media.duration > max_seconds:
        raise MediaError("too_long", f"{media.duration:.0f} s > {max_seconds:.0f} s")
    return media


def _media_info(url: str, info: dict[str, Any]) -> MediaInfo:
    """MediaInfo from a yt-dlp info dict."""
    page_url = info.get("webpage_url") or url
    video_id = info.get("id") if info.get("extractor_key") == "Youtube" else None
    duration = info.get("duration")
    return MediaInfo(
        source_key=_source_key(info, page_url, video_id),
        url=page_url,
        title=info.get("title") or page_url,
        channel=info.get("channel") or info.get("uploader"),
        duration=float(duration) if duration is not None else None,
        is_live=bool(info.get("is_live")) or info.get("live_status") in LIVE_STATUSES,
        video_id=video_id,
    )


def _source_key(info: dict[str, Any], page_url: str, video_id: str | None) -> str:
    """Stable key so each media is transcribed once."""
    if video_id:
        return f"youtube:{video_id}"
    extractor = (info.get("extractor") or "generic").lower()
    if extractor == "generic":
        # The generic extractor's id is the file name ("audio"), which many sites share.
        digest = hashlib.sha256(page_url.encode()).hexdigest()[:GENERIC_KEY_HASH_CHARS]
        return f"generic:{digest}"
    return f"{extractor}:{info.get('id')}"


def fetch_captions(
    url: str, *, languages: list[str], allowed_hosts: Sequence[str] = ()
) -> tuple[str, list[Segment]] | None:
    """Best caption track (manual first, then automatic, in `languages` order), parsed."""
    info = _single(_extract(url, _options(), allowed_hosts=allowed_hosts))
    choice = _choose_track(info, languages)
    if choice is None:
        return None
    track, language, is_manual = choice
    with tempfile.TemporaryDirectory(prefix="captions-") as directory:
        path = _download_track(
            info.get("webpage_url") or url, track, is_manual, Path(directory), allowed_hosts
        )
        if path is None:
            return None
        try:
            return language, parse_captions(path.read_bytes(), fmt=_caption_format(path))
        except CaptionError as error:
            logger.info("unreadable %s captions for %s: %s", language, url, error)
            return None


def _choose_track(info: dict[str, Any], languages: list[str]) -> tuple[str, str, bool] | None:
    """(yt-dlp track key, language, is_manual) of the best track, or None."""
    manual = list(info.get("subtitles") or {})
    automatic = _original_tracks(info.get("automatic_captions") or {})
    for tracks, is_manual in ((manual, True), (automatic, False)):
        key = _match_language(tracks, languages)
        if key:
            return key, _language(key), is_manual
    # No preferred language: any manual track, else the speech's own language.
    for tracks, is_manual in ((manual, True), (automatic, False)):
        if tracks:
            return tracks[0], _language(tracks[0]), is_manual
    return None


def _original_tracks(automatic: dict[str, Any]) -> list[str]:
    """Automatic tracks in the spoken language only, when yt-dlp marks which that is."""
    originals = [key for key in automatic if key.endswith(ORIGINAL_CAPTION_SUFFIX)]
    return originals or list(automatic)


def _language(key: str) -> str:
    """Language code of a track key ("en-orig" → "en")."""
    return key.removesuffix(ORIGINAL_CAPTION_SUFFIX)


def _match_language(tracks: list[str], languages: list[str]) -> str | None:
    """First track matching the preferred languages; "pt" matches "pt-BR" and the reverse."""
    for wanted in languages:
        for exact in (True, False):
            for key in tracks:
                if _same_language(_language(key), wanted, exact=exact):
                    return key
    return None


def _same_language(code: str, wanted: str, *, exact: bool) -> bool:
    """Compare codes fully, or only their primary subtag."""
    code, wanted = code.lower(), wanted.lower()
    if exact:
        return code == wanted
    return code.split("-")[0] == wanted.split("-")[0]


def _download_track(
    url: str, track: str, is_manual: bool, directory: Path, allowed_hosts: Sequence[str]
) -> Path | None:
    """Let yt-dlp write just this caption track into `directory`."""
    options = _options(
        skip_download=True,
        writesubtitles=is_manual,
        writeautomaticsub=not is_manual,
        # yt-dlp reads these as regular expressions.
        subtitleslangs=[re.escape(track)],
        subtitlesformat=CAPTION_FORMATS,
        paths={"home": str(directory), "temp": str(directory)},
        outtmpl={"default": "captions.%(ext)s"},
    )
    _extract(url, options, allowed_hosts=allowed_hosts, download=True)
    files = sorted(directory.glob("captions.*"))
    return files[0] if files else None


def _caption_format(path: Path) -> str | None:
    """Parser format from the file extension; sniff anything else."""
    suffix = path.suffix.lstrip(".").lower()
    return suffix if suffix in ("vtt", "srt") else None


def download_audio(
    url: str, directory: Path, *, max_bytes: int, allowed_hosts: Sequence[str] = ()
) -> Path:
    """Download the best audio (or whole file) into `directory`, checking it has sound."""
    options = _options(
        format=AUDIO_FORMAT,
        max_filesize=max_bytes,
        paths={"home": str(directory), "temp": str(directory)},
        outtmpl={"default": "%(id)s.%(ext)s"},
    )
    info = _single(_extract(url, options, allowed_hosts=allowed_hosts, download=True))
    path = _downloaded_path(info)
    if path is None or not path.exists():
        # yt-dlp skips files over max_filesize without raising.
        raise MediaError("too_long", f"no file downloaded (limit {max_bytes} bytes)")
    size_bytes = path.stat().st_size
    if size_bytes > max_bytes:
        path.unlink()
        raise MediaError("too_long", f"{size_bytes} bytes > {max_bytes}")
    if not _has_audio(path):
        raise MediaError("no_audio", str(path))
    return path


def _downloaded_path(info: dict[str, Any]) -> Path | None:
    """Where yt-dlp wrote the file."""
    downloads = info.get("requested_downloads") or [info]
    filepath = downloads[0].get("filepath") or downloads[0].get("_filename")
    return Path(filepath) if filepath else None


def _has_audio(path: Path) -> bool:
    """Whether the file decodes with at least one audio stream."""
    import av

    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio)
    except (av.error.FFmpegError, OSError) as error:
        logger.info("cannot open %s: %s", path, error)
        return False
