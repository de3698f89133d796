#!/usr/bin/env bash
# CPU benchmarks, Kiln and PyTorch side by side in one run, reported as ratios: the training
# step of an MLP 784-512-256-10 (batch 128, SGD with momentum), then (bench/cnn_step.py) that of
# a small residual network with BatchNorm on 3x32x32 at batch 32. Run after scripts/build.sh.
# Usage: bench/run_cpu.sh [steps] [rounds]   (rounds alternate Kiln and PyTorch; medians)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps=${1:-100}
rounds=${2:-3}
threads=${OMP_NUM_THREADS:-$(nproc)}
export OMP_NUM_THREADS=$threads
kiln=() torch=()
for ((r = 0; r < rounds; r++)); do
  kiln+=("$(build/bin/kiln bench --quiet --steps "$steps")")
  torch+=("$(/usr/bin/python3 -c "import torch, sys; torch.set_num_threads($threads); sys.argv = ['', '$steps']; exec(open('bench/mlp_step.py').read())")")
done
/usr/bin/python3 - "$threads" "$steps" "${kiln[*]}" "${torch[*]}" <<'PY'
import statistics, sys
threads, steps, kiln, torch = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
k = statistics.median(map(float, kiln)); t = statistics.median(map(float, torch))
print(f"MLP 784-512-256-10 training step, batch 128, SGD momentum, CPU, {threads} threads")
print(f"  kiln     {k:8.3f} ms   (rounds: {', '.join(kiln)})")
print(f"  pytorch  {t:8.3f} ms   (rounds: {', '.join(torch)})")
print(f"  ratio kiln/pytorch {k / t:.2f} (below 1: Kiln faster)")
PY
# The CNN step runs both libraries in one Python process, with the build above's extension.
KILN_BUILD_DIR=${KILN_BUILD_DIR:-build} /usr/bin/python3 bench/cnn_step.py --threads "$threads" \
  --rounds "$rounds" --steps "$(( steps < 20 ? steps : 20 ))"
