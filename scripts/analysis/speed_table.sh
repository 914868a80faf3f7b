#!/bin/bash
# README's speed table: synth mamba-130m and mamba-1.4b, their quantised models, and
# `kllens bench` of each model list in both orders with each CPU tier the machine has,
# written as CSV files to OUT; scripts/analysis/speed_table.py turns them into the
# table's same-run ratios. Analysis only (not built, not tested; it runs for ~5 minutes
# on 2 cores and needs ~7 GB under MODELS).
#
# usage: scripts/analysis/speed_table.sh OUT [MODELS=/tmp] [TIERS="avx512 avx2"]
set -euo pipefail
out=$1 models=${2:-/tmp} tiers=${3:-"avx512 avx2"}
cd "$(dirname "$0")/../.."
K=build/kllens
mkdir -p "$out"
m=$models/m130 b=$models/m14
[ -d "$m" ] || $K synth --preset mamba-130m -o "$m" --dtype f16
[ -d "$b" ] || $K synth --preset mamba-1.4b -o "$b" --dtype f16
for base in "$m" "$b"; do
  [ -d "$base-q8" ] || $K quantize "$base" --type q8_g32 -o "$base-q8"                      # Q8_0, F16 tied head
  [ -d "$base-q4h8" ] || $K quantize "$base" --type q4_g32 --head q8_g32 -o "$base-q4h8"    # Q4_0 + Q8_0 head
  [ -d "$base-q4ch8" ] || $K quantize "$base" --type q4 --head q8 -o "$base-q4ch8"          # Q4_C + Q8_C head
done
[ -d "$m-q4" ] || $K quantize "$m" --type q4_g32 -o "$m-q4"                                 # Q4_0, F16 tied head
fwd130=$m,$m-q8,$m-q4,$m-q4ch8,$m-q4h8 rev130=$m-q4h8,$m-q4ch8,$m-q4,$m-q8,$m
fwd14=$b,$b-q8,$b-q4ch8,$b-q4h8 rev14=$b-q4h8,$b-q4ch8,$b-q8,$b
for tier in $tiers; do
  for order in fwd rev; do
    l130=fwd130 l14=fwd14
    [ "$order" = rev ] && l130=rev130 l14=rev14
    echo "$tier $order $(date +%T)"
    KLLENS_CPU_TIER=$tier $K bench -m "${!l130}" -p 128,512 -n 32 -r 3 -o csv > "$out/130-$tier-$order.csv"
    KLLENS_CPU_TIER=$tier $K bench -m "${!l14}" -p 64 -n 16 -r 2 -o csv > "$out/14-$tier-$order.csv"
  done
done
