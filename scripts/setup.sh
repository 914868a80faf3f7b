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
# Sharded sweeps (docs/scale.md): the tests start a single-node Slurm (munge for its
# authentication) on localhost, and run the same shards with GNU parallel.
$SUDO apt-get install -y -qq --no-install-recommends slurm-wlm munge parallel >/dev/null
echo "setup: dependencies installed"
