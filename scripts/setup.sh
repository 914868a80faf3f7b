#!/usr/bin/env bash
# Installs everything kllens builds and tests with, from Debian packages (Debian 12).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build pkg-config \
  libvulkan-dev glslang-tools glslang-dev spirv-tools \
  mesa-vulkan-drivers vulkan-validationlayers vulkan-tools \
  libeigen3-dev libtbb-dev libgtest-dev libgmock-dev libbenchmark-dev \
  nlohmann-json3-dev libcli11-dev libfmt-dev libutf8proc-dev libpcre2-dev >/dev/null
# issue 12 (trust): xxHash for --resume content hashes; clang-14 + compiler-rt for libFuzzer
# and ASan/UBSan builds; valgrind for the golden-path memory check.
$SUDO apt-get install -y -qq --no-install-recommends \
  libxxhash-dev clang-14 libclang-rt-14-dev libomp-14-dev valgrind >/dev/null
# Sharded sweeps (docs/scale.md): the tests start a single-node Slurm (munge for its
# authentication) on localhost, and run the same shards with GNU parallel.
$SUDO apt-get install -y -qq --no-install-recommends slurm-wlm munge parallel >/dev/null
echo "setup: dependencies installed"

# node-llama-cpp 3.21.1 (test-only, tests/test_gguf_llama.cpp): llama.cpp's prebuilt
# linux-x64 CPU binary, the peer that runs kllens's GGUF exports. Node.js and npm from
# Debian when the machine has no node yet; the package needs Node >= 20 (Debian 12 ships
# 18, so a machine with only that fails here, loudly). `npm ci` installs exactly the
# lock file; --omit=optional skips the other platforms' and the CUDA/Vulkan binaries
# (tools/llama/package.json names the linux-x64 CPU one directly), and
# NODE_LLAMA_CPP_SKIP_DOWNLOAD keeps its postinstall from fetching or building llama.cpp.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  echo "setup: node-llama-cpp 3.21.1 needs Node.js >= 20, this machine has $(node --version)" >&2
  exit 1
fi
if ! (cd "$(dirname "$0")/../tools/llama" &&
      NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --omit=optional --no-audit --no-fund --loglevel=error &&
      node -e 'import("node-llama-cpp").then(async (m) => { await m.getLlama({gpu: false, build: "never"}); })'); then
  echo "setup: node-llama-cpp@3.21.1 could not be installed into tools/llama (see above)" >&2
  exit 1
fi
echo "setup: node-llama-cpp installed (llama.cpp's prebuilt CPU binary)"
