#!/usr/bin/env bash
# The main job on the built-in tiny model and the Brown sample: build, then show the
# model, its perplexity on held-out text, and a greedy continuation.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
model=models/tiny-mamba
build/kllens info "$model" | head -n 4
build/kllens perplexity "$model" --text data/brown-test-sample.txt --ctx 256
build/kllens generate "$model" --prompt "The jury said that" -n 40
