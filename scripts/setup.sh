#!/usr/bin/env bash
# Set up edge-time on a fresh machine: a virtualenv in .venv with torch pinned FIRST (the CPU
# wheel; an unpinned torch pulls a multi-GB CUDA build), then the package with its extras.
#   bash scripts/setup.sh               # package + built-in demo model
#   bash scripts/setup.sh --test-tools  # also the test extras and the Debian tools the tests drive
#                                       # (adb, kotlin, junit4, openssh-server, qemu-user-static; needs apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_PIN="torch==2.13.0"
extras="demo"

if [ "${1:-}" = "--test-tools" ]; then
  extras="demo,test"
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q
    $sudo apt-get install -y -q --no-install-recommends adb kotlin junit4 openssh-server openssh-client \
      qemu-user-static
  else
    echo "setup: apt-get not found; install adb, kotlin, junit4, openssh-server and qemu-user-static yourself" >&2
  fi
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "$TORCH_PIN"
.venv/bin/python -m pip install -q "$TORCH_PIN" -e ".[$extras]"
echo "setup: done; run .venv/bin/edge-time --help"
