"""Real faster-whisper on the offline base model (CPU int8) over espeak-ng speech."""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

import pytest

from core.media.transcription import (
    Transcriber,
    Transcript,
    TranscriptionError,
    offline_model_dir,
    resolve_device,
)
from tests.speech import needs_speech_tools, silent_video, speak

pytestmark = needs_speech_tools

ENGLISH = "The lighthouse was painted red in nineteen eleven."
ENGLISH_KEY_WORDS = ("lighthouse", "painted", "red")
PORTUGUESE = "O farol foi pintado de vermelho."
PORTUGUESE_KEY_WORDS = ("farol", "pintado", "vermelho")
MIN_KEY_WORDS = 2
CPU_THREADS = 2
PROGRESS_DONE = 0.99


def _plain(text: str) -> str:
    """Lower case without accents, so "Vermelho" and "vermelho" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _heard(transcript: Transcript, key_words: tuple[str, ...]) -> list[str]:
    return [word for word in key_words if word in _plain(transcript.text)]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("whisper-cache")


@pytest.fixture(scope="module")
def transcriber(cache_dir: Path) -> Transcriber:
    """One model for the whole module: loading costs about a second."""
    return Transcriber(
        model="offline-base", device="cpu", cpu_threads=CPU_THREADS, cache_dir=cache_dir
    )


@pytest.fixture(scope="module")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="module")
def english_wav(speech_dir: Path) -> Path:
    return speak(ENGLISH, "en", speech_dir / "english.wav")


@pytest.fixture(scope="module")
def english_run(transcriber: Transcriber, english_wav: Path) -> tuple[Transcript, list[float]]:
    """Transcribe the English clip once, with detection, recording progress."""
    reported: list[float] = []
    return transcriber.transcribe(english_wav, progress=reported.append), reported


def test_english_key_words_come_back(english_run: tuple[Transcript, list[float]]) -> None:
    transcript, _ = english_run
    assert transcript.language == "en"
    assert len(_heard(transcript, ENGLISH_KEY_WORDS)) >= MIN_KEY_WORDS, transcript.text


def test_segments_are_ordered_within_the_audio(
    english_run: tuple[Transcript, list[float]],
) -> None:
    transcript, _ = english_run
    assert transcript.segments
    ends = [0.0]
    for segment in transcript.segments:
        assert ends[-1] <= segment.start <= segment.end <= transcript.duration + 0.5
        ends.append(segment.end)
    assert 2.0 < transcript.duration < 10.0


def test_progress_rises_to_done(english_run: tuple[Transcript, list[float]]) -> None:
    _, reported = english_run
    assert reported == sorted(reported)
    assert all(0.0 <= fraction <= 1.0 for fraction in reported)
    assert reported[-1] >= PROGRESS_DONE


def test_portuguese_with_a_locale_hint(transcriber: Transcriber, speech_dir: Path) -> None:
    wav = speak(PORTUGUESE, "pt-br", speech_dir / "portuguese.wav")
    transcript = transcriber.transcribe(wav, language="pt-BR")
    assert transcript.language == "pt"
    assert len(_heard(transcript, PORTUGUESE_KEY_WORDS)) >= MIN_KEY_WORDS, transcript.text


async def test_voice_note_bytes_transcribe_off_the_loop(
    transcriber: Transcriber, speech_dir: Path
) -> None:
    ogg = speak(ENGLISH, "en", speech_dir / "voice.ogg", fmt="ogg")
    transcript = await transcriber.atranscribe(io.BytesIO(ogg.read_bytes()), language="en")
    assert len(_heard(transcript, ENGLISH_KEY_WORDS)) >= MIN_KEY_WORDS, transcript.text


def test_fallback_language_replaces_an_unsure_guess(
    transcriber: Transcriber, speech_dir: Path
) -> None:
    # Detection on short synthetic Portuguese is unsure (about 0.3 for "en").
    ogg = speak(PORTUGUESE, "pt-br", speech_dir / "unsure.ogg", fmt="ogg")
    assert transcriber.transcribe(ogg, fallback_language="pt-BR").language == "pt"


def test_too_long_is_refused_before_decoding(transcriber: Transcriber, english_wav: Path) -> None:
    with pytest.raises(TranscriptionError) as caught:
        transcriber.transcribe(english_wav, max_seconds=1.0)
    assert caught.value.reason == "too_long"


@pytest.mark.parametrize(
    ("name", "content"),
    [("notes.txt", b"just some text, no sound\n" * 20), ("empty.ogg", b"")],
)
def test_files_without_audio_are_refused(
    transcriber: Transcriber, tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TranscriptionError) as caught:
        transcriber.transcribe(path)
    assert caught.value.reason == "no_audio"
    with pytest.raises(TranscriptionError) as caught:
        transcriber.transcribe(io.BytesIO(content))
    assert caught.value.reason == "no_audio"


def test_video_without_a_sound_track_is_refused(transcriber: Transcriber, tmp_path: Path) -> None:
    video = silent_video(tmp_path / "silent.mp4")
    with pytest.raises(TranscriptionError) as caught:
        transcriber.transcribe(video)
    assert caught.value.reason == "no_audio"
    assert "no audio stream" in caught.value.detail


def test_truncated_voice_note_is_broken(transcriber: Transcriber, tmp_path: Path) -> None:
    ogg = speak(ENGLISH, "en", tmp_path / "whole.ogg", fmt="ogg")
    with pytest.raises(TranscriptionError) as caught:
        transcriber.transcribe(io.BytesIO(ogg.read_bytes()[:3000]))
    assert caught.value.reason == "broken"


def test_offline_model_dir_is_joined_once(cache_dir: Path, transcriber: Transcriber) -> None:
    folder = offline_model_dir(cache_dir)
    model = folder / "model.bin"
    joined_at = model.stat().st_mtime_ns
    assert offline_model_dir(cache_dir) == folder
    assert model.stat().st_mtime_ns == joined_at
    assert {path.name for path in folder.iterdir()} == {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.txt",
    }


def test_offline_model_dir_repairs_a_half_written_model(tmp_path: Path) -> None:
    folder = offline_model_dir(tmp_path)
    size = (folder / "model.bin").stat().st_size
    with (folder / "model.bin").open("r+b") as model:
        model.truncate(size // 2)
    offline_model_dir(tmp_path)
    assert (folder / "model.bin").stat().st_size == size


def test_explicit_device_is_respected() -> None:
    assert resolve_device("cpu") == ("cpu", "int8")
    assert resolve_device("cuda") == ("cuda", "float16")
    assert resolve_device()[0] in ("cpu", "cuda")
    with pytest.raises(ValueError):
        resolve_device("tpu")


def test_unknown_language_is_a_caller_error(transcriber: Transcriber, english_wav: Path) -> None:
    with pytest.raises(ValueError, match="klingon"):
        transcriber.transcribe(english_wav, language="klingon")


def test_a_doubtful_guess_settles_on_the_language_heard_best(
    transcriber: Transcriber, speech_dir: Path
) -> None:
    # Even when the user's language says English, Portuguese speech is heard as Portuguese:
    # each likely language is tried and the most fluent transcript wins.
    ogg = speak(PORTUGUESE, "pt-br", speech_dir / "doubtful.ogg", fmt="ogg")
    transcript = transcriber.transcribe(ogg, fallback_language="en")
    assert transcript.language == "pt"
    assert len(_heard(transcript, PORTUGUESE_KEY_WORDS)) >= MIN_KEY_WORDS, transcript.text
