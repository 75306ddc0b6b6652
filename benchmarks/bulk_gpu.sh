#!/usr/bin/env bash
# Bulk items per minute per GPU on the full-size random-weights profile, with 1 and 2 workers.
#
#   benchmarks/bulk_gpu.sh fetch          # where PyPI answers: the wheels a bare GPU machine lacks, into .whl/
#   benchmarks/bulk_gpu.sh run [ITEMS]    # on the GPU machine (offline; its python3 holds CUDA PyTorch): install
#                                         #   .whl/ into /tmp/site, build the NLTK data, run benchmarks/bulk_gpu.py
#
# The GPU machine's own torch is kept (no torch wheel is fetched); Python 3.12, x86-64 manylinux wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=.whl
# What the bulk path imports beyond such a machine's PyTorch image (and their dependencies that it lacks).
PACKAGES=(ray prefect "fastapi<0.151" diffusers ffmpeg-python imageio-ffmpeg nltk textblob-aptagger names lz4
          tqdm pyyaml)

case "${1:-}" in
  fetch)
    mkdir -p "$WHEELS"
    python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      --platform any -d "$WHEELS" "${PACKAGES[@]}"
    rm -f "$WHEELS"/torch-* "$WHEELS"/nvidia_* "$WHEELS"/triton-*   # the machine's own are used
    du -sh "$WHEELS"
    ;;
  run)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      "$WHEELS"/*.whl
    export PYTHONPATH="/tmp/site:$PWD" PATH="/tmp/site/bin:$PATH"
    export CINEMAGRAPH_NLTK_DATA=/tmp/nltk_data RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0
    python3 -m stages.text.nltk_setup
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    python3 benchmarks/bulk_gpu.py --items "${2:-16}"
    ;;
  *)
    sed -n 2,9p "$0"
    exit 2
    ;;
esac
