#!/usr/bin/env bash
# README "Findings II": the distance and depth experiments, both masking arms, three seeds, then the models
# the real-word gradient probe reads. Shrunk to fit two hours of the 2-core CPU (README says how).
# Tables and logs go to $OUT (default runs/findings_ii); figures and their JSON to $DOCS (default docs).
set -euo pipefail
SRC=${SRC:-../shared/data/aclImdb_v1_labeled.tar.gz}
OUT=${OUT:-runs/findings_ii}
DOCS=${DOCS:-docs}
PYTHON=${PYTHON:-.venv/bin/python}
mkdir -p "$OUT"
timed() {  # timed NAME COMMAND...: the command's output in $OUT/NAME.txt (and its log), its minutes after it
  local start=$SECONDS
  "${@:2}" 2> "$OUT/$1.log" | tee "$OUT/$1.txt"
  echo "$1: $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s" | tee -a "$OUT/times.txt"
}
timed distance "$PYTHON" scripts/distance_experiment.py --data-source "$SRC" --out "$DOCS"
timed depth "$PYTHON" scripts/depth_experiment.py --data-source "$SRC" --out "$DOCS"
# Full study runs (10 epochs, 20,000 reviews) of the gated cells, with and without masking, for the probe;
# the rnn's are runs/compiled_faithful and runs/rnn_mask (README, Performance and Findings).
for cell in lstm gru; do
  timed "fit_$cell" "$PYTHON" scripts/fit.py --data-source "$SRC" --cell "$cell" --test --logdir "$OUT/$cell"
  timed "fit_${cell}_mask" "$PYTHON" scripts/fit.py --data-source "$SRC" --cell "$cell" --mask-padding --test \
    --logdir "$OUT/${cell}_mask"
done
