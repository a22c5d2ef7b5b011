#!/usr/bin/env bash
# Runs knet's whole test suite. As root it first installs, from Debian's packages, whatever
# tool the tests use and the machine lacks; without root it says what is missing and the
# tests that need it fail loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A package_of=(
  [curl]=curl [openssl]=openssl [dig]=dnsutils [nft]=nftables [iptables]=iptables
  [conntrack]=conntrack [ip]=iproute2 [pgrep]=procps [tcpdump]=tcpdump [arping]=iputils-arping
  [script]=bsdutils
)
missing=()
for tool in "${!package_of[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${package_of[$tool]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "test.sh: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "test.sh: not root, so not installing: ${missing[*]} (tests that need them will fail)" >&2
  fi
fi
if ! command -v kubectl >/dev/null 2>&1; then
  echo "test.sh: kubectl is required (the end-to-end tests drive the real kubectl)" >&2
  exit 1
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --bins
cargo test --workspace
