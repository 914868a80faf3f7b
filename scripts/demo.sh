#!/usr/bin/env bash
# The main job on the built-in tiny model and the Brown samples: build, then run the KL lens
# end to end (sensitivity sweep → rank → mixed-precision plans → evaluation → report with
# SVG plots) into out/lens; then the chosen plan (the paper's greedy pass: perplexity within
# 10 % of the unquantised model's) written as a quantised model (`kllens quantize`) and
# timed next to the same model in F16, on the CPU and on Vulkan when there is a device.
# About two minutes on 2 cores.
#
# --bits 2,4,8: on this model single-layer damage at 4 and 8 bits is below what 4096 eval
# tokens resolve (no metric significant), while the probe-only INT2 probes (fake
# quantisation; plans still use only the 4- and 8-bit probes) give a significant ranking
# (docs/lens.md, "Demo defaults"). The 2-bit probes add 32 probes to the sweep's 64.
#
#   scripts/demo.sh [--no-build] [--kllens PATH] [--out DIR]
# The options exist for CI (tests/test_demo.cpp): it runs these same commands with the
# binary it already built, into a scratch folder.
set -euo pipefail
cd "$(dirname "$0")/.."
kllens=build/kllens
out=out/lens
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --kllens) kllens=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "demo.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
if [ "$build" = 1 ]; then scripts/build.sh; fi
model=models/tiny-mamba
# The head of `kllens info`, taken from a variable: piped into `head`, kllens would die of
# SIGPIPE once head stops reading, and pipefail would end the demo with status 141.
info=$("$kllens" info "$model")
head -n 4 <<<"$info"
"$kllens" lens "$model" --calib data/brown-train-sample.txt --eval data/brown-test-sample.txt \
  -o "$out" --samples 8 --seqlen 256 --eval-tokens 4096 --bits 2,4,8
echo "report: $out/report.md (plots in $out/plots/)"

plans=("$out"/plans/greedy-*.json)
"$kllens" quantize "$model" --type f16 -o "$out/model-f16"
"$kllens" quantize "$model" --plan "${plans[0]}" -o "$out/model-greedy"
backends=cpu
if "$kllens" check-kernels --list-devices >/dev/null 2>&1; then backends=cpu,vulkan; fi
"$kllens" bench -m "$out/model-f16,$out/model-greedy" --backend "$backends" -p 256 -n 64 -r 3
