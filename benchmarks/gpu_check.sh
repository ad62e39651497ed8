#!/usr/bin/env bash
# The one-GPU check (benchmarks/gpu_check.py), for a machine with no network.
#
#   bash benchmarks/gpu_check.sh prepare [DATA_DIR]   # here, with network: wheels + GSM8K into .gpu/
#   bash benchmarks/gpu_check.sh run [ARGS...]        # there: install .gpu/whl, run the check
#
# The GPU machine is assumed to have Python 3.12, torch with CUDA, transformers and accelerate
# (an NVIDIA PyTorch image); what it lacks travels as wheels: DeepSpeed (built here, no compiled
# ops: ZeRO-3 with the Trainer's torch AdamW compiles nothing) and this repo's other imports.
# vLLM does not travel: its CUDA wheel is ~400 MB. .gpu/ is git-ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=.gpu
# packages the check imports that a plain PyTorch image lacks (pinned as in requirements.lock)
PINNED="pydantic pydantic_core annotated-types typing-inspection hjson deepspeed math-verify latex2sympy2_extended
        antlr4-python3-runtime pebble datasketch"

pin() { grep -i "^$1==" requirements.lock | head -1; }

case "${1:-}" in
prepare)
  data=${2:-../shared/data}
  rm -rf "$CARRY/whl" && mkdir -p "$CARRY/whl" "$CARRY/data/gsm8k"
  grep -qx '/.gpu/' .gitignore || { echo ".gpu/ must be git-ignored" >&2; exit 1; }
  for name in $PINNED; do
    spec=$(pin "$name"); [ -n "$spec" ] || { echo "no pin for $name in requirements.lock" >&2; exit 1; }
    # a wheel for CPython 3.12 on x86-64 Linux; a source-only release (deepspeed, antlr4) is built
    # here into a pure-Python wheel (DS_BUILD_OPS=0: no DeepSpeed op is compiled ahead)
    case "$name" in
    deepspeed|antlr4-python3-runtime)  # source-only on PyPI, pure Python
      DS_BUILD_OPS=0 python3 -m pip wheel --quiet --no-deps -w "$CARRY/whl" "$spec" ;;
    *)
      python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform any -d "$CARRY/whl" "$spec" ;;
    esac
  done
  # every wheel must install on CPython 3.12 x86-64 (a cp311 build here would fail only there)
  for w in "$CARRY"/whl/*.whl; do
    case "$(basename "$w")" in *-py3-none-any.whl|*-cp312-cp312-*x86_64*.whl|*-abi3-*x86_64*.whl) ;;
      *) echo "not a CPython 3.12 x86-64 wheel: $w" >&2; exit 1 ;; esac
  done
  cp "$data/gsm8k/train.jsonl" "$data/gsm8k/test.jsonl" "$CARRY/data/gsm8k/"
  du -sh "$CARRY"
  ;;
run)
  shift
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/abel-site "$CARRY"/whl/*.whl
  export PYTHONPATH="/tmp/abel-site:$PWD/src" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
  exec python3 benchmarks/gpu_check.py "$@"
  ;;
*)
  sed -n '2,10p' "$0"; exit 2 ;;
esac
