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

# Make `import kiln` work in Debian's python3 from this checkout: a .pth file in the user's
# site-packages puts python_bindings/ on sys.path; the package finds the extension in build/.
# (`pip install .` is the other way; see README.) Best effort: skipped when there is no user site.
if [[ -f "$BUILD_DIR/python/kiln/__init__.py" || -n "$(ls "$BUILD_DIR"/python/kiln/_C*.so 2>/dev/null)" ]]; then
  if site=$(/usr/bin/python3 -m site --user-site 2>/dev/null) && mkdir -p "$site" 2>/dev/null; then
    echo "$(pwd)/python_bindings" > "$site/kiln-dev.pth"
  fi
fi
