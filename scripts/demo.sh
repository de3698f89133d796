#!/usr/bin/env bash
# Sets up, builds and runs the MLP training demo. Extra arguments go to CMake (see build.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
scripts/build.sh "$@"
exec build/examples/mlp_demo
