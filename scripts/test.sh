#!/usr/bin/env bash
# Builds kllens and runs every test (GoogleTest suites through ctest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 900
