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
echo "setup: dependencies installed"
