#!/usr/bin/env bash
# One short GPU check, sized for a GPU machine lent for a few minutes: it is all done in one call.
#   1. the GPU tests (cuDNN training in 32-true, bf16-mixed and 16-mixed; a GPU checkpoint loads on the CPU);
#   2. a benchmark table: bare PyTorch vs Lightning steps and one full epoch, per precision, plus the
#      --mask-padding setting and an LSTM for comparison.
# Usage: IMDB_SOURCE=path/to/aclImdb_v1.tar.gz scripts/gpu_check.sh   (PYTHON=... to pick the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

"$PYTHON" - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA device visible to torch"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
      f"{torch.cuda.get_device_name()}")
PY
"$PYTHON" -m pytest -q -m gpu tests/test_training.py
"$PYTHON" scripts/bench.py --accelerator gpu --loops bare lightning epoch --steps 50 \
    --config precision=32-true \
    --config precision=bf16-mixed \
    --config precision=16-mixed \
    --config mask=1,precision=bf16-mixed \
    --config cell=lstm,precision=bf16-mixed
