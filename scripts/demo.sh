#!/usr/bin/env bash
# The main job: sets up, builds and runs `kiln train mlp` on the embedded synthetic digits.
# Extra arguments go to CMake (see build.sh); training options go to build/bin/kiln directly.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
scripts/build.sh "$@"
exec build/bin/kiln train mlp
