"""Link helpers, error mapping, and yt-dlp against a local HTTP server on 127.0.0.1.

Nothing here reaches the internet: yt-dlp only ever sees loopback URLs. A missing file
(HTTP 404) maps to MediaError("unavailable"), the same as a removed video.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import av
import pytest
from aiohttp import web

from core.errors import explain
from core.media.captions import Segment
from core.media.sources import (
    MediaError,
    download_audio,
    fetch_captions,
    is_media_url,
    is_playlist_url,
    media_error,
    playlist_entries,
    probe,
    timestamp_link,
    youtube_id,
)

VIDEO_ID = "dQw4w9WgXcQ"
SPEECH = "hello from the test server"
MAX_BYTES = 10_000_000
CAPTIONS_EN = "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello <i>there</i>\n"
CAPTIONS_PT = "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nOlá pessoal\n"
PAGE_WITH_VIDEO = """<html><head><title>Clip page</title></head><body>
<video controls><source src="clip.mp4" type="video/mp4">
<track kind="subtitles" src="subs-en.vtt" srclang="en">
<track kind="captions" src="subs-pt.vtt" srclang="pt-BR">
</video></body></html>"""
PAGE_WITHOUT_CAPTIONS = """<html><head><title>Bare</title></head><body>
<video controls><source src="clip.mp4" type="video/mp4"></video></body></html>"""
PAGE_WITH_TWO_VIDEOS = """<html><head><title>Two</title></head><body>
<video><source src="clip.mp4" type="video/mp4"></video>
<video><source src="speech.mp3" type="audio/mpeg"></video></body></html>"""
PAGE_WITHOUT_MEDIA = "<html><head><title>Text</title></head><body><p>Just words.</p></body></html>"


def run(command: list[str]) -> None:
    """Run a media tool quietly, failing the test setup if it fails."""
    subprocess.run(command, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Speech as MP3, a video with sound, and a video without any."""
    folder = tmp_path_factory.mktemp("media")
    wav = folder / "speech.wav"
    run(["espeak-ng", "-v", "en", "-w", str(wav), SPEECH])
    ffmpeg = ["ffmpeg", "-loglevel", "error", "-y"]
    run([*ffmpeg, "-i", str(wav), "-c:a", "libmp3lame", str(folder / "speech.mp3")])
    color = ["-f", "lavfi", "-i", "color=size=32x32:duration=1"]
    run([*ffmpeg, *color, "-i", str(wav), "-shortest", "-c:v", "mpeg4", str(folder / "clip.mp4")])
    run([*ffmpeg, *color, "-c:v", "mpeg4", str(folder / "silent.mp4")])
    (folder / "subs-en.vtt").write_text(CAPTIONS_EN, encoding="utf-8")
    (folder / "subs-pt.vtt").write_text(CAPTIONS_PT, encoding="utf-8")
    return folder


def html_route(body: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler returning a fixed HTML page."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="text/html")

    return handler


def allow(server: str) -> list[str]:
    """URL_ALLOWED_HOSTS for one test server: its host and port only."""
    return [urlsplit(server).netloc]


def media_app(media_dir: Path) -> web.Application:
    """Pages with videos and captions, and the media files themselves."""
    app = web.Application()
    app.router.add_get("/page.html", html_route(PAGE_WITH_VIDEO))
    app.router.add_get("/bare.html", html_route(PAGE_WITHOUT_CAPTIONS))
    app.router.add_get("/two.html", html_route(PAGE_WITH_TWO_VIDEOS))
    app.router.add_get("/text.html", html_route(PAGE_WITHOUT_MEDIA))
    app.router.add_static("/", media_dir)
    return app


@pytest.fixture(scope="module")
def server(media_dir: Path) -> Iterator[str]:
    """Base URL of an aiohttp server in its own thread (the functions under test block)."""
    with serving(media_app(media_dir)) as url:
        yield url


@contextmanager
def serving(app: web.Application) -> Iterator[str]:
    """Runs `app` on a free loopback port in its own thread; yields its base URL."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


@pytest.mark.parametrize(
    "url",
    [
        f"https://www.youtube.com/watch?v={VIDEO_ID}",
        f"https://youtube.com/watch?feature=share&v={VIDEO_ID}&t=42s",
        f"https://m.youtube.com/watch?v={VIDEO_ID}",
        f"https://music.youtube.com/watch?v={VIDEO_ID}&list=RDAMVM",
        f"https://youtu.be/{VIDEO_ID}",
        f"https://youtu.be/{VIDEO_ID}?si=abc&t=10",
        f"https://www.youtube.com/shorts/{VIDEO_ID}",
        f"https://www.youtube.com/embed/{VIDEO_ID}?start=5",
        f"https://www.youtube-nocookie.com/embed/{VIDEO_ID}",
        f"https://www.youtube.com/live/{VIDEO_ID}",
        f"http://YOUTUBE.com/watch?v={VIDEO_ID}",
        f"  https://youtu.be/{VIDEO_ID}  ",
    ],
)
def test_youtube_id_shapes(url: str) -> None:
    assert youtube_id(url) == VIDEO_ID


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/",
        "https://www.youtube.com/watch",
        "https://www.youtube.com/watch?v=short",
        "https://www.youtube.com/channel/UCabcdefghijk",
        "https://www.youtube.com/playlist?list=PL1234567890",
        f"https://notyoutube.com/watch?v={VIDEO_ID}",
        f"https://youtube.com.evil.example/watch?v={VIDEO_ID}",
        f"https://example.com/?v={VIDEO_ID}",
        "not a url",
        "",
    ],
)
def test_youtube_id_negatives(url: str) -> None:
    assert youtube_id(url) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://youtu.be/{VIDEO_ID}", True),
        ("https://example.com/podcast/episode.MP3", True),
        ("https://example.com/a/b.m4a?token=1", True),
        ("http://example.com/talk.opus", True),
        ("https://example.com/movie.mkv", True),
        ("https://example.com/clip.mov#t=3", True),
        ("https://example.com/article.html", False),
        ("https://example.com/mp3", False),
        ("ftp://example.com/song.mp3", False),
        ("https://www.youtube.com/", False),
    ],
)
def test_is_media_url(url: str, expected: bool) -> None:
    assert is_media_url(url) is expected


def test_timestamp_link() -> None:
    page = f"https://www.youtube.com/watch?v={VIDEO_ID}"
    assert timestamp_link(page, VIDEO_ID, 83.9) == f"https://youtu.be/{VIDEO_ID}?t=83"
    assert timestamp_link("https://x.example/a.mp3", None, 12.5) == "https://x.example/a.mp3#t=12"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("ERROR: [youtube] abc: Private video. Sign in if you've been granted access", "private"),
        ("ERROR: [youtube] abc: Video unavailable. This video is private", "private"),
        (
            "ERROR: [youtube] abc: Sign in to confirm your age. This video may be "
            "inappropriate for some users.",
            "age_restricted",
        ),
        (
            "ERROR: [youtube] abc: Video unavailable. This video has been removed by the uploader",
            "unavailable",
        ),
        ("ERROR: [youtube] abc: Video unavailable", "unavailable"),
        ("ERROR: [youtube] abc: This live event will begin in 3 hours.", "live"),
        ("ERROR: [youtube] abc: Premieres in 2 days", "live"),
        ("ERROR: Unsupported URL: https://example.com/", "unsupported"),
        ("ERROR: [generic] Unable to download webpage: HTTP Error 404: Not Found", "unavailable"),
        (
            "ERROR: Unable to download webpage: <urlopen error [Errno 111] Connection refused>",
            "network",
        ),
        ("ERROR: [youtube] abc: Read timed out.", "network"),
        ("ERROR: [youtube] abc: Requested format is not available", "no_audio"),
        ("ERROR: something nobody expected", "unavailable"),
    ],
)
def test_error_mapping(message: str, reason: str) -> None:
    error = media_error(message)
    assert error.reason == reason
    assert error.detail == message


def test_probe_direct_audio(server: str) -> None:
    info = probe(f"{server}/speech.mp3", max_seconds=600, allowed_hosts=allow(server))
    assert info.title == "speech"
    assert info.duration is None  # PyAV opens no URLs: known once downloaded
    assert info.url == f"{server}/speech.mp3"
    assert info.source_key.startswith("generic:")
    assert info.video_id is None and info.is_live is False
    assert probe(f"{server}/speech.mp3", allowed_hosts=allow(server)).source_key == info.source_key


def test_probe_missing_file_is_unavailable(server: str) -> None:
    with pytest.raises(MediaError) as caught:
        probe(f"{server}/missing.mp3", allowed_hosts=allow(server))
    assert caught.value.reason == "unavailable"


def test_probe_page_without_media_is_unsupported(server: str) -> None:
    with pytest.raises(MediaError) as caught:
        probe(f"{server}/text.html", allowed_hosts=allow(server))
    assert caught.value.reason == "unsupported"


def test_probe_page_with_video(server: str) -> None:
    info = probe(f"{server}/page.html", allowed_hosts=allow(server))
    # yt-dlp numbers the videos it finds on a page: "Clip page (1)".
    assert info.title.startswith("Clip page")
    assert info.url == f"{server}/page.html"


def test_download_audio_decodes(server: str, tmp_path: Path) -> None:
    path = download_audio(
        f"{server}/speech.mp3", tmp_path, max_bytes=MAX_BYTES, allowed_hosts=allow(server)
    )
    assert path.parent == tmp_path and path.stat().st_size > 0
    with av.open(str(path)) as container:
        assert container.streams.audio


def test_download_audio_from_page(server: str, tmp_path: Path) -> None:
    path = download_audio(
        f"{server}/page.html", tmp_path, max_bytes=MAX_BYTES, allowed_hosts=allow(server)
    )
    assert path.suffix == ".mp4" and path.parent == tmp_path


def test_download_audio_without_sound(server: str, tmp_path: Path) -> None:
    with pytest.raises(MediaError) as caught:
        download_audio(
            f"{server}/silent.mp4", tmp_path, max_bytes=MAX_BYTES, allowed_hosts=allow(server)
        )
    assert caught.value.reason == "no_audio"


def test_download_audio_over_size_limit(server: str, tmp_path: Path) -> None:
    with pytest.raises(MediaError) as caught:
        download_audio(f"{server}/speech.mp3", tmp_path, max_bytes=100, allowed_hosts=allow(server))
    assert caught.value.reason == "too_long"
    assert list(tmp_path.iterdir()) == []


def test_fetch_captions_prefers_languages_in_order(server: str) -> None:
    language, segments = fetch_captions(
        f"{server}/page.html", languages=["pt", "en"], allowed_hosts=allow(server)
    ) or ("", [])
    assert language == "pt-BR"
    assert segments == [Segment(0.0, 1.5, "Olá pessoal")]


def test_fetch_captions_english(server: str) -> None:
    result = fetch_captions(f"{server}/page.html", languages=["en-US"], allowed_hosts=allow(server))
    assert result == ("en", [Segment(0.0, 1.5, "Hello there")])


def test_fetch_captions_falls_back_to_any_track(server: str) -> None:
    result = fetch_captions(f"{server}/page.html", languages=["de"], allowed_hosts=allow(server))
    assert result is not None and result[0] in ("en", "pt-BR")


def test_fetch_captions_none(server: str) -> None:
    assert (
        fetch_captions(f"{server}/bare.html", languages=["en"], allowed_hosts=allow(server)) is None
    )


def test_playlist_entries(server: str) -> None:
    assert playlist_entries(f"{server}/page.html", limit=5, allowed_hosts=allow(server)) == []
    assert playlist_entries(f"{server}/two.html", limit=5, allowed_hosts=allow(server)) == [
        f"{server}/clip.mp4",
        f"{server}/speech.mp3",
    ]
    assert playlist_entries(f"{server}/two.html", limit=1, allowed_hosts=allow(server)) == [
        f"{server}/clip.mp4"
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.youtube.com/playlist?list=PL123", True),
        ("https://youtube.com/watch?v=abc&list=PL1", True),
        ("https://youtu.be/abc?list=PL1", True),
        ("https://youtu.be/abc", False),
        ("https://example.com/videos?list=1", False),
    ],
)
def test_playlist_links_are_recognised(url: str, expected: bool) -> None:
    assert is_playlist_url(url) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://vimeo.com/76979871", True),
        ("https://soundcloud.com/artist/track", True),
        ("https://en.wikipedia.org/wiki/Recife", False),
        ("https://example.com/article", False),
    ],
)
def test_pages_of_sites_yt_dlp_knows_are_media(url: str, expected: bool) -> None:
    assert is_media_url(url) is expected


@pytest.fixture(scope="module")
def internal(media_dir: Path) -> Iterator[tuple[str, list[str]]]:
    """An 'internal' server with media on it, and the paths it was asked for."""
    hits: list[str] = []

    @web.middleware
    async def count(request: web.Request, handler: Callable) -> web.StreamResponse:  # type: ignore[type-arg]
        hits.append(request.path)
        return await handler(request)

    app = media_app(media_dir)
    app.middlewares.append(count)
    with serving(app) as url:
        yield url, hits


@pytest.fixture(scope="module")
def redirector(internal: tuple[str, list[str]]) -> Iterator[str]:
    """An allowed server whose every path redirects to the same path on `internal`."""

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{internal[0]}{request.path}")

    app = web.Application()
    app.router.add_get("/{name}", redirect)
    with serving(app) as url:
        yield url


def unreachable_site() -> str:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    return f"http://127.0.0.1:{port}"


MEDIA_CALLS: dict[str, Callable[[str, list[str], Path], object]] = {
    "probe page": lambda url, allowed, _: probe(f"{url}/page.html", allowed_hosts=allowed),
    "probe file": lambda url, allowed, _: probe(f"{url}/speech.mp3", allowed_hosts=allowed),
    "captions": lambda url, allowed, _: fetch_captions(
        f"{url}/page.html", languages=["en"], allowed_hosts=allowed
    ),
    "download": lambda url, allowed, folder: download_audio(
        f"{url}/speech.mp3", folder, max_bytes=MAX_BYTES, allowed_hosts=allowed
    ),
    "playlist": lambda url, allowed, _: playlist_entries(
        f"{url}/two.html", limit=2, allowed_hosts=allowed
    ),
}


@pytest.mark.parametrize("call", list(MEDIA_CALLS))
def test_redirect_to_a_port_not_allowed_never_reaches_it(
    call: str, redirector: str, internal: tuple[str, list[str]], tmp_path: Path
) -> None:
    internal_url, hits = internal
    hits.clear()
    with pytest.raises(MediaError) as refused:
        MEDIA_CALLS[call](redirector, allow(redirector), tmp_path)
    assert hits == []
    site = unreachable_site()
    with pytest.raises(MediaError) as unreachable:
        MEDIA_CALLS[call](site, allow(site), tmp_path)
    # Nothing tells a refused address from a closed port: the same words for both.
    assert refused.value.reason == unreachable.value.reason == "network"
    assert explain(refused.value, "en") == explain(unreachable.value, "en")


def test_redirect_to_an_allowed_port_is_followed(
    redirector: str, internal: tuple[str, list[str]], tmp_path: Path
) -> None:
    internal_url, hits = internal
    hits.clear()
    allowed = allow(redirector) + allow(internal_url)
    path = download_audio(
        f"{redirector}/speech.mp3", tmp_path, max_bytes=MAX_BYTES, allowed_hosts=allowed
    )
    assert path.stat().st_size > 0
    assert hits and set(hits) == {"/speech.mp3"}  # yt-dlp asks more than once


def test_loopback_is_refused_unless_allowed(server: str) -> None:
    with pytest.raises(MediaError) as caught:
        probe(f"{server}/speech.mp3")
    assert caught.value.reason == "network"
