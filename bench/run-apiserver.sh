#!/usr/bin/env bash
# API-server benchmarks for knet (results and method: docs/benchmarks.md).
#
#   bench/run-apiserver.sh [--quick] [--no-etcd]
#
# Builds release, then measures on 127.0.0.1 only, each on fresh knet processes and data dirs:
#   1. `knet up` to ready on an empty data dir (apiload startup; 10 runs + 1 warm-up)
#   2. `kubectl apply -f` of 1,000 Services: plain, --validate=false, --server-side (3 fresh
#      runs each)
#   3. single create / get latency at concurrency 1 and 8 (apiload latency; 3 fresh runs)
#   4. watch fan-out: 100 watchers, 1,000 creates (apiload watch; 3 fresh runs)
#   5. peak RSS (VmHWM) after 10,000 Services (3 fresh runs)
#   6. if etcd is installed and --no-etcd is not given: knet's store vs etcd 3.4, Service-sized
#      writes at concurrency 1 and 8 (apiload store / apiload etcd; 3 fresh runs)
# and prints a summary: the median over runs, with the smallest and largest run in brackets.
# --quick does one small run of each, as a smoke test. The whole script is killed after 45
# minutes; every step has its own timeout. Raw output lands in $BENCH_WORK
# (default target/bench-apiserver).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${APILOAD_BENCH_INNER:-}" ]; then
  APILOAD_BENCH_INNER=1 exec timeout --foreground -k 10 45m "$0" "$@"
fi

quick=0 etcd=1
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --no-etcd) etcd=0 ;;
    *) echo "usage: $0 [--quick] [--no-etcd]" >&2; exit 2 ;;
  esac
done
if [ "$quick" = 1 ]; then
  STARTUP_RUNS=3 RUNS=1 APPLY_N=200 CREATES=300 GETS=1000 WATCHERS=20 WATCH_WRITES=100 RSS_N=1000
else
  STARTUP_RUNS=10 RUNS=3 APPLY_N=1000 CREATES=2000 GETS=10000 WATCHERS=100 WATCH_WRITES=1000 RSS_N=10000
fi

command -v kubectl >/dev/null || { echo "kubectl is required" >&2; exit 1; }
echo "== building (release)"
cargo build --release -p knet -p apiload
KNET=$PWD/target/release/knet
APILOAD=$PWD/target/release/apiload
# Process bookkeeping, start_knet/stop_knet, kc, and the result helpers.
. bench/lib.sh
bench_work target/bench-apiserver

echo "== 1. knet up to ready (empty data dir, $STARTUP_RUNS runs + 1 warm-up)"
timeout 300 "$APILOAD" startup --knet "$KNET" --runs "$STARTUP_RUNS" --work "$WORK/startup" \
  | tee -a "$RESULTS"

echo "== 2. kubectl apply -f of $APPLY_N Services ($RUNS fresh runs per mode)"
manifest=$WORK/services.yaml
for i in $(seq 0 $((APPLY_N - 1))); do
  printf -- '---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%d\n  namespace: bench-apply\nspec:\n  type: ClusterIP\n  selector:\n    app: svc-%d\n  ports:\n  - port: 80\n    targetPort: 8080\n' "$i" "$i"
done >"$manifest"
# client: plain `kubectl apply -f`; novalidate: with --validate=false, which skips kubectl's
# per-object OpenAPI re-parse (kubernetes/kubernetes#127095); server: --server-side.
for mode in client novalidate server; do
  for run in $(seq "$RUNS"); do
    start_knet "apply-$mode-$run"
    mkdir -p "$KDIR-home"
    # Untimed: creates the namespace and fills kubectl's discovery cache. (`kubectl apply`
    # sends JSON; `kubectl create namespace` sends protobuf, which knet decodes only since
    # ebbf746.)
    printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-apply\n' \
      | kc apply -f - >/dev/null
    case "$mode" in
      client) flags=() ;;
      novalidate) flags=(--validate=false) ;;
      server) flags=(--server-side) ;;
    esac
    t0=$(date +%s%N)
    kc apply "${flags[@]}" -f "$manifest" >"$KDIR.apply.log"
    t1=$(date +%s%N)
    n=$(kc get services -n bench-apply -o name | wc -l)
    stop_knet
    [ "$n" = "$APPLY_N" ] || { echo "apply created $n of $APPLY_N Services" >&2; exit 1; }
    record "apply-$mode objects=$n secs=$(awk "BEGIN{printf \"%.3f\", ($t1-$t0)/1e9}")" \
      "rate_per_s=$(awk "BEGIN{printf \"%.0f\", $n/(($t1-$t0)/1e9)}")"
  done
done

echo "== 3. create/get latency ($CREATES creates, $GETS gets; $RUNS fresh runs)"
for run in $(seq "$RUNS"); do
  start_knet "latency-$run"
  for c in 1 8; do
    timeout 600 "$APILOAD" latency --kubeconfig "$KCFG" --namespace "lat-c$c" \
      --creates "$CREATES" --gets "$GETS" --concurrency "$c" | tee -a "$RESULTS"
  done
  stop_knet
done

echo "== 4. watch fan-out ($WATCHERS watchers, $WATCH_WRITES creates; $RUNS fresh runs)"
for run in $(seq "$RUNS"); do
  start_knet "watch-$run"
  timeout 300 "$APILOAD" watch --kubeconfig "$KCFG" --namespace watch \
    --watchers "$WATCHERS" --writes "$WATCH_WRITES" | tee -a "$RESULTS"
  stop_knet
done

echo "== 5. peak RSS after $RSS_N Services ($RUNS fresh runs)"
for run in $(seq "$RUNS"); do
  start_knet "rss-$run"
  base=$(awk '/^VmRSS/ {print $2}' "/proc/$KPID/status")
  timeout 600 "$APILOAD" latency --kubeconfig "$KCFG" --namespace rss \
    --creates "$RSS_N" --gets 0 --concurrency 8 >"$KDIR.fill.log"
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$KPID/status")
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$KPID/status")
  stop_knet
  record "rss services=$RSS_N ready_rss_mib=$((base / 1024)) hwm_mib=$((hwm / 1024))" \
    "rss_mib=$((rss / 1024))"
done

if [ "$etcd" = 1 ] && command -v etcd >/dev/null; then
  echo "== 6. store vs etcd: $CREATES Service-sized writes ($RUNS fresh runs)"
  for run in $(seq "$RUNS"); do
    for c in 1 8; do
      timeout 300 "$APILOAD" store --dir "$WORK/store-$run-c$c" --writes "$CREATES" \
        --concurrency "$c" | tee -a "$RESULTS"
      edir=$WORK/etcd-$run-c$c
      etcd --name bench --data-dir "$edir" \
        --listen-client-urls http://127.0.0.1:23790 --advertise-client-urls http://127.0.0.1:23790 \
        --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
        --initial-cluster bench=http://127.0.0.1:23800 --listen-metrics-urls http://127.0.0.1:23810 \
        </dev/null >"$edir.log" 2>&1 &
      EPID=$!
      PIDS+=("$EPID")
      for _ in $(seq 100); do
        ETCDCTL_API=3 timeout 5 etcdctl --endpoints 127.0.0.1:23790 endpoint health \
          >/dev/null 2>&1 && break
        sleep 0.1
      done
      timeout 300 "$APILOAD" etcd --endpoint 127.0.0.1:23790 --writes "$CREATES" \
        --concurrency "$c" | tee -a "$RESULTS"
      stop_pid "$EPID"
    done
  done
else
  echo "== 6. store vs etcd: skipped"
fi

cat <<EOF

== summary: median over runs (min–max of the runs); times in ms
knet up to ready ($STARTUP_RUNS runs): $(grep '^startup runs=' "$RESULTS" | cut -d' ' -f3-)   goal median < 300
kubectl apply -f:                    $(summary apply-client rate_per_s 0) objects/s
kubectl apply --validate=false -f:   $(summary apply-novalidate rate_per_s 0) objects/s
kubectl apply --server-side -f:      $(summary apply-server rate_per_s 0) objects/s
create c=1   p50 $(summary "create concurrency=1" p50_ms)  p99 $(summary "create concurrency=1" p99_ms)  max $(summary "create concurrency=1" max_ms)   goal p99 < 10
create c=8   p50 $(summary "create concurrency=8" p50_ms)  p99 $(summary "create concurrency=8" p99_ms)  max $(summary "create concurrency=8" max_ms)   goal p99 < 10
get    c=1   p50 $(summary "get concurrency=1" p50_ms)  p99 $(summary "get concurrency=1" p99_ms)  max $(summary "get concurrency=1" max_ms)   goal p99 < 2
get    c=8   p50 $(summary "get concurrency=8" p50_ms)  p99 $(summary "get concurrency=8" p99_ms)  max $(summary "get concurrency=8" max_ms)   goal p99 < 2
create/s     c=1 $(summary "create concurrency=1" rate_per_s 0)  c=8 $(summary "create concurrency=8" rate_per_s 0)
get/s        c=1 $(summary "get concurrency=1" rate_per_s 0)  c=8 $(summary "get concurrency=8" rate_per_s 0)
watch, from ack    p50 $(summary watch from_ack_p50_ms)  p99 $(summary watch from_ack_p99_ms)  max $(summary watch from_ack_max_ms)
watch, from send   p50 $(summary watch from_send_p50_ms)  p99 $(summary watch from_send_p99_ms)  max $(summary watch from_send_max_ms)
watch, delivered   $(summary watch delivered 0) of $((WATCHERS * WATCH_WRITES))
RSS (MiB) after $RSS_N Services: VmHWM $(summary rss hwm_mib 0)  VmRSS $(summary rss rss_mib 0)  at ready $(summary rss ready_rss_mib 0)
store write  c=1 p50 $(summary "store-write concurrency=1" p50_ms)  p99 $(summary "store-write concurrency=1" p99_ms)  rate $(summary "store-write concurrency=1" rate_per_s 0)/s
store write  c=8 p50 $(summary "store-write concurrency=8" p50_ms)  p99 $(summary "store-write concurrency=8" p99_ms)  rate $(summary "store-write concurrency=8" rate_per_s 0)/s
etcd put     c=1 p50 $(summary "etcd-put concurrency=1" p50_ms)  p99 $(summary "etcd-put concurrency=1" p99_ms)  rate $(summary "etcd-put concurrency=1" rate_per_s 0)/s
etcd put     c=8 p50 $(summary "etcd-put concurrency=8" p50_ms)  p99 $(summary "etcd-put concurrency=8" p99_ms)  rate $(summary "etcd-put concurrency=8" rate_per_s 0)/s
raw results: $RESULTS
EOF
