#!/usr/bin/env bash
# Everything to run on a GPU machine, in few calls: find cuDNN and NCCL, configure and build the
# CUDA backend into build-gpu/ (sm_90 by default), run the whole C++ and Python test suites,
# compute-sanitizer (memcheck and racecheck) on the backend-ops CUDA tests, then the benchmarks.
#
#   scripts/gpu_check.sh                 all steps, in order
#   scripts/gpu_check.sh build ctest     only those steps (a call per few steps keeps each
#                                        call short; every step finds its environment again)
# Steps: env configure build info ctest pytest memcheck racecheck bench
#
# Every step logs to $OUT/gpu_check/<step>.log ($OUT when set, else build-gpu/gpu_check), prints
# a short digest, and the script carries on past failures; the summary at the end lists each
# step's status (also in summary.txt). Exit status: 0 when every step that ran passed.
#
# Environment knobs:
#   CUDA_ARCHS=90                       CMAKE_CUDA_ARCHITECTURES
#   CUDNN_ROOT / NCCL_ROOT              override the search (folders with include/ and lib/)
#   PYTHON=/path/to/python3             the interpreter for the bindings, pytest and benches
#                                       (default: one whose torch has CUDA, else /usr/bin/python3)
#   SANITIZER_FILTER='*CudaMatchesCpu*' gtest filter for compute-sanitizer (test_backend_ops)
#   BN_SANITIZER_FILTER=...             the same for test_cuda_conv (Kiln's batch norm kernels)
#   STEP_TIMEOUT=0                      seconds per step (0: none)
#   JOBS=$(nproc)                       build and ctest parallelism
# shellcheck disable=SC2317  # the step_* functions are called by name
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$(pwd)
BUILD=${BUILD_DIR:-build-gpu}
JOBS=${JOBS:-$(nproc)}
LOG_DIR=${OUT:+$OUT/gpu_check}
LOG_DIR=${LOG_DIR:-$BUILD/gpu_check}
mkdir -p "$LOG_DIR"
SANITIZER_FILTER=${SANITIZER_FILTER:-'*CudaMatchesCpu*'}
BN_SANITIZER_FILTER=${BN_SANITIZER_FILTER:-'CudnnBatchNorm.PathsAndKilnKernels'}
STEP_TIMEOUT=${STEP_TIMEOUT:-0}
ALL_STEPS=(env configure build info ctest pytest nccl memcheck racecheck bench)
ONE_STEP=""
if [[ "${1:-}" == "--one" ]]; then  # internal: one step, no logging (STEP_TIMEOUT runs these)
  ONE_STEP=$2
  set --
fi
STEPS=("$@")
[[ ${#STEPS[@]} -eq 0 ]] && STEPS=("${ALL_STEPS[@]}")

have() { command -v "$1" >/dev/null 2>&1; }
say() { printf '%s\n' "$*"; }

# ---------------------------------------------------------------- environment (every call)
export PATH="$PATH:/usr/local/cuda/bin"
export PYTHONPATH="$ROOT/.cache/pydeps${PYTHONPATH:+:$PYTHONPATH}"

candidates=()
[[ -n "${PYTHON:-}" ]] && candidates+=("$PYTHON")
have python3 && candidates+=("$(command -v python3)")
[[ -x /usr/bin/python3 ]] && candidates+=(/usr/bin/python3)

# The folder of the Python wheel nvidia.<name> (nvidia-cudnn-cu*, nvidia-nccl-cu*), if any.
wheel_root() {
  local py
  for py in "${candidates[@]}"; do
    "$py" -c "import nvidia.$1 as m; print(list(m.__path__)[0])" 2>/dev/null && return 0
  done
  return 1
}
# A folder holding include/$2 (cudnn.h, nccl.h) and a lib/ with $3 (libcudnn.so*, libnccl.so*).
find_root() {
  local name=$1 header=$2 lib=$3 root
  if root=$(wheel_root "$name") && [[ -f "$root/include/$header" ]]; then
    echo "$root"
    return 0
  fi
  for root in /usr/local/cuda /usr /usr/local; do
    if [[ -f "$root/include/$header" ]] && {
      compgen -G "$root/lib*/$lib*" >/dev/null || compgen -G "$root/lib/*-linux-gnu/$lib*" >/dev/null
    }; then
      echo "$root"
      return 0
    fi
  done
  return 1
}
CUDNN_ROOT=${CUDNN_ROOT:-$(find_root cudnn cudnn.h libcudnn.so || true)}
NCCL_ROOT=${NCCL_ROOT:-$(find_root nccl nccl.h libnccl.so || true)}
# Wheel libraries carry versioned names only and no system path knows them: let the loader
# find them at run time as well (CMake's build RPATH normally covers this already).
for root in "$CUDNN_ROOT" "$NCCL_ROOT"; do
  [[ -n "$root" && -d "$root/lib" ]] && export LD_LIBRARY_PATH="$root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done

# The interpreter: $PYTHON, else one whose torch sees the GPU (benches then compare on the
# GPU), else the first with torch, else /usr/bin/python3.
pick_python() {
  local py
  [[ -n "${PYTHON:-}" ]] && { echo "$PYTHON"; return; }
  for py in "${candidates[@]}"; do
    "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null &&
      { echo "$py"; return; }
  done
  for py in "${candidates[@]}"; do
    "$py" -c "import torch" 2>/dev/null && { echo "$py"; return; }
  done
  echo "${candidates[0]:-python3}"
}
PY=$(pick_python)
# Once configured, the bindings belong to the interpreter CMake used.
if [[ -f "$BUILD/CMakeCache.txt" ]]; then
  cached=$(sed -n 's/^Python_EXECUTABLE:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
  [[ -n "$cached" && -x "$cached" ]] && PY=$cached
fi
export KILN_BUILD_DIR="$ROOT/$BUILD"

# ---------------------------------------------------------------- steps
step_env() {
  say "== machine"
  uname -a
  say "cores: $(nproc), memory: $(free -g 2>/dev/null | awk '/Mem:/{print $2 " GiB"}')"
  if have nvidia-smi; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
    nvidia-smi -L
  else
    say "nvidia-smi: MISSING"
  fi
  say "== tools"
  local t
  for t in cmake ninja ccache nvcc g++ compute-sanitizer mpirun; do
    if have "$t"; then
      say "$t: $(command -v "$t") ($("$t" --version 2>&1 | grep -m1 -iE 'version|release' || true))"
    else
      say "$t: MISSING"
    fi
  done
  say "== libraries"
  say "cuDNN root: ${CUDNN_ROOT:-not found here (the CMake search looks further)}"
  say "NCCL root:  ${NCCL_ROOT:-not found here (the CMake search looks further)}"
  local h
  for h in spdlog/spdlog.h gtest/gtest.h cblas.h zlib.h; do
    if find /usr/include /usr/local/include -maxdepth 3 -path "*$h" 2>/dev/null | grep -q .; then
      say "$h: found"
    else
      say "$h: MISSING (the build needs it)"
    fi
  done
  say "== python: $PY ($("$PY" --version 2>&1))"
  "$PY" - <<'PY'
import importlib
for name in ["numpy", "torch", "pytest", "nanobind", "safetensors"]:
    try:
        m = importlib.import_module(name)
        extra = ""
        if name == "torch":
            extra = f" cuda={m.cuda.is_available()} (torch CUDA {m.version.cuda})"
        print(f"{name}: {getattr(m, '__version__', '?')}{extra}")
    except Exception as e:
        print(f"{name}: MISSING ({type(e).__name__})")
PY
  have nvidia-smi && nvidia-smi -L >/dev/null 2>&1  # the step fails when no GPU is visible
}

step_configure() {
  local gen=()
  if have ninja; then
    gen=(-G Ninja)
  else
    say "ninja missing: Unix Makefiles"
    gen=(-G "Unix Makefiles")
  fi
  # A build dir made by another generator cannot be reused.
  if [[ -f "$BUILD/CMakeCache.txt" ]] &&
    ! grep -q "CMAKE_GENERATOR:INTERNAL=${gen[1]}\$" "$BUILD/CMakeCache.txt"; then
    say "generator changed: removing $BUILD/CMakeCache.txt"
    rm -f "$BUILD/CMakeCache.txt"
  fi
  local args=("${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON
              "-DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHS:-90}" "-DPython_EXECUTABLE=$PY")
  [[ -n "$CUDNN_ROOT" ]] && args+=("-DCUDNN_ROOT=$CUDNN_ROOT")
  [[ -n "$NCCL_ROOT" ]] && args+=("-DNCCL_ROOT=$NCCL_ROOT")
  have nvcc && args+=("-DCMAKE_CUDA_COMPILER=$(command -v nvcc)")
  say "cmake -S . -B $BUILD ${args[*]}"
  cmake -S . -B "$BUILD" "${args[@]}"
}

step_build() { cmake --build "$BUILD" -j"$JOBS"; }

step_info() {
  "$BUILD/bin/kiln" info
}

step_ctest() {
  # OpenMP workers that sleep instead of spinning: many test processes share the cores.
  OMP_WAIT_POLICY=passive ctest --test-dir "$BUILD" --output-on-failure -j"$JOBS" --timeout 900
}

step_pytest() {
  "$PY" -m pytest tests/python -q -rfEs -p no:cacheprovider
}

# NCCL: the distributed tests with one rank on the GPU, then two processes sharing it (smoke).
step_nccl() { PYTHON="$PY" tests/distributed/nccl_smoke.sh "$BUILD"; }

sanitize_one() {
  local tool=$1 bin=$2 filter=$3
  [[ -x "$bin" ]] || { say "$bin: not built"; return 1; }
  # --error-exitcode: a finding fails the step even when every gtest assertion passed.
  compute-sanitizer --tool "$tool" --error-exitcode 99 --print-limit 50 \
    "$bin" --gtest_filter="$filter" --gtest_brief=1
}
sanitize() {
  local tool=$1 rc=0
  have compute-sanitizer || { say "compute-sanitizer: not found"; return 1; }
  sanitize_one "$tool" "$BUILD/tests/cpp/test_backend_ops" "$SANITIZER_FILTER" || rc=1
  # Kiln's own batch norm kernels (shared-memory reductions; cuDNN is off for most of it).
  sanitize_one "$tool" "$BUILD/tests/cpp/test_cuda_conv" "$BN_SANITIZER_FILTER" || rc=1
  return "$rc"
}
step_memcheck() { sanitize memcheck; }
step_racecheck() { sanitize racecheck; }

step_bench() {
  local json="$LOG_DIR/bench.jsonl" rc=0 b
  : > "$json"
  for b in gpu_elementwise gpu_softmax gpu_matmul gpu_mlp gpu_resnet cnn_step; do
    say "== bench/$b.py"
    "$PY" "bench/$b.py" --json "$json" || { say "bench/$b.py failed"; rc=1; }
  done
  say "== kiln bench (C++ CLI: MLP 784-512-256-10, SGD momentum, batch 128, loss read every step)"
  "$BUILD/bin/kiln" bench --device cuda || rc=1
  say "== bench/allreduce.py (NCCL, one rank: bus bandwidth is 0 by nccl-tests' definition)"
  mpirun --allow-run-as-root -np 1 "$PY" bench/allreduce.py --backend nccl --json "$json" || rc=1
  return "$rc"
}

# What each step's log shows on the console (the full log stays in $LOG_DIR).
digest() {
  local step=$1 log=$2
  case $step in
    env | info) cat "$log" ;;
    configure) grep -E "Kiln:|CUDA|CUDNN|cuDNN|NCCL|Error|error|Warning|WARNING" "$log" | head -40 ;;
    build) grep -E "error|FAILED|undefined reference" "$log" | head -40; tail -n 3 "$log" ;;
    ctest)
      grep -E "tests passed|tests failed|Total Test time" "$log"
      grep -E "\((Failed|SEGFAULT|Timeout|Subprocess aborted|Child aborted|Not Run)\)" "$log" | head -60
      say "skipped tests: $(grep -c '\*\*\*Skipped' "$log") (GPU tests must not be among them):"
      grep '\*\*\*Skipped' "$log" | sed -E 's/.*Test +#[0-9]+: ([^ ]+).*/  \1/' | head -20 ;;
    nccl) grep -E "^---|^===" "$log" ;;
    pytest) grep -E "passed|failed|error|FAILED|ERROR|SKIPPED" "$log" | tail -40 ;;
    memcheck | racecheck)
      grep -E "ERROR SUMMARY|RACECHECK SUMMARY|========= (Invalid|Race|Error|Program hit)" "$log" |
        head -30
      grep -E "FAILED|PASSED|tests ran" "$log" | head -20 ;;
    bench) grep -vE '^\{' "$log" ;;
  esac
}

if [[ -n "$ONE_STEP" ]]; then
  "step_$ONE_STEP"
  exit $?
fi

declare -A STATUS SECONDS_TAKEN
ORDER=()
for step in "${STEPS[@]}"; do
  if ! declare -F "step_$step" >/dev/null; then
    say "unknown step '$step' (steps: ${ALL_STEPS[*]})"
    STATUS[$step]="unknown"
    ORDER+=("$step")
    continue
  fi
  log="$LOG_DIR/$step.log"
  say ""
  say "######## $step (log: $log)"
  start=$(date +%s)
  if [[ "$STEP_TIMEOUT" -gt 0 ]]; then
    # `timeout` cannot run a shell function: it runs this script for the one step.
    timeout "$STEP_TIMEOUT" "$0" --one "$step" > "$log" 2>&1
  else
    "step_$step" > "$log" 2>&1
  fi
  rc=$?
  SECONDS_TAKEN[$step]=$(($(date +%s) - start))
  digest "$step" "$log"
  if [[ $rc -eq 0 ]]; then STATUS[$step]="ok"; else STATUS[$step]="FAILED (exit $rc)"; fi
  ORDER+=("$step")
done

say ""
say "######## summary ($(date -u +%FT%TZ), logs in $LOG_DIR)"
failed=0
{
  for step in "${ORDER[@]}"; do
    printf '  %-10s %-18s %5ss\n' "$step" "${STATUS[$step]}" "${SECONDS_TAKEN[$step]:-0}"
    [[ "${STATUS[$step]}" == ok ]] || failed=1
  done
} | tee "$LOG_DIR/summary.txt"
for step in "${ORDER[@]}"; do [[ "${STATUS[$step]}" == ok ]] || failed=1; done
exit $failed
