#!/usr/bin/env bash
# One machine's share of a NUTS run split over many machines (or batch-scheduler tasks).
#
#   run-chains.sh MODEL OUT MACHINE CHAINS_PER_MACHINE SEED [extra `ppl run` flags...]
#
# Machine m (0, 1, 2, ...) runs chains m*CHAINS_PER_MACHINE + 1 ... into OUT/machine-m. Every
# machine must get the same SEED: a chain's random stream depends only on the seed and its chain
# id, so the merged result is the run one machine would have made with all the chains:
#
#   ppl summary OUT/machine-*
#
# PPL (default: `ppl` on the PATH) names the binary.
set -euo pipefail
if [ "$#" -lt 5 ]; then
    echo "usage: run-chains.sh MODEL OUT MACHINE CHAINS_PER_MACHINE SEED [ppl run flags...]" >&2
    exit 2
fi
model=$1 out=$2 machine=$3 per_machine=$4 seed=$5
shift 5
first_chain=$((machine * per_machine + 1))
mkdir -p "$out"
exec "${PPL:-ppl}" run "$model" --seed "$seed" --chains "$per_machine" \
    --chain-id "$first_chain" --out "$out/machine-$machine" --quiet "$@"
