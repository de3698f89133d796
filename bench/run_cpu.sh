#!/usr/bin/env bash
# CPU benchmarks, Kiln and PyTorch side by side in one run, reported as ratios.
# Usage: bench/run_cpu.sh [steps]   (after scripts/build.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps=${1:-50}
threads=${OMP_NUM_THREADS:-$(nproc)}
export OMP_NUM_THREADS=$threads
kiln_ms=$(build/bench/mlp_step "$steps")
torch_ms=$(/usr/bin/python3 -c "import torch; torch.set_num_threads($threads); exec(open('bench/mlp_step.py').read())" "$steps")
echo "MLP 784-512-256-10, batch 128, training step on the CPU ($threads threads, median of $steps)"
ratio=$(/usr/bin/python3 -c "print(f'{$kiln_ms / $torch_ms:.2f}')")
printf "  kiln    %8.3f ms\n  pytorch %8.3f ms\n  ratio kiln/pytorch %s (below 1: Kiln faster)\n" \
  "$kiln_ms" "$torch_ms" "$ratio"
