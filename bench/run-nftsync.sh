#!/usr/bin/env bash
# nftables proxy sync benchmark (results and method: docs/benchmarks.md, "nftables sync").
#
#   bench/run-nftsync.sh [--quick]
#
# Builds bench/nftsync (release) and runs it as root inside a network namespace this script
# makes and deletes: N services × 10 endpoints programmed through the real `nft`, timed as a
# full sync and as partial syncs of one changed service. 1,000 services 3 times, 10,000 twice
# (--quick: 1,000 once). Peak memory from /usr/bin/time. Then first-packet latency: 20,000
# TCP connects per size through one ClusterIP among 1, 1,000 and 10,000 services, 3 runs.
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
for _ in 1 2; do run --services 10000 --endpoints 10 --changes 10; done

# First-packet latency: connects through one ClusterIP among 1, 1,000 and 10,000 services,
# each size in a network namespace of its own (made and deleted by nftsync), the sizes taking
# turns connect by connect so that drift on this shared machine hits them alike. 3 runs.
for _ in 1 2 3; do target/release/nftsync --first-packet 20000 --sizes 1,1000,10000; done
