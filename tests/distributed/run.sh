#!/usr/bin/env bash
# Runs the distributed tests under mpirun (CPU, the "mpi" group):
#   - kiln_distributed_tests (tests/distributed/cpp/*.cpp) on 2 and on 3 ranks;
#   - the pytest files of tests/distributed/python on 2 and on 3 ranks (pytest on every rank;
#     each rank's output goes to a log, rank 0's summary is printed, every log on failure), and
#     once more on 2 ranks in checked mode (KILN_DIST_CHECKED=1);
#   - the fault scenarios, each of which must END THE JOB within a few seconds with the expected
#     message (a collective nobody else joins, a rank that exits, a rank that throws), rather
#     than hang.
# Usage: tests/distributed/run.sh [BUILD_DIR]   (default: $KILN_BUILD_DIR, else build/)
# Exits non-zero when anything failed; every part runs even after an earlier failure.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$(cd "${1:-${KILN_BUILD_DIR:-$ROOT/build}}" && pwd)
BIN="$BUILD/tests/distributed/kiln_distributed_tests"
PYTHON=${PYTHON:-/usr/bin/python3}
MPIRUN=(mpirun --allow-run-as-root --oversubscribe)
# Ranks share 2 cores in CI: one OpenMP thread each, sleeping rather than spinning.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# A hung collective ends the job (watchdog) well before the per-job limit below.
export KILN_DIST_TIMEOUT_SEC=${KILN_DIST_TIMEOUT_SEC:-60}
export KILN_BUILD_DIR="$BUILD"
LIMIT=${KILN_DIST_JOB_LIMIT:-300}  # seconds per mpirun job
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/kiln-dist.XXXXXX")
failed=()

if ! command -v mpirun >/dev/null 2>&1; then
  echo "distributed: mpirun not found (apt-get install openmpi-bin); FAILED" >&2
  exit 1
fi
if [[ ! -x "$BIN" ]]; then
  echo "distributed: $BIN is not built (configure with MPI: libopenmpi-dev); FAILED" >&2
  exit 1
fi

# ---- C++ ----
for np in 2 3; do
  echo "--- kiln_distributed_tests, $np ranks"
  if timeout -k 10 "$LIMIT" "${MPIRUN[@]}" -np "$np" "$BIN" --gtest_color=no; then
    echo "--- kiln_distributed_tests, $np ranks: passed"
  else
    echo "--- kiln_distributed_tests, $np ranks: FAILED (exit $?)"
    failed+=("cpp-np$np")
  fi
done

# ---- Python ----
# One log per rank; rank 0's summary lines are shown, every rank's full log on failure.
run_pytest() {  # name np [env...]
  local name=$1 np=$2
  shift 2
  echo "--- pytest tests/distributed/python ($name, $np ranks)"
  local env_args=()
  for kv in "$@"; do env_args+=(-x "$kv"); done
  if timeout -k 10 "$LIMIT" "${MPIRUN[@]}" -np "$np" "${env_args[@]}" -x KILN_BUILD_DIR \
      bash -c 'exec "$0" -m pytest -q -p no:cacheprovider "$1" > "$2.rank$OMPI_COMM_WORLD_RANK.log" 2>&1' \
      "$PYTHON" "$ROOT/tests/distributed/python" "$LOGS/$name"; then
    tail -n 2 "$LOGS/$name.rank0.log"
    echo "--- pytest ($name, $np ranks): passed"
  else
    for log in "$LOGS/$name".rank*.log; do
      echo "===== $(basename "$log")"
      cat "$log"
    done
    echo "--- pytest ($name, $np ranks): FAILED"
    failed+=("pytest-$name")
  fi
}
if ls "$BUILD"/python/kiln/_C*.so >/dev/null 2>&1; then
  run_pytest np2 2
  run_pytest np3 3
  run_pytest checked-np2 2 KILN_DIST_CHECKED=1
else
  echo "--- pytest tests/distributed/python: SKIPPED (no Python extension in $BUILD/python/kiln)"
fi

# ---- Faults: the job must fail, within a few seconds, saying why ----
expect_failure() {  # name seconds message command...
  local name=$1 within=$2 message=$3
  shift 3
  local start end rc
  start=$(date +%s)
  KILN_DIST_TIMEOUT_SEC=2 timeout -k 10 60 "$@" > "$LOGS/fault-$name.log" 2>&1
  rc=$?
  end=$(date +%s)
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    echo "--- fault $name: FAILED (the job hung; killed after 60 s)"
  elif [[ $rc -eq 0 ]]; then
    echo "--- fault $name: FAILED (the job succeeded)"
  elif (( end - start > within )); then
    echo "--- fault $name: FAILED (ended after $((end - start)) s, expected within $within s)"
  elif ! grep -qF -- "$message" "$LOGS/fault-$name.log"; then
    echo "--- fault $name: FAILED (no \"$message\" in the output)"
  else
    echo "--- fault $name: passed (exit $rc after $((end - start)) s: $(grep -F -m1 -- "$message" "$LOGS/fault-$name.log"))"
    return 0
  fi
  cat "$LOGS/fault-$name.log"
  failed+=("fault-$name")
}
gtest_fault() { echo "$BIN --gtest_color=no --gtest_also_run_disabled_tests --gtest_filter=ProcessGroupFaults.DISABLED_$1"; }
# shellcheck disable=SC2046
expect_failure cpp-skipped-collective 20 \
  "rank 0: all_reduce #2 (float32 [1024]) did not complete within 2 s; aborting the job" \
  "${MPIRUN[@]}" -np 2 -x KILN_DIST_TIMEOUT_SEC $(gtest_fault SkippedCollectiveTimesOut)
# shellcheck disable=SC2046
expect_failure cpp-rank-exits 20 "exited with non-zero status" \
  "${MPIRUN[@]}" -np 2 -x KILN_DIST_TIMEOUT_SEC $(gtest_fault RankExitsEarly)
# shellcheck disable=SC2046
expect_failure cpp-rank-throws-np3 20 \
  "all_reduce #2 (float32 [1024]) did not complete within 2 s; aborting the job" \
  "${MPIRUN[@]}" -np 3 -x KILN_DIST_TIMEOUT_SEC $(gtest_fault RankThrows)
if ls "$BUILD"/python/kiln/_C*.so >/dev/null 2>&1; then
  FAULTS="$ROOT/tests/distributed/python/test_process_group_faults.py"
  expect_failure python-raise 20 \
    "kiln.distributed: rank 1: uncaught RuntimeError (traceback above); aborting the job" \
    "${MPIRUN[@]}" -np 2 -x KILN_DIST_TIMEOUT_SEC -x KILN_BUILD_DIR "$PYTHON" "$FAULTS" raise
  expect_failure python-exit 20 \
    "rank 0: all_reduce #2 (float32 [1024]) did not complete within 2 s; aborting the job" \
    "${MPIRUN[@]}" -np 2 -x KILN_DIST_TIMEOUT_SEC -x KILN_BUILD_DIR "$PYTHON" "$FAULTS" exit
  expect_failure python-hang 20 \
    "rank 0: all_reduce #2 (float32 [1024]) did not complete within 2 s; aborting the job" \
    "${MPIRUN[@]}" -np 2 -x KILN_DIST_TIMEOUT_SEC -x KILN_BUILD_DIR "$PYTHON" "$FAULTS" hang
fi

rm -rf "$LOGS"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "=== distributed: FAILED: ${failed[*]}"
  exit 1
fi
echo "=== distributed: all passed"
