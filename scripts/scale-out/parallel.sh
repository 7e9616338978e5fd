#!/usr/bin/env bash
# The same split with GNU parallel over ssh hosts (or locally without --sshlogin):
#
#   parallel.sh MODEL OUT SEED host1,host2,...
#
# runs two chains per host, then merges. OUT must be on a file system every host sees (or copy
# the machine-* directories back before the summary).
set -euo pipefail
model=$1 out=$2 seed=$3 hosts=$4
here=$(cd "$(dirname "$0")" && pwd)
count=$(echo "$hosts" | tr ',' '\n' | wc -l)
seq 0 $((count - 1)) | parallel --sshlogin "$hosts" \
    "$here/run-chains.sh" "$model" "$out" {} 2 "$seed"
"${PPL:-ppl}" summary "$out"/machine-*
