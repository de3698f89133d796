#!/usr/bin/env bash
# On a GPU machine: the process-group tests on the "nccl" group.
#   1. one rank (a communicator of one rank): kiln_distributed_tests (every suite) and
#      tests/distributed/python/test_process_group.py, with CUDA tensors;
#   2. two processes on the one GPU, each with its own NCCL_HOSTID (NCCL_SOCKET_IFNAME=lo,
#      NCCL_IB_DISABLE=1): the collectives between two real NCCL ranks. NCCL 2.28 refuses two
#      ranks on one GPU otherwise, and does not support this; it is a smoke test only.
# Skips, saying so, without a GPU or without a CUDA build. scripts/gpu_check.sh calls it.
# Usage: tests/distributed/nccl_smoke.sh [BUILD_DIR]   (default: $KILN_BUILD_DIR, else build/)
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$(cd "${1:-${KILN_BUILD_DIR:-$ROOT/build}}" && pwd)
BIN="$BUILD/tests/distributed/kiln_distributed_tests"
PYTHON=${PYTHON:-/usr/bin/python3}
MPIRUN=(mpirun --allow-run-as-root --oversubscribe)
export KILN_DIST_TIMEOUT_SEC=${KILN_DIST_TIMEOUT_SEC:-120} KILN_BUILD_DIR="$BUILD"
export KILN_DIST_BACKEND=nccl

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "nccl_smoke: SKIPPED (no GPU: nvidia-smi -L failed)"
  exit 0
fi
if [[ ! -x "$BIN" ]]; then
  echo "nccl_smoke: FAILED ($BIN is not built; configure with MPI and CUDA)" >&2
  exit 1
fi
if ! grep -q "KILN_WITH_CUDA=1" "$BUILD/build.ninja" 2>/dev/null; then
  echo "nccl_smoke: SKIPPED ($BUILD was built without the CUDA backend)"
  exit 0
fi

failed=()
step() {  # name command...
  local name=$1
  shift
  echo "--- nccl_smoke: $name"
  if timeout -k 10 600 "$@"; then
    echo "--- nccl_smoke: $name: passed"
  else
    echo "--- nccl_smoke: $name: FAILED (exit $?)"
    failed+=("$name")
  fi
}

step "one rank, C++" "${MPIRUN[@]}" -np 1 -x KILN_DIST_BACKEND -x KILN_DIST_TIMEOUT_SEC \
  "$BIN" --gtest_color=no
if ls "$BUILD"/python/kiln/_C*.so >/dev/null 2>&1; then
  step "one rank, Python" "${MPIRUN[@]}" -np 1 -x KILN_DIST_BACKEND -x KILN_DIST_TIMEOUT_SEC \
    -x KILN_BUILD_DIR "$PYTHON" -m pytest -q -p no:cacheprovider \
    "$ROOT/tests/distributed/python/test_process_group.py"
fi
# Two ranks on one GPU: a distinct NCCL_HOSTID per process makes NCCL treat them as two hosts
# talking over the loopback interface.
step "two processes on one GPU, C++" "${MPIRUN[@]}" -np 2 -x KILN_DIST_BACKEND \
  -x KILN_DIST_TIMEOUT_SEC -x NCCL_SOCKET_IFNAME=lo -x NCCL_IB_DISABLE=1 \
  bash -c 'NCCL_HOSTID="kiln-smoke-$OMPI_COMM_WORLD_RANK" exec "$0" --gtest_color=no \
    --gtest_filter="ProcessGroup.*:ProcessGroupErrors.*:DistributedFunctional.*"' "$BIN"

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "=== nccl_smoke: FAILED: ${failed[*]}"
  exit 1
fi
echo "=== nccl_smoke: all passed"
