#!/usr/bin/env bash
# Run edge-time bundles on an aarch64 Linux userland, emulated, built from package registries alone:
# Debian's arm64 python3.11 (downloaded with apt into a private state folder, unpacked with
# dpkg-deb: no change to this machine's dpkg or apt configuration) and the runtimes' aarch64
# wheels from PyPI (installed with this host's pip into a --target folder), run by Debian's
# qemu-user-static as `qemu-aarch64-static -L SYSROOT`. No binfmt_misc and no chroot needed.
#
#   bash scripts/arm_check.sh setup            # once: sysroot + wheels under $ARM_ROOT
#   bash scripts/arm_check.sh parity [ARGS]    # benchmarks/arm_parity.py ARGS (tiny bundles by default)
#   bash scripts/arm_check.sh profile [ARGS]   # benchmarks/arm_profile.py ARGS: `edge-time profile --device ssh://`
#                                              # against this userland through a loopback sshd
#   bash scripts/arm_check.sh python ARGS      # the aarch64 Python with the wheels, for anything else
#
# ARM_ROOT (default ~/.cache/edge-time/arm64) holds everything; ARM_EXECUTORCH=0 skips the
# executorch + torch aarch64 wheels (4 GB with the CUDA libraries PyPI's aarch64 torch links).
# Speed under emulation means nothing: the check is about numerics (parity with the x86 PyTorch
# reference) and that the aarch64 wheels load and run the bundles.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)  # no cd: `python` runs in the caller's folder
ARM_ROOT=${ARM_ROOT:-$HOME/.cache/edge-time/arm64}
ARM_EXECUTORCH=${ARM_EXECUTORCH:-1}
HOST_PY=${HOST_PY:-$REPO/.venv/bin/python}
QEMU=${QEMU:-qemu-aarch64-static}
SYSROOT="$ARM_ROOT/sysroot"
SITE="$ARM_ROOT/site"
PYVER=3.11  # Debian 12's python3 on arm64; the wheels below are cp311

die() { echo "arm_check: $*" >&2; exit 1; }

setup_sysroot() {
  command -v "$QEMU" >/dev/null || die "$QEMU not found; apt-get install qemu-user-static"
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || die "needs apt-get and dpkg-deb (Debian/Ubuntu)"
  local apt="$ARM_ROOT/apt"
  mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/etc/preferences.d" "$apt/etc/sources.list.d" "$SYSROOT"
  : > "$apt/status"
  # this host's Debian sources (its mirror and keyring), arm64 only
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$apt/etc/sources.list.d/"
  elif [ -f /etc/apt/sources.list ]; then
    grep -E '^deb ' /etc/apt/sources.list > "$apt/etc/sources.list.d/host.list" || true
  fi
  local opts=(-o "Dir::State=$apt" -o "Dir::State::status=$apt/status" -o "Dir::Cache=$apt"
              -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt/etc/sources.list.d"
              -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=$apt/etc/preferences.d"
              -o "APT::Architecture=arm64" -o "APT::Architectures::=arm64" -o "Debug::NoLocking=1"
              -o "APT::Install-Recommends=0" -q)
  echo "arm_check: arm64 package lists" >&2
  apt-get "${opts[@]}" update >/dev/null
  echo "arm_check: downloading python$PYVER for arm64 with its dependency closure" >&2
  apt-get "${opts[@]}" -y --download-only install "python$PYVER" libstdc++6 ca-certificates >/dev/null
  for deb in "$apt"/archives/*.deb; do dpkg-deb -x "$deb" "$SYSROOT"; done
  [ -x "$SYSROOT/usr/bin/python$PYVER" ] || die "python$PYVER did not unpack into $SYSROOT"
}

setup_wheels() {
  # the aarch64 wheels, pinned to what the x86 side exports with (ExecuTorch's .pte and the runtime
  # must match: see tests/android/test_app_versions.py for the app's pins)
  local WHEELS="numpy tokenizers onnxruntime==$($HOST_PY -c 'import importlib.metadata as m; print(m.version("onnxruntime"))') \
ai-edge-litert==$($HOST_PY -c 'import importlib.metadata as m; print(m.version("ai-edge-litert"))')"
  local ET_WHEELS="executorch==$($HOST_PY -c 'import importlib.metadata as m; print(m.version("executorch"))') \
torch==$($HOST_PY -c 'import importlib.metadata as m; print(m.version("torch").split("+")[0])')"
  # the host's pip picks aarch64 cp311 wheels (never sdists: nothing is compiled)
  local pip=("$HOST_PY" -m pip install -q --no-cache-dir --target "$SITE" --upgrade --only-binary=:all:
             --implementation cp --python-version "$PYVER" --abi "cp${PYVER/./}" --abi abi3 --abi none
             --platform manylinux2014_aarch64 --platform linux_aarch64)
  local glibc; for glibc in $(seq 17 36); do pip+=(--platform "manylinux_2_${glibc}_aarch64"); done  # Debian 12: 2.36
  echo "arm_check: aarch64 wheels: $WHEELS" >&2
  # shellcheck disable=SC2086
  "${pip[@]}" $WHEELS 2>&1 | grep -v "^WARNING: Location" >&2 || true
  [ -d "$SITE/onnxruntime" ] && [ -d "$SITE/ai_edge_litert" ] || die "the aarch64 runtime wheels did not install into $SITE"
  if [ "$ARM_EXECUTORCH" = 1 ]; then
    # executorch's own requirements include export-time tools without aarch64 wheels (coremltools):
    # it and torch go in without their requirements, plus the pure-Python ones that importing
    # executorch.runtime (which imports executorch.exir) and torch need
    echo "arm_check: aarch64 wheels (no deps): $ET_WHEELS" >&2
    # shellcheck disable=SC2086
    "${pip[@]}" --no-deps $ET_WHEELS filelock typing-extensions sympy mpmath networkx jinja2 markupsafe fsspec \
      ruamel.yaml tabulate 2>&1 | grep -v "^WARNING: Location" >&2 || true
    if [ ! -d "$SITE/executorch" ]; then
      echo "arm_check: no aarch64 executorch wheel; ExecuTorch bundles are skipped" >&2
      return
    fi
    # PyPI's aarch64 torch is the CUDA build: libtorch links cuBLAS, cuDNN, NCCL... (the CPU build is
    # on download.pytorch.org, not a package registry). No GPU is used, but the dynamic linker needs
    # the libraries: torch's own requirements for them, any release of the same major version (same
    # sonames; NCCL has no aarch64 wheel of torch's exact pin)
    local cuda
    cuda=$("$HOST_PY" - "$SITE" <<'PY'
import re, sys
from importlib.metadata import distributions
torch = next(d for d in distributions(path=[sys.argv[1]]) if d.metadata["Name"] == "torch")
for req in torch.requires or []:
    spec = req.split(";")[0].replace(" ", "")
    if spec.startswith("nvidia-") and (m := re.fullmatch(r"(.+)==(\d+)(.*)", spec)):
        spec = f"{m[1]}>={m[2]}{m[3]},<{int(m[2]) + 1}"
    if spec.startswith(("cuda-toolkit", "nvidia-")):
        print(spec)
PY
)
    echo "arm_check: torch's CUDA libraries for aarch64: $(echo $cuda)" >&2
    # shellcheck disable=SC2086
    "${pip[@]}" $cuda 2>&1 | grep -v "^WARNING: Location" >&2 || true
  fi
}

write_cpuinfo() {
  # qemu-user shows the host's /proc/cpuinfo (x86); cpuinfo (ONNX Runtime, XNNPACK) cannot parse
  # it and onnxruntime segfaults on import. The emulated CPU is a Cortex-A76 (Raspberry Pi 5), and
  # this is its /proc/cpuinfo, bound over the host's in a private mount namespace (root only).
  : > "$ARM_ROOT/cpuinfo"
  for cpu in 0 1 2 3; do
    printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n' "$cpu" >> "$ARM_ROOT/cpuinfo"
  done
}

arm_python() {
  [ -x "$SYSROOT/usr/bin/python$PYVER" ] || die "no aarch64 Python yet; run: bash scripts/arm_check.sh setup"
  [ -f "$ARM_ROOT/cpuinfo" ] || write_cpuinfo
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONNOUSERSITE=1
  local run=("$QEMU" -cpu cortex-a76 -L "$SYSROOT" "$SYSROOT/usr/bin/python$PYVER")
  if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
    # shellcheck disable=SC2016
    exec unshare -m sh -c 'mount --bind "$0" /proc/cpuinfo && exec "$@"' "$ARM_ROOT/cpuinfo" "${run[@]}" "$@"
  fi
  echo "arm_check: not root: the host's /proc/cpuinfo stays, and onnxruntime may crash on import" >&2
  exec "${run[@]}" "$@"
}

case "${1:-}" in
  setup) setup_sysroot; setup_wheels; write_cpuinfo
         PYTHONPATH= "$0" python -c 'import platform, numpy, onnxruntime, ai_edge_litert; print("aarch64 ok:", platform.machine(), numpy.__version__, onnxruntime.__version__)' ;;
  python) shift; arm_python "$@" ;;
  parity) shift; exec "$HOST_PY" "$REPO/benchmarks/arm_parity.py" --arm-python "$0" "$@" ;;
  profile) shift; exec "$HOST_PY" "$REPO/benchmarks/arm_profile.py" --arm-check "$0" --arm-root "$ARM_ROOT" "$@" ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
