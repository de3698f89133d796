#!/usr/bin/env bash
# Configures (Ninja, build/) and builds Kiln. Extra arguments go to CMake, e.g.
#   scripts/build.sh -DKILN_CUDA=OFF
#   scripts/build.sh -DKILN_CUDA=ON -DCUDNN_ROOT=/path/to/nvidia/cudnn -DNCCL_ROOT=/path/to/nvidia/nccl
# KILN_JOBS overrides the parallelism (default: nproc).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR=build  # scripts/test.sh and demo.sh expect it here
JOBS=${KILN_JOBS:-$(nproc)}

cmake -S . -B "$BUILD_DIR" -G Ninja "$@"
cmake --build "$BUILD_DIR" -j"$JOBS"
