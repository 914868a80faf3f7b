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
cd ..
# valgrind over the CLI's golden path (~1 min): the logits of tiny-mamba on the CPU; any
# memory error or definite leak exits 99 (issue 12; docs/reliability.md).
vg_out="$(mktemp -d)"
OMP_NUM_THREADS=1 valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite -q \
  build/kllens logits ../shared/fixtures/tiny-mamba --ids-file ../shared/fixtures/tiny-mamba/reference.safetensors \
  --out "$vg_out/logits.safetensors" >/dev/null
rm -rf "$vg_out"
# Then the CPU-side tests again under ASan+UBSan (a clang build in build-san/) and a
# 60-second run of every libFuzzer target (times in docs/reliability.md).
scripts/test_sanitized.sh 60
