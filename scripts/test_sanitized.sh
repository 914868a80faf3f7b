#!/usr/bin/env bash
# Issue 12: the CPU-side tests under AddressSanitizer + UndefinedBehaviorSanitizer, and a
# short run of every libFuzzer target over its seed corpus. One clang build in
# build-san/ serves both (the library is instrumented for ASan, UBSan and fuzzing
# coverage; the ASan runtime supplies the coverage callbacks in the test executables).
# Any sanitizer report fails the run. Usage: scripts/test_sanitized.sh [FUZZ_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS="${1:-60}"
JOBS="$(nproc)"
TESTS=(test_config test_safetensors test_tokenizer test_hostile_inputs test_cli
       test_lens_allocate test_cpu_backend test_cpu_kl_reduce test_cpu_ssm_scan
       test_cpu_ssd_scan test_cpu_matmul test_cpu_matmul_q8act test_cpu_conv1d_causal test_cpu_rms_norm)
# The inputs' size limit of each target (-max_len): its seeds fit, and a short input keeps
# each execution short (the GGUF and tokenizer seeds are 5-12 KiB).
declare -A MAX_LEN=([fuzz_safetensors]=4096 [fuzz_config]=4096 [fuzz_plan]=4096 [fuzz_sweep]=4096
                    [fuzz_tokenizer]=16384 [fuzz_gguf]=16384)
FUZZERS=(fuzz_safetensors fuzz_config fuzz_tokenizer fuzz_plan fuzz_sweep fuzz_gguf)

# -O1 and line tables only: the build is the long part of this script on a 2-core runner,
# and ASan's reports need file:line, not full debug info (docs/reliability.md has the
# times). Assertions stay on (no NDEBUG).
CC=clang-14 CXX=clang++-14 cmake -S . -B build-san -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DKLLENS_FUZZ=ON -DKLLENS_VULKAN=OFF -DKLLENS_BUILD_BENCH=OFF -DKLLENS_BUILD_TESTS=ON >/dev/null
cmake --build build-san -j "$JOBS" --target kllens_cli "${TESTS[@]}" "${FUZZERS[@]}"

# Leak checking is off: libomp's worker threads hold allocations at exit that LSan
# reports as leaks; memory errors and UB are what this run is for.
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Tests: gtest directly (not ctest discovery), two executables at a time.
printf '%s\n' "${TESTS[@]}" | xargs -P "$JOBS" -I{} sh -c 'build-san/{} --gtest_brief=1 >build-san/{}.log 2>&1 || { cat build-san/{}.log; exit 1; }'
echo "sanitized tests: ${#TESTS[@]} executables passed"

# Fuzzers: each for FUZZ_SECONDS over a scratch copy of its seed corpus (checked-in seeds
# stay as they are), two at a time.
fuzz_one() {
  local name="$1" seconds="$2" corpus
  corpus="$(mktemp -d)"
  cp -r "tests/fuzz/corpus/${name#fuzz_}/." "$corpus/"
  build-san/"$name" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len="$3" -timeout=10 \
    -print_final_stats=1 "$corpus" >"build-san/$name.log" 2>&1 || { tail -50 "build-san/$name.log"; exit 1; }
  grep -E "stat::(number_of_executed_units|average_exec_per_sec)" "build-san/$name.log" | sed "s/^/$name /"
  rm -rf "$corpus"
}
export -f fuzz_one
for f in "${FUZZERS[@]}"; do echo "$f ${MAX_LEN[$f]}"; done |
  xargs -P "$JOBS" -L1 bash -c 'fuzz_one "$0" '"$FUZZ_SECONDS"' "$1"'
echo "fuzz targets: ${#FUZZERS[@]} ran ${FUZZ_SECONDS}s each with no finding"
