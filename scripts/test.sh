#!/usr/bin/env bash
# Builds kllens and runs every test (GoogleTest suites through ctest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 900

# ---- issue 12 (trust): ASan+UBSan build of the CPU-side tests and 60 s of every fuzz
# target (scripts/test_sanitized.sh; docs/reliability.md has its timing).
cd ..
scripts/test_sanitized.sh 60
