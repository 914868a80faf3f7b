#!/usr/bin/env bash
# Builds kllens and runs every test (GoogleTest suites through ctest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
cd build
# Two tests share the two cores (ctest -j): OpenMP threads that spin while they wait would
# take the core from the other test's threads, and every barrier then waits for a
# descheduled thread (measured: tiny-mamba decode 43 vs 3260 tokens/s under load).
export OMP_WAIT_POLICY=passive
ctest --output-on-failure -j "$(nproc)" --timeout 900
# Then the CPU-side tests again under ASan+UBSan (a clang build in build-san/) and a
# 60-second run of every libFuzzer target (issue 12; times in docs/reliability.md).
cd ..
scripts/test_sanitized.sh 60
