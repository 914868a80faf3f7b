#!/usr/bin/env bash
# Submits a sharded sweep to Slurm: N array tasks (one shard each), then the merge job that
# depends on all of them. Prints the merge job's id; with --wait, returns when it is done
# (exit status non-zero when a shard or the merge failed).
#
#   scripts/slurm/submit.sh [--wait] KLLENS_BINARY OUT_DIR N MODEL --calib FILE [sweep options]
set -euo pipefail
wait_flag=()
if [ "${1:-}" = "--wait" ]; then wait_flag=(--wait); shift; fi
if [ $# -lt 4 ]; then
  echo "usage: $0 [--wait] KLLENS_BINARY OUT_DIR N MODEL [sweep options]" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
export KLLENS="$(realpath "$1")" KLLENS_OUT="$(realpath -m "$2")" KLLENS_SHARDS="$3"
shift 3
mkdir -p "$KLLENS_OUT"
array=$(sbatch --parsable --array=0-$((KLLENS_SHARDS - 1)) --chdir="$KLLENS_OUT" \
        --export=ALL "$here/sweep.sbatch" "$@")
array=${array%%;*}  # "jobid;cluster" on multi-cluster setups
merge=$(sbatch --parsable "${wait_flag[@]}" --dependency="afterok:$array" --kill-on-invalid-dep=yes \
        --job-name=kllens-merge --chdir="$KLLENS_OUT" --export=ALL "$here/sweep.sbatch")
echo "${merge%%;*}"
