#!/usr/bin/env bash
# Ingress programming benchmark: with 1,000 Ingresses of 10 paths each (10,000 paths) loaded,
# how long from an Ingress write's acknowledgement until the ingress serves the change, and how
# much memory the controller holds (results and method: docs/benchmarks.md, "Ingress
# programming").
#
#   bench/run-ingprog.sh                      # needs kubectl
#   KNET=path/to/knet bench/run-ingprog.sh    # use that binary (no build)
#
# 1. `knet up` (loopback, release) serves the API; its own ingress controller runs too.
# 2. `knet ingress --kubeconfig` runs the controller alone in a second process, so its memory
#    is its own (the API server and store live in the first).
# 3. `apiload ingprog`: two loopback backends answering `a` and `b` behind Services a and b;
#    1,000 Ingresses (host hN.example, paths /p0../p9) created by server-side apply; then
#    ROUNDS times one Ingress's /p0 is flipped between a and b and the standalone controller is
#    polled every 0.5 ms (a new connection each time) until it answers with the new backend.
# 4. The controller's VmHWM (peak RSS) and VmRSS from /proc.
# Raw output: $BENCH_WORK (default target/bench-ingprog).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3} ROUNDS=${ROUNDS:-50}
command -v kubectl >/dev/null || { echo "kubectl is required" >&2; exit 1; }
if [ -z "${KNET:-}" ]; then
  cargo build --release -p knet -p apiload
  KNET=$PWD/target/release/knet
fi
APILOAD=${APILOAD:-$PWD/target/release/apiload}
. bench/lib.sh
bench_work target/bench-ingprog

KNET_ARGS="--http-addr 127.0.0.1:0 --https-addr 127.0.0.1:0 --dns-addr 127.0.0.1:0"
start_knet ingprog

echo "== the controller alone (knet ingress)"
# It publishes the address knet up's own controller publishes, so the two agree on each
# Ingress's status instead of rewriting it in turn.
"$KNET" ingress --kubeconfig "$KCFG" --http-addr 127.219.0.2:0 --https-addr 127.219.0.2:0 \
  --metrics-addr 127.219.0.2:0 --publish-address 127.0.0.1 >"$WORK/ingress.stdout" 2>"$WORK/ingress.stderr" &
IPID=$!
PIDS+=("$IPID")
line=""
for _ in $(seq 100); do
  line=$(grep -m1 '^knet: ready' "$WORK/ingress.stdout" || true)
  [ -n "$line" ] && break
  sleep 0.1
done
[ -n "$line" ] || { echo "knet ingress did not start:" >&2; cat "$WORK/ingress.stderr" >&2; exit 1; }
HTTP=$(echo "$line" | field http)
record "controller_at_start $(grep -E 'VmRSS|VmHWM' /proc/$IPID/status | tr -s ' \t' ' ' | tr '\n' ' ')"

for run in $(seq "$RUNS"); do
  echo "== run $run: 1,000 Ingresses x 10 paths, $ROUNDS changes"
  record "$("$APILOAD" ingprog --kubeconfig "$KCFG" --ingress "$HTTP" --namespace ingprog \
    --ingresses 1000 --paths 10 --rounds "$ROUNDS")"
  record "controller_after_run run=$run $(grep -E 'VmRSS|VmHWM' /proc/$IPID/status | tr -s ' \t' ' ' | tr '\n' ' ')"
done
record "knet_up_after_runs $(grep -E 'VmRSS|VmHWM' /proc/$KPID/status | tr -s ' \t' ' ' | tr '\n' ' ')"

echo
echo "== summary (median (min–max) over runs)"
echo "change → served p50 ms: $(summary ingprog p50_ms 1)"
echo "change → served p99 ms: $(summary ingprog p99_ms 1)"
echo "load of 1,000 Ingresses ms: $(summary ingprog load_ms 0)"
grep '^controller_after_run\|^knet_up_after' "$RESULTS"
METRICS=$(echo "$line" | field metrics)
curl -s "http://$METRICS/metrics" | grep '^knet_ingress_rebuild_duration_seconds' >"$WORK/rebuild.txt" || true
echo "rebuilds of the standalone controller (seconds, cumulative buckets):"
cat "$WORK/rebuild.txt"
