#!/usr/bin/env bash
# Findings III (docs/recipes.md): what each part of `--recipe strong` adds, on IMDB and SST-2 (from
# ../shared/data, or $DATA), three seeds each. The recipe trains its recurrent part and its linear branch apart
# (two classifiers side by side, no weight in common), and logs each one's test accuracy beside the model's:
# one run a seed gives the recurrent part alone, the linear part alone and both together. The baseline is
# deterministic: it is trained with the first seed only. Reports go to runs/ablation/<data>-<seed>.txt; the
# table is printed and the figure written to docs/ablation.png (or $FIGURE).
set -euo pipefail
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs/ablation}
BIN=${BIN:-.venv/bin}
FIGURE=${FIGURE:-docs/ablation.png}
mkdir -p "$OUT"
for seed in 1 2 3; do
  # Read after the recipe: the seed (and whether the baseline runs) is all it changes.
  echo "trainer: {seed: $seed, baseline: $([ "$seed" = 1 ] && echo true || echo false)}" > "$OUT/seed-$seed.yaml"
done
for seed in 1 2 3; do
  "$BIN/rnn-lightning" fit --recipe strong --data.source "$DATA/sst2" --data.labels '[negative,positive]' \
    --data.maxlen 64 --config "$OUT/seed-$seed.yaml" --trainer.test true --trainer.logdir "$OUT/sst2-$seed" \
    2>&1 | tail -n 17 > "$OUT/sst2-$seed.txt"
done
for seed in 1 2 3; do
  "$BIN/rnn-lightning" fit --recipe strong --data.source "$DATA/aclImdb_v1_labeled.tar.gz" --data.maxlen 1000 \
    --config "$OUT/seed-$seed.yaml" --trainer.test true --trainer.logdir "$OUT/imdb-$seed" 2>&1 | tail -n 17 \
    > "$OUT/imdb-$seed.txt"
done
"$BIN/rnn-lightning" ablation "imdb=$OUT/imdb-1" "imdb=$OUT/imdb-2" "imdb=$OUT/imdb-3" \
  "sst2=$OUT/sst2-1" "sst2=$OUT/sst2-2" "sst2=$OUT/sst2-3" --out "$FIGURE"
