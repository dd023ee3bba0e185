#!/usr/bin/env bash
# README "Findings II": the distance experiment (both masking arms, three seeds) and the gradient reaching its
# placed words at initialisation, the depth experiment, then full study runs of each cell with and without
# masking, and the gradient probe of those, real words only. Shrunk to fit
# two hours of the 2-core CPU (README says what was shrunk).
# Tables, logs and runs go to $OUT (default runs/findings_ii); figures and their JSON to $DOCS (default docs).
set -euo pipefail
SRC=${SRC:-../shared/data/aclImdb_v1_labeled.tar.gz}
OUT=${OUT:-runs/findings_ii}
DOCS=${DOCS:-docs}
PYTHON=${PYTHON:-.venv/bin/python}
mkdir -p "$OUT"
timed() {  # timed NAME COMMAND...: the command's output in $OUT/NAME.txt, its log in $OUT/NAME.log, its time
  local start=$SECONDS
  "${@:2}" 2> "$OUT/$1.log" | tee "$OUT/$1.txt"
  echo "$1: $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s" | tee -a "$OUT/times.txt"
}
timed distance "$PYTHON" scripts/distance_experiment.py --data-source "$SRC" --out "$DOCS"
timed distance_gradients "$PYTHON" scripts/distance_experiment.py --data-source "$SRC" --gradients-at-init --out "$DOCS"
timed depth "$PYTHON" scripts/depth_experiment.py --data-source "$SRC" --out "$DOCS"
# The study itself (10 epochs, 20,000 reviews, seed 42) per cell, through the padding and with it masked.
for cell in lstm gru rnn; do
  timed "fit_$cell" "$PYTHON" scripts/fit.py --data-source "$SRC" --cell "$cell" --test --logdir "$OUT/$cell"
  timed "fit_${cell}_mask" "$PYTHON" scripts/fit.py --data-source "$SRC" --cell "$cell" --mask-padding --test \
    --logdir "$OUT/${cell}_mask"
done
# Each run's best checkpoint (the one named epoch=...), probed on 512 validation reviews, padding left out.
best=()
for run in rnn rnn_mask lstm lstm_mask gru gru_mask; do
  best+=("$(ls "$OUT/$run"/version_*/checkpoints/epoch=*.ckpt | tail -n 1)")
done
timed probe "$PYTHON" scripts/probe_gradients.py --data-source "$SRC" --real-words --reviews 512 --out "$DOCS" \
  --ckpt "${best[@]}"
