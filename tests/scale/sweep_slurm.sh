#!/usr/bin/env bash
# ctest sweep_slurm: a 4-shard sweep of tiny-mamba through a real single-node Slurm
# (tests/scale/slurm_cluster.sh), submitted with scripts/slurm/submit.sh (job array and a
# dependent merge job), is byte-identical to the unsharded sweep.
#   sweep_slurm.sh KLLENS_BINARY SOURCE_DIR SHARED_DIR
set -euo pipefail
kllens="$(realpath "$1")" src="$(realpath "$2")" shared="$(realpath "$3")"
work="$(mktemp -d /tmp/kllens-sweep-slurm.XXXXXX)"
source "$src/tests/scale/slurm_cluster.sh"
trap 'stop_slurm; rm -rf "$work"' EXIT
fx="$shared/fixtures/tiny-mamba"
# Small on purpose (seconds per shard): the reference's 2 windows, the 16 in/out projections at
# both bit widths (32 probes), perplexity on 256 tokens so the merged report carries it too.
sweep=("$fx" --calib-ids "$fx/reference.safetensors" --layers 'in_proj|out_proj'
       --ppl-text "$shared/data/brown/test.txt" --ppl-tokens 256 --ppl-ctx 128)
"$kllens" sensitivity "${sweep[@]}" -o "$work/whole" >/dev/null 2>"$work/whole.log"
start_slurm "$work/slurm"
"$src/scripts/slurm/submit.sh" --wait "$kllens" "$work/sharded" 4 "${sweep[@]}" >/dev/null
state="$(sacct -n 2>/dev/null || true)"
for f in sensitivity.json sensitivity.csv; do
  if ! cmp "$work/whole/$f" "$work/sharded/$f"; then
    echo "sharded $f differs from the unsharded one; $state" >&2
    exit 1
  fi
done
n=$(ls "$work"/sharded/shard-*/shard.json | wc -l)
[ "$n" = 4 ] || { echo "expected 4 shard files, found $n" >&2; exit 1; }
echo "sweep_slurm: 4 Slurm array shards merged byte-identically"
