#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian/Ubuntu machine: Debian packages, a virtual environment
# at .venv holding the `beamsync` command, and the Python packages. Safe to run again: each step
# is skipped when already done. Run as root or as a user with sudo.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup: not root and no sudo; Debian packages cannot be installed" >&2; fi
fi

# Runtime: PortAudio, libsndfile. Tests: JACK (dummy driver), OLA, tshark, Xvfb + xcb libs for Qt,
# iproute2 for test namespaces, FluidSynth + a GM soundfont for rendering test music.
APT_PACKAGES=(
  libportaudio2 libsndfile1 jackd2 jack-tools ola tshark xvfb xauth
  libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1
  libdbus-1-3 iproute2 curl fluidsynth fluid-soundfont-gm
)
if command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then missing+=(python3-venv python3-pip); fi
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
    echo "jackd2 jackd/tweak_rt_limits boolean false" | $SUDO debconf-set-selections
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  echo "setup: not a Debian system; install PortAudio, libsndfile (and JACK, OLA, tshark for tests) yourself" >&2
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
# Reinstall the Python packages only when pyproject.toml or this script changed.
EXTRAS="${BEAMSYNC_EXTRAS:-ui,control,test,preview}"
stamp_want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-$EXTRAS"
if [ "$(cat .venv/.setup-stamp 2>/dev/null)" != "$stamp_want" ]; then
  echo "setup: installing Python packages into .venv (extras: $EXTRAS)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[${EXTRAS}]"
  # basic-pitch ships the Basic Pitch ONNX model (Apache-2.0); a plain install pulls TensorFlow.
  .venv/bin/python -m pip install -q --no-deps "basic-pitch==0.4.0"
  echo "$stamp_want" > .venv/.setup-stamp
fi
