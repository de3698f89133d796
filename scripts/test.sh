#!/usr/bin/env bash
# The one test command: set up, build, run every test suite. Exits non-zero if any step fails;
# every suite runs even when an earlier one failed, so one run shows all failures.
# Extra arguments go to CMake (see scripts/build.sh).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

scripts/setup.sh || { echo "test: setup failed" >&2; exit 1; }

if command -v nvidia-smi >/dev/null 2>&1 && gpus=$(nvidia-smi -L 2>/dev/null) && [[ -n "$gpus" ]]; then
  echo "=== GPU detected: GPU tests will run"
  echo "$gpus"
else
  echo "=== No GPU detected (nvidia-smi -L): GPU tests will SKIP"
fi

scripts/build.sh "$@" || { echo "test: build failed" >&2; exit 1; }

failed=()

echo "=== C++ tests (ctest)"
# Python packages setup.sh fetched from PyPI (safetensors, for the checkpoint round trip).
export PYTHONPATH="$ROOT/.cache/pydeps${PYTHONPATH:+:$PYTHONPATH}"
# ctest runs two test processes at once on 2 cores; OpenMP workers that sleep instead of spinning
# keep them from starving each other.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
ctest --test-dir build --output-on-failure -j2 || failed+=("ctest")

if [[ -d tests/python ]] && [[ -n "$(find tests/python -name 'test_*.py' -print -quit)" ]]; then
  echo "=== Python tests (pytest)"
  # Debian's interpreter: python3-torch and python3-numpy are installed for it.
  /usr/bin/python3 -m pytest tests/python -q || failed+=("pytest")
else
  echo "=== Python tests: none yet (tests/python/test_*.py)"
fi

# ---------------------------------------------------------------------------------------------
# Distributed tests: kiln_distributed_tests and tests/distributed/python under
# `mpirun --allow-run-as-root --oversubscribe -np 2` and `-np 3`, plus the fault scenarios (a job
# whose collective cannot complete must end with the watchdog's message, not hang).
if [[ -x build/tests/distributed/kiln_distributed_tests ]]; then
  echo "=== Distributed tests (mpirun)"
  tests/distributed/run.sh build || failed+=("distributed")
else
  echo "=== Distributed tests: not built (Kiln was configured without MPI: libopenmpi-dev)"
  failed+=("distributed-not-built")
fi
# ---------------------------------------------------------------------------------------------

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "=== FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "=== All tests passed ($ROOT)"
