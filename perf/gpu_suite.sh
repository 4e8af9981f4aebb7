#!/usr/bin/env bash
# The GPU benchmarks of the issues, in one go, on a machine with one CUDA GPU and no network.
# Python packages the machine lacks travel as wheels in .whl/ (see the closing notes); results go to $OUT.
set -u
OUT=${OUT:-/tmp/realedit-gpu}; mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD || exit 1
else
  export PYTHONPATH=$PWD
fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/gpu.txt"
timeout 240 python3 perf/bench_run.py --gpu 2>&1 | grep -v -E "Warning|warn\(|it/s\]" | tee "$OUT/bench_run_gpu.txt"
timeout 420 python3 perf/bench_train.py --gpu --control 2>&1 | grep -v -E "Warning|warn\(" | tee "$OUT/bench_train_gpu.txt"
timeout 90 python3 perf/bench_judge.py 2>&1 | tail -15 | tee "$OUT/bench_judge_16core.txt"
timeout 540 python3 perf/bench_smartedit.py 2>&1 | grep -v -E "Warning|warn\(|it/s\]" | tee "$OUT/bench_smartedit_gpu.txt"
timeout 600 python3 perf/bench_editors.py --samples 2 --steps 4 --editors instruct-pix2pix,flux2-klein,flux-kontext,longcat-edit,qwen-image-edit --modes plain,ours,compile,offload-model 2>&1 | grep -v -E "Warning|warn\(|it/s\]" | tee "$OUT/bench_editors_gpu.txt"
