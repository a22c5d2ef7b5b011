#!/usr/bin/env bash
# nftables proxy sync benchmark (results and method: docs/benchmarks.md, "nftables sync").
#
#   bench/run-nftsync.sh [--quick]
#
# Builds bench/nftsync (release) and runs it as root inside a network namespace this script
# makes and deletes: N services × 10 endpoints programmed through the real `nft`, timed as a
# full sync and as partial syncs of one changed service. 1,000 services 3 times, 10,000 once
# (--quick: 1,000 once). Peak memory from /usr/bin/time. Then first-packet latency: 3,000
# TCP connects through one ClusterIP among 1, 1,000 and 10,000 services.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run-nftsync.sh needs root (it makes a network namespace)" >&2; exit 1; }
command -v nft >/dev/null || { echo "nft is required (Debian package nftables)" >&2; exit 1; }
cargo build --release -p nftsync
NS=knet-nftsync-$$
ip netns add "$NS"
trap 'ip netns delete "$NS" 2>/dev/null || true' EXIT
run() { ip netns exec "$NS" /usr/bin/time -f "peak_rss_kb=%M" target/release/nftsync "$@" 2>&1 | tr '\n' ' '; echo; }
if [ "${1:-}" = --quick ]; then
  run --services 1000 --endpoints 10 --changes 10
  exit 0
fi
for _ in 1 2 3; do run --services 1000 --endpoints 10 --changes 20; done
run --services 10000 --endpoints 10 --changes 10

# First-packet latency: connects through one ClusterIP among N services, each run in a fresh
# namespace (TIME_WAIT and conntrack state from earlier runs skew later ones).
fp() {
  local ns=knet-nftfp-$$
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" route add 10.96.0.0/12 dev lo
  ip netns exec "$ns" target/release/nftsync --services "$1" --first-packet 3000
  ip netns delete "$ns"
}
for _ in 1 2 3; do fp 1; fp 1000; done
fp 10000
fp 1
