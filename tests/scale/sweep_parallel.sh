#!/usr/bin/env bash
# ctest sweep_parallel: the single-host alternative (docs/scale.md): 4 shards of the
# tiny-mamba sweep run by GNU parallel, merged, byte-identical to the unsharded sweep; and
# kllens merge refuses a missing shard, a shard given twice and shards of another sweep.
#   sweep_parallel.sh KLLENS_BINARY SHARED_DIR
set -euo pipefail
kllens="$(realpath "$1")" shared="$(realpath "$2")"
work="$(mktemp -d /tmp/kllens-sweep-parallel.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fx="$shared/fixtures/tiny-mamba"
# Small on purpose (seconds per shard): the reference's 2 windows, the 16 in/out projections at
# both bit widths (32 probes), perplexity on 256 tokens so the merged report carries it too.
sweep=("$fx" --calib-ids "$fx/reference.safetensors" --layers 'in_proj|out_proj'
       --ppl-text "$shared/data/brown/test.txt" --ppl-tokens 256 --ppl-ctx 128)
"$kllens" sensitivity "${sweep[@]}" -o "$work/whole" >/dev/null 2>"$work/whole.log"
qsweep=()  # parallel hands its command to a shell: quote the regex's '|' for it
for x in "${sweep[@]}"; do qsweep+=("$(printf %q "$x")"); done
parallel --will-cite --halt now,fail=1 -j 2 \
  "$kllens" sensitivity "${qsweep[@]}" --shard {}/4 -o "$work/shard-{}" ">/dev/null" "2>$work/shard-{}.log" ::: 0 1 2 3
"$kllens" merge "$work"/shard-{0,1,2,3} -o "$work/merged" >/dev/null
cmp "$work/whole/sensitivity.json" "$work/merged/sensitivity.json"
cmp "$work/whole/sensitivity.csv" "$work/merged/sensitivity.csv"
expect_refusal() {  # expect_refusal WORDS -- ARGS: merge fails with one line containing WORDS
  local words="$1"; shift
  if "$kllens" merge "$@" -o "$work/bad" 2>"$work/err"; then echo "merge $* did not fail" >&2; exit 1; fi
  grep -q "$words" "$work/err" || { echo "merge $*: unexpected message: $(cat "$work/err")" >&2; exit 1; }
  [ "$(wc -l <"$work/err")" = 1 ] || { echo "more than one line: $(cat "$work/err")" >&2; exit 1; }
  [ ! -e "$work/bad/sensitivity.json" ] || { echo "merge $* wrote output" >&2; exit 1; }
}
expect_refusal "shard 3/4 missing" "$work"/shard-{0,1,2}
expect_refusal "given twice" "$work"/shard-{0,1,2,3} "$work/shard-1"
"$kllens" sensitivity "${sweep[@]}" --bits 4 --shard 3/4 -o "$work/other" >/dev/null 2>&1
expect_refusal "different sweep" "$work"/shard-{0,1,2} "$work/other"
echo "sweep_parallel: 4 GNU parallel shards merged byte-identically; bad merges refused"
