#!/usr/bin/env bash
# Findings III (docs/recipes.md): what each part of `--recipe strong` adds, three seeds each, on SST-2 (from
# ../shared/data, or $DATA). Variants: the recipe; without the n-gram branch (the recurrent part
# alone); one-way, reading the last state instead of max-pooling both directions; and the recipe with the
# study's cell and depth (four layers of 32 rnn). The baseline is deterministic: it is trained once, with the
# first variant of the first seed. Reports go to runs/ablation/<variant>-<seed>.txt.
set -euo pipefail
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs/ablation}
BIN=${BIN:-.venv/bin}
mkdir -p "$OUT"
for seed in 1 2 3; do
  echo "trainer: {seed: $seed}" > "$OUT/seed-$seed.yaml"  # read after the recipe: the seed is all it changes
  "$BIN/rnn-lightning" fit --recipe strong --data.source "$DATA/sst2" --data.maxlen 64 --config "$OUT/seed-$seed.yaml" \
    --trainer.test true --trainer.logdir "$OUT/recipe-$seed" 2>&1 | tail -n 12 > "$OUT/recipe-$seed.txt"
  "$BIN/rnn-lightning" fit --recipe strong --data.source "$DATA/sst2" --data.maxlen 64 --config "$OUT/seed-$seed.yaml" \
    --trainer.test true --trainer.baseline false --model.ngram_buckets 0 --trainer.logdir "$OUT/recurrent-$seed" \
    2>&1 | tail -n 12 > "$OUT/recurrent-$seed.txt"
  "$BIN/rnn-lightning" fit --recipe strong --data.source "$DATA/sst2" --data.maxlen 64 --config "$OUT/seed-$seed.yaml" \
    --trainer.test true --trainer.baseline false --model.bidirectional false --model.pooling last \
    --trainer.logdir "$OUT/oneway-$seed" 2>&1 | tail -n 12 > "$OUT/oneway-$seed.txt"
  "$BIN/rnn-lightning" fit --recipe strong --data.source "$DATA/sst2" --data.maxlen 64 --config "$OUT/seed-$seed.yaml" \
    --trainer.test true --trainer.baseline false --model.cell rnn --model.num_layers 4 --model.hidden_size 32 \
    --model.embed_dim 32 --trainer.logdir "$OUT/studycell-$seed" 2>&1 | tail -n 12 > "$OUT/studycell-$seed.txt"
done
grep -H -E "best val/acc|test/acc of|baseline" "$OUT"/*.txt
