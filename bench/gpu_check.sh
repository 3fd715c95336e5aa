#!/usr/bin/env bash
# GPU check (bench/gpu_check.py): extraction and training rates of a Base-shaped model on one
# device, under 8 minutes; writes results/gpu_check/gpu_check.json and gpu_check.md (or --out).
#   bench/gpu_check.sh                              # a CUDA GPU, default sizes
#   bench/gpu_check.sh --device cpu --scale 0.002 --threads 1 --workers 0   # a CPU, smaller (~5 min)
# Python: $PYTHON if set, else the project's .venv when there is one, else the python on PATH
# (with the project installed).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=$(command -v python3 || command -v python)
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,utilization.gpu --format=csv >&2 || true
fi
export PYTHONUNBUFFERED=1
exec "$python" bench/gpu_check.py "$@"
