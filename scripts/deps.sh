#!/usr/bin/env bash
# Installs the Debian 12 packages sluice needs to build, test and run, when
# any is missing, and any further packages named as arguments (scripts/fuzz.sh
# adds Clang's). Safe to run repeatedly; needs root (or sudo) only when
# something has to be installed.
set -euo pipefail

SL_PACKAGES=(
  build-essential cmake pkg-config git python3
  openmpi-bin libopenmpi-dev libpmix-dev
  libhdf5-openmpi-dev hdf5-tools
  libopenblas-dev liblapacke-dev
  libssl-dev libfyaml-dev libjansson-dev zlib1g-dev libgtest-dev sqlite3 plink1.9
  slurm-wlm slurm-client munge libslurm-dev
  "$@"
)

missing=()
for p in "${SL_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "sluice: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
