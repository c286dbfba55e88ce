#!/usr/bin/env bash
# Installs everything returnflow needs to build, test (with the sanitizers and fuzzers too) and benchmark
# on Debian 12.
# Idempotent: when every package is already present it only runs dpkg-query and exits.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-system1.81-dev
  libsoci-dev libpq-dev libsqlite3-dev sqlite3
  libspdlog-dev libfmt-dev catch2 libcli11-dev libtomlplusplus-dev prometheus-cpp-dev libssl-dev
  postgresql postgresql-contrib curl
  # scripts/sanitize.sh and scripts/fuzz.sh: clang, its sanitizer and libFuzzer runtimes (libclang-rt-14-dev,
  # which clang-14 does not depend on), llvm-symbolizer for readable reports (llvm-14), and ccache.
  clang-14 libclang-rt-14-dev llvm-14 ccache
)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if ((EUID != 0)); then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
