#!/usr/bin/env bash
# Cluster DNS benchmark: knet's DNS against Knot DNS serving the same records from a static
# zone, both loaded with dnsperf in one run (results and method: docs/benchmarks.md, "Cluster
# DNS").
#
#   bench/run-dns.sh            # needs dnsperf, knot (knotd), kubectl, dig
#   KNET=path/to/knet bench/run-dns.sh   # use that binary (no build)
#
# 1. knet up (loopback, release) with 1,000 Services in namespace `bench`: 500 ClusterIP and
#    500 headless, each with an EndpointSlice of 10 ready endpoints (10,000 endpoints).
# 2. knotd on 127.0.0.1 with zone cluster.local holding the same answers: an A record per
#    ClusterIP Service, 10 A records per headless Service.
# 3. RUNS rounds, the two servers in turn: `dnsperf -c 20 -T 1 -l DURATION` over the 1,000
#    names (A queries) → queries per second.
# 4. p99 latency at 80 % of each server's median peak: `dnsperf -Q RATE -v`, per-query
#    latencies from the verbose lines.
# Before 2: DNS programming latency, `apiload dnsprog` (an EndpointSlice server-side apply of a
# new address → the first answer with it, polled every 0.5 ms), 3 × 50 changes.
# dnsperf shares the 2 cores with the server, so the same-run ratio is the figure that counts.
# Raw output: $BENCH_WORK (default target/bench-dns).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3} DURATION=${DURATION:-10}
for cmd in dnsperf knotd kubectl dig python3; do
  command -v "$cmd" >/dev/null || {
    echo "$cmd is required (apt-get install -y dnsperf knot dnsutils)" >&2
    exit 1
  }
done
if [ -z "${KNET:-}" ]; then
  cargo build --release -p knet -p apiload
  KNET=$PWD/target/release/knet
fi
APILOAD=${APILOAD:-$PWD/target/release/apiload}
. bench/lib.sh
bench_work target/bench-dns

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
KNET_DNS=$(free_port)
KNOT_PORT=$(free_port)
KNET_ARGS="--dns-addr 127.0.0.1:$KNET_DNS --http-addr 127.0.0.1:0 --https-addr 127.0.0.1:0 --upstream 127.0.0.1:9"
start_knet dns

echo "== 1,000 Services, 10,000 endpoints"
python3 - "$WORK/objects.yaml" <<'EOF'
import sys
out = ["apiVersion: v1\nkind: Namespace\nmetadata: {name: bench}\n"]
for i in range(1000):
    headless = i % 2 == 1
    out.append(
        "apiVersion: v1\nkind: Service\nmetadata: {name: svc-%d, namespace: bench}\nspec:\n"
        "%s  ports: [{name: http, port: 80}]\n" % (i, "  clusterIP: None\n" if headless else ""))
    eps = "".join('- addresses: ["10.%d.%d.%d"]\n' % (100 + i // 250, i % 250, e + 1) for e in range(10))
    out.append(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: svc-%d-1\n"
        "  namespace: bench\n  labels: {kubernetes.io/service-name: svc-%d}\naddressType: IPv4\n"
        "ports: [{name: http, port: 8080}]\nendpoints:\n%s" % (i, i, eps))
open(sys.argv[1], "w").write("---\n".join(out))
EOF
kc apply -f "$WORK/objects.yaml" >/dev/null
for _ in $(seq 100); do
  n=$(dig @127.0.0.1 -p "$KNET_DNS" +short svc-999.bench.svc.cluster.local | wc -l)
  [ "$n" = 10 ] && break
  sleep 0.2
done
[ "$n" = 10 ] || { echo "knet DNS never answered svc-999" >&2; exit 1; }

echo "== DNS programming: an EndpointSlice write → the new address answered (3 × 50 changes)"
for _ in 1 2 3; do
  record "$("$APILOAD" dnsprog --kubeconfig "$KCFG" --dns "127.0.0.1:$KNET_DNS" --rounds 50)"
done

echo "== the same records in a static zone for knotd"
kc get svc -n bench -o jsonpath='{range .items[*]}{.metadata.name} {.spec.clusterIP}{"\n"}{end}' >"$WORK/ips.txt"
python3 - "$WORK" <<'EOF'
import sys
work = sys.argv[1]
z = ["$ORIGIN cluster.local.", "$TTL 5",
     "@ SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5",
     "@ NS ns.dns.cluster.local.", "ns.dns A 127.0.0.1"]
names = []
for line in open(work + "/ips.txt"):
    name, ip = line.split()
    i = int(name.split("-")[1])
    owner = "%s.bench.svc" % name
    names.append(owner + ".cluster.local")
    if ip == "None":
        for e in range(10):
            z.append("%s A 10.%d.%d.%d" % (owner, 100 + i // 250, i % 250, e + 1))
    else:
        z.append("%s A %s" % (owner, ip))
open(work + "/cluster.local.zone", "w").write("\n".join(z) + "\n")
open(work + "/queries.txt", "w").write("".join("%s A\n" % n for n in sorted(names)))
EOF
mkdir -p "$WORK/knot"
cat >"$WORK/knot.conf" <<EOF
server:
    rundir: "$WORK/knot"
    listen: 127.0.0.1@$KNOT_PORT
database:
    storage: "$WORK/knot"
log:
  - target: stderr
    any: warning
zone:
  - domain: cluster.local
    file: "$WORK/cluster.local.zone"
EOF
knotd -c "$WORK/knot.conf" >"$WORK/knot.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 50); do
  dig @127.0.0.1 -p "$KNOT_PORT" +short svc-0.bench.svc.cluster.local | grep -q . && break
  sleep 0.1
done
# Both must give the same answers.
for name in svc-0 svc-1 svc-998 svc-999; do
  a=$(dig @127.0.0.1 -p "$KNET_DNS" +short "$name.bench.svc.cluster.local" | sort)
  b=$(dig @127.0.0.1 -p "$KNOT_PORT" +short "$name.bench.svc.cluster.local" | sort)
  [ "$a" = "$b" ] || { echo "knet and knot disagree on $name: [$a] vs [$b]" >&2; exit 1; }
done
KNOT_PID=${PIDS[-1]}

port_of() { if [ "$1" = knet ]; then echo "$KNET_DNS"; else echo "$KNOT_PORT"; fi; }
pid_of() { if [ "$1" = knet ]; then echo "$KPID"; else echo "$KNOT_PID"; fi; }

echo "== $RUNS rounds of peak rate (dnsperf -c 20 -T 1 -l $DURATION)"
for run in $(seq "$RUNS"); do
  order="knet knot"
  [ $((run % 2)) = 0 ] && order="knot knet"
  for t in $order; do
    before=$(ticks "$(pid_of "$t")")
    out=$(dnsperf -s 127.0.0.1 -p "$(port_of "$t")" -d "$WORK/queries.txt" -c 20 -T 1 -l "$DURATION" -q 500 2>&1)
    after=$(ticks "$(pid_of "$t")")
    echo "$out" >"$WORK/peak-$t-$run.txt"
    qps=$(echo "$out" | sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p')
    lost=$(echo "$out" | sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p')
    avg=$(echo "$out" | sed -n 's/.*Average Latency (s): *\([0-9.]*\).*/\1/p')
    cpu=$(( (after - before) * 100 / $(getconf CLK_TCK) / DURATION ))
    record "peak target=$t run=$run qps=$qps lost=$lost avg_latency_s=$avg server_cpu_pct=$cpu"
  done
done

p99() { # LABEL PORT RATE
  dnsperf -s 127.0.0.1 -p "$2" -d "$WORK/queries.txt" -c 20 -T 1 -l "$DURATION" -Q "$3" -v 2>/dev/null \
    | awk '$1 == ">" {print $NF}' | sort -g | awk -v label="$1" -v rate="$3" \
      '{a[NR]=$1} END {if (NR == 0) {print label " rate=" rate " n=0"; exit}
        printf "%s rate=%d n=%d p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f\n", label, rate, NR,
          a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000, a[int(NR*0.999)]*1000}'
}
echo "== p99 latency at 80 % of each server's median peak"
for t in knet knot; do
  peak=$(grep "^peak target=$t " "$RESULTS" | field qps | agg 0 | cut -d' ' -f1)
  rate=$(awk -v p="$peak" 'BEGIN {printf "%d", p * 0.8}')
  record "$(p99 "latency target=$t" "$(port_of "$t")" "$rate")"
done

echo
echo "== summary (median (min–max) of $RUNS rounds)"
for t in knet knot; do
  echo "$t: $(summary "peak target=$t" qps 0) q/s, server CPU $(summary "peak target=$t" server_cpu_pct 0) %," \
    "p99 at 80 %: $(grep "^latency target=$t " "$RESULTS" | field p99_ms) ms"
done
echo "dns programming p99 per run: $(grep '^dnsprog ' "$RESULTS" | field p99_ms | tr '\n' ' ')ms"
kq=$(summary "peak target=knet" qps 0 | cut -d' ' -f1)
nq=$(summary "peak target=knot" qps 0 | cut -d' ' -f1)
echo "knet/knot = $(awk -v a="$kq" -v b="$nq" 'BEGIN {printf "%.2f", a / b}')  (goal ≥ 0.80)"
echo "raw results: $RESULTS"
