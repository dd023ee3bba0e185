#!/usr/bin/env bash
# The README's target table (issue 20): `--recipe strong` on IMDB, SST-2 and the AG News subset, each with the
# TF-IDF + logistic regression baseline trained and scored in the same run (--trainer.baseline, in the recipe)
# and the test split scored once, by the best epoch on validation. Data from ../shared/data (or $DATA); each
# run's report goes to runs/recipe/<data>.txt with its wall time and CPU, its logs and checkpoints under
# runs/recipe/<data>/.
set -euo pipefail
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs/recipe}
BIN=${BIN:-.venv/bin}
mkdir -p "$OUT"
where() { echo "wall: $((SECONDS - start)) s; $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p')), $(nproc) cores"; }
# IMDB: 1,000 ids hold 99.7% of the training reviews whole (the study's 500: 92%), as the baselines read them.
start=$SECONDS
"$BIN/rnn-lightning" fit --recipe strong --trainer.test true --data.source "$DATA/aclImdb_v1_labeled.tar.gz" \
  --data.maxlen 1000 --trainer.logdir "$OUT/imdb" 2>&1 | tail -n 17 | tee "$OUT/imdb.txt"
where | tee -a "$OUT/imdb.txt"
# SST-2: GLUE's train/dev files and the labelled binary test set; sentences, so 64 ids hold every one.
start=$SECONDS
"$BIN/rnn-lightning" fit --recipe strong --trainer.test true --data.source "$DATA/sst2" --data.labels '[negative,positive]' \
  --data.maxlen 64 --trainer.logdir "$OUT/sst2" 2>&1 | tail -n 17 | tee "$OUT/sst2.txt"
where | tee -a "$OUT/sst2.txt"
# SST-2 again, with the recipe for short texts: strong's recurrent part as an ensemble of three wider networks.
start=$SECONDS
"$BIN/rnn-lightning" fit --recipe strong-ensemble --trainer.test true --data.source "$DATA/sst2" \
  --data.labels '[negative,positive]' --data.maxlen 64 --trainer.logdir "$OUT/sst2-ensemble" 2>&1 | tail -n 17 \
  | tee "$OUT/sst2-ensemble.txt"
where | tee -a "$OUT/sst2-ensemble.txt"
# AG News subset: train.csv (4,000 rows), dev.csv (1,000) for validation and test.csv (1,000), all disjoint.
start=$SECONDS
"$BIN/rnn-lightning" fit --recipe strong --trainer.test true --data.source "$DATA/ag_news_subset" --data.maxlen 100 \
  --trainer.logdir "$OUT/agnews" 2>&1 | tail -n 17 | tee "$OUT/agnews.txt"
where | tee -a "$OUT/agnews.txt"
