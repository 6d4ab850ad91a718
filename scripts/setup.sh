#!/usr/bin/env bash
# Set up a machine for pocketbench: system packages, a virtual environment, the package.
#   scripts/setup.sh bench   what `bench` needs (a C++ toolchain to build llama.cpp once)
#   scripts/setup.sh test    + adb, LaTeX, the ExecuTorch extra and the test tools
# Idempotent and quick when everything is already there.
set -euo pipefail
profile="${1:-bench}"
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

apt_packages=(cmake ninja-build g++ make)
if [ "$profile" = test ]; then
  # adb: the real adb server; mksh+toybox: Android's shell and tools for the device wrapper;
  # TeX Live: LaTeX output is compiled; chromium: the HTML report is opened and screenshotted;
  # likwid (likwid-bench), sysbench and mbw: independent memory-bandwidth tools the probe is checked against.
  # qemu-user-static + binfmt-support: the emulated arm64 test phone runs real aarch64 executables.
  # iproute2: the device-lab test makes its hosts as network namespaces (ip netns).
  apt_packages+=(adb iproute2 mksh toybox texlive-latex-base texlive-latex-recommended texlive-fonts-recommended lmodern chromium likwid sysbench mbw)
  [ "$(uname -m)" = aarch64 ] || apt_packages+=(qemu-user-static binfmt-support)
fi
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$profile" = test ] && [ "$(uname -m)" != aarch64 ]; then
  # The arm64 test phone execs pushed aarch64 files as a phone would; the kernel hands
  # them to qemu through binfmt_misc.  In a container nothing mounts binfmt_misc or
  # enables the handler at boot, so do it here (Debian registers it with the F flag:
  # the interpreter is opened now, so it also works inside other mount namespaces).
  binfmt=/proc/sys/fs/binfmt_misc
  if [ ! -e "$binfmt/qemu-aarch64" ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    [ -e "$binfmt/register" ] || $SUDO mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null || true
    $SUDO update-binfmts --enable qemu-aarch64 2>/dev/null || true
  fi
  [ -e "$binfmt/qemu-aarch64" ] || echo "setup: cannot register qemu-aarch64 with binfmt_misc" \
    "(needs root and binfmt_misc); the emulated arm64 phone tests will be skipped" >&2
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
pip=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
stamp="$VENV/.pocketbench-$profile"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  if [ "$profile" = test ]; then
    # torch first, pinned to the CPU build: executorch does not declare it, and any
    # other torch version would pull several GB of CUDA packages.
    "${pip[@]}" "torch==2.13.0"
    "${pip[@]}" -e ".[test,executorch]"
  else
    "${pip[@]}" -e .
  fi
  touch "$stamp"
fi
