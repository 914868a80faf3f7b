#!/usr/bin/env bash
# The main job on the built-in tiny model and the Brown samples: build, then run the KL lens
# end to end (sensitivity sweep → rank → mixed-precision plans → evaluation → report with
# SVG plots) into out/lens. About a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
model=models/tiny-mamba
build/kllens info "$model" | head -n 4
build/kllens lens "$model" --calib data/brown-train-sample.txt --eval data/brown-test-sample.txt \
  -o out/lens --samples 8 --seqlen 256 --eval-tokens 4096
echo "report: out/lens/report.md (plots in out/lens/plots/)"
