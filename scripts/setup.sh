#!/usr/bin/env bash
# Installs the Debian packages Kiln needs. Idempotent: when everything is installed already it
# only checks (dpkg-query) and exits, so running it before every build costs well under a second.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libspdlog-dev libgtest-dev libgmock-dev
  libopenblas-dev libopenblas-openmp-dev libomp-dev libopenmpi-dev openmpi-bin
  python3 python3-dev python3-numpy python3-pytest python3-torch python3-pip
  zlib1g-dev
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "installed" ]]; then
    missing+=("$pkg")
  fi
done

install_debian_packages() {
  local SUDO=()
  if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      SUDO=(sudo)
    else
      echo "setup: missing packages (${missing[*]}) and not root, no sudo: install them yourself" >&2
      exit 1
    fi
  fi
  echo "setup: installing ${missing[*]}"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
}

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
else
  install_debian_packages
fi

# Python packages Debian does not have, from PyPI, installed into the project's .cache (never into
# the system): nanobind (the binding library the kiln extension is built with; pinned so every
# machine builds the same extension) and safetensors (the checkpoint round-trip test; best effort,
# that one test skips without it).
PYDEPS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.cache/pydeps"
NANOBIND_VERSION=3.1.0
if [[ ! -d "$PYDEPS/nanobind-$NANOBIND_VERSION.dist-info" ]]; then
  /usr/bin/python3 -m pip install --quiet --disable-pip-version-check --upgrade --target "$PYDEPS" \
    "nanobind==$NANOBIND_VERSION" || { echo "setup: could not install nanobind from PyPI" >&2; exit 1; }
fi
if [[ ! -d "$PYDEPS/safetensors" ]]; then
  /usr/bin/python3 -m pip install --quiet --disable-pip-version-check --target "$PYDEPS" \
    safetensors 2>/dev/null || echo "setup: could not install safetensors from PyPI (its test will skip)"
fi
