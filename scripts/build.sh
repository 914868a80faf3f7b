#!/usr/bin/env bash
# Configures and builds kllens (Release) into build/. Warnings are errors under CI.
set -euo pipefail
cd "$(dirname "$0")/.."
werror=OFF
if [ "${CI:-}" = "true" ]; then werror=ON; fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DKLLENS_WERROR=$werror >/dev/null
cmake --build build -j "$(nproc)"
