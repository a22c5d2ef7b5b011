#!/usr/bin/env bash
# Workload benchmarks for knet's node agent and EndpointSlice controller (results and method:
# docs/benchmarks.md, "Pods").
#
#   bench/run-pods.sh [--quick]
#
# Builds release, then, on fresh knet processes and data dirs, in each network mode (netns
# only as root, inside a network namespace this script makes and deletes):
#   1. apiload pods: a Deployment of `knet echo` pods behind a Service, scaled 1 → 100 → 1
#      (5 fresh runs): time until all 100 are Ready and in the EndpointSlice, and per pod the
#      delay from its Ready being observed to its ready endpoint being observed;
#   2. with 100 pods running: knet's RSS against the same knet with none (per-pod agent
#      overhead), the median RSS of one `knet echo` pod, and CPU over 10 s of idling;
#   3. apiload routable: network programming latency as a client sees it, from a pod seen
#      Ready to the first answer through its ClusterIP (the proxy of the mode: userspace in
#      loopback, nftables in netns).
# There is no peer here: kubelet and containerd are not packaged in Debian.
# Prints a summary (median, with the smallest and largest run in brackets). Only 127.0.0.0/8
# and addresses inside the script's own namespace are used. Raw output: $BENCH_WORK
# (default target/bench-pods).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${PODS_BENCH_INNER:-}" ]; then
  PODS_BENCH_INNER=1 exec timeout --foreground -k 10 30m "$0" "$@"
fi

RUNS=5 N=100
case "${1:-}" in
  --quick) RUNS=1 N=30 ;;
  "") ;;
  *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac

command -v kubectl >/dev/null || { echo "kubectl is required" >&2; exit 1; }
echo "== building (release)"
cargo build --release -p knet -p apiload
KNET=$PWD/target/release/knet
APILOAD=$PWD/target/release/apiload
# Process bookkeeping, start_knet/stop_knet, kc, and the result helpers.
. bench/lib.sh
bench_work target/bench-pods

modes=(loopback)
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
  modes+=(netns)
else
  echo "(not root: the netns mode is not measured)"
fi
NS=knet-bench-$$
netns_cleanup() {
  cleanup
  ip netns delete "$NS" 2>/dev/null || true
}
trap netns_cleanup EXIT

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

for mode in "${modes[@]}"; do
  if [ "$mode" = netns ]; then
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    export KNET_NETNS=$NS KNET_ARGS="--pod-cidr 10.211.0.0/16"
  else
    unset KNET_NETNS
    export KNET_ARGS="--pod-cidr 127.211.0.0/16"
  fi

  echo "== $mode: 1. scale 1 → $N → 1 ($RUNS fresh runs)"
  for run in $(seq "$RUNS"); do
    start_knet "$mode-scale-$run"
    out=$(in_ns "$APILOAD" pods --kubeconfig "$KCFG" --replicas "$N")
    record "pods-$mode $out"
    stop_knet
  done

  echo "== $mode: 2. RSS and idle CPU with $N pods ($RUNS fresh runs)"
  for run in $(seq "$RUNS"); do
    start_knet "$mode-rss-$run"
    mkdir -p "$KDIR-home"
    sleep 2
    base=$(rss_kb "$KPID")
    kc create deployment idle --image=knet/echo --replicas="$N" --port=80 >/dev/null
    kc rollout status deploy/idle --timeout=120s >/dev/null
    sleep 3
    full=$(rss_kb "$KPID")
    pods=$(pgrep -f "echo --listen" -P "$KPID" || true)
    pod_rss=$(for p in $pods; do rss_kb "$p"; done | agg 0 | cut -d' ' -f1)
    t0=$(ticks "$KPID")
    # shellcheck disable=SC2086
    p0=$(ticks $pods)
    sleep 10
    t1=$(ticks "$KPID")
    # shellcheck disable=SC2086
    p1=$(ticks $pods)
    hz=$(getconf CLK_TCK)
    record "rss-$mode pods=$(echo "$pods" | wc -w) base_kb=$base full_kb=$full" \
      "per_pod_kb=$(( (full - base) / N )) echo_rss_kb=$pod_rss" \
      "idle_cpu_pct=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN {printf "%.2f", (b-a)*100/hz/10}')" \
      "pods_idle_cpu_pct=$(awk -v a="$p0" -v b="$p1" -v hz="$hz" 'BEGIN {printf "%.2f", (b-a)*100/hz/10}')"
    stop_knet
  done
  echo "== $mode: 3. pod Ready → routable through the ClusterIP (3 fresh runs × 20 rounds)"
  for run in $(seq 3); do
    start_knet "$mode-routable-$run"
    out=$(in_ns "$APILOAD" routable --kubeconfig "$KCFG" --rounds 20)
    record "routable-$mode $out"
    stop_knet
  done
  if [ "$mode" = netns ]; then
    ip netns delete "$NS"
  fi
done

echo
echo "== summary: median (min–max) over runs"
for mode in "${modes[@]}"; do
  echo "$mode:"
  echo "  all $N Ready:               $(summary "pods-$mode" all_ready_ms 0) ms"
  echo "  all $N in the slice:        $(summary "pods-$mode" all_in_slice_ms 0) ms"
  echo "  Ready → endpoint p50:       $(summary "pods-$mode" ready_to_endpoint_p50_ms 0) ms"
  echo "  Ready → endpoint p99:       $(summary "pods-$mode" ready_to_endpoint_p99_ms 0) ms"
  echo "  back to 1 in the slice:     $(summary "pods-$mode" down_slice_ms 0) ms"
  echo "  knet RSS per pod:           $(summary "rss-$mode" per_pod_kb 0) KiB"
  echo "  one knet echo pod RSS:      $(summary "rss-$mode" echo_rss_kb 0) KiB"
  echo "  knet idle CPU ($N pods):    $(summary "rss-$mode" idle_cpu_pct 2) %"
  echo "  pods' idle CPU, all $N:     $(summary "rss-$mode" pods_idle_cpu_pct 2) %"
  echo "  Ready → routable p50:       $(summary "routable-$mode" ready_to_routable_p50_ms 1) ms"
  echo "  Ready → routable p99:       $(summary "routable-$mode" ready_to_routable_p99_ms 1) ms"
done
