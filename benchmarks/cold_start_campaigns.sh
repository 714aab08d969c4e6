#!/usr/bin/env bash
# The cold-start comparison of docs/results.rst ("Cold start"): Fashion-MNIST /
# LeNet5, 50 -> 1,000 labels in rounds of 50, in two lanes of one torch thread
# each (2 cores). Every variant has its own output folder under
# results/cold-start/; the SimCLR pretraining of each seed is made once, in the
# shared results/cold-start/pretrained/, and every run is resumable.
#
#     bash benchmarks/cold_start_campaigns.sh     # about 2 hours on 2 cores
#
# 5 seeds for the arms the claims rest on (random, random on SimCLR nets,
# TypiClust and the schedule from a TypiClust start); 3 for ProbCover and
# label propagation, which the session's CPU time did not allow at 5.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
ROOT=results/cold-start
COMMON=(--initial 50 --query-size 50 --budget 1000 --threads 1 --no-progress)

variant() {  # variant NAME RUNNER-FLAGS...
    local name=$1
    shift
    mkdir -p "$ROOT/pretrained" "$ROOT/$name"
    ln -sfn ../pretrained "$ROOT/$name/pretrained"
    "$PYTHON" benchmarks/run_experiments.py "${COMMON[@]}" --output-dir "$ROOT/$name" "$@" \
        >> "$ROOT/$name.log" 2>&1
}

lane1() {
    # Pretrains seed k before lane 2 needs it.
    variant simclr-random --seeds 5 --pretrain simclr --strategies random
    variant simclr-probcover --seeds 3 --pretrain simclr --initial-strategy probcover \
        --strategies probcover
    variant simclr-typiclust-lp --seeds 3 --pretrain simclr --initial-strategy typiclust \
        --strategies schedule --semi-supervised
}

lane2() {
    variant random --seeds 5 --strategies random
    variant simclr-typiclust --seeds 5 --pretrain simclr --initial-strategy typiclust \
        --strategies typiclust,schedule
}

case "${1:-all}" in
    lane1) lane1 ;;
    lane2) lane2 ;;
    all)
        lane1 &
        first=$!
        lane2 &
        second=$!
        wait "$first" "$second"
        ;;
esac
