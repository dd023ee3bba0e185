#!/usr/bin/env bash
# The README's "Your own data" results: rnn, lstm and gru with the study's settings (RMSprop 1e-3, batch 128,
# 4 stacked layers of 32, no masking) on SST-2 and the AG News subset from ../shared/data (or $DATA).
# Each run's summary goes to runs/own/<data>-<cell>.txt; its logs and checkpoints under runs/own/<data>-<cell>/.
set -euo pipefail
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs/own}
PYTHON=${PYTHON:-.venv/bin/python}
mkdir -p "$OUT"
for cell in rnn lstm gru; do
  # SST-2: GLUE's train/dev files and the labelled binary test set; sentences, so 64 ids hold every one.
  "$PYTHON" scripts/fit.py --data-source "$DATA/sst2" --labels negative,positive --maxlen 64 --max-epochs 5 \
    --cell "$cell" --test --logdir "$OUT/sst2-$cell" 2>&1 | tail -n 12 | tee "$OUT/sst2-$cell.txt"
  # AG News subset: train.csv (4,000 rows), dev.csv (1,000) for validation and test.csv (1,000), all disjoint.
  "$PYTHON" scripts/fit.py --data-source "$DATA/ag_news_subset" --maxlen 100 --max-epochs 10 --cell "$cell" --test \
    --logdir "$OUT/agnews-$cell" 2>&1 | tail -n 12 | tee "$OUT/agnews-$cell.txt"
done
