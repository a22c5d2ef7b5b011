#!/usr/bin/env bash
# Service proxy benchmark: knet's userspace relay (`--proxy-mode userspace`) against nginx
# reached directly, HAProxy in TCP mode, and the kernel's nftables DNAT (results and method:
# docs/benchmarks.md, "Service proxy: userspace mode").
#
#   bench/run-proxy.sh          # as root; needs wrk, nginx, haproxy, nft, kubectl, curl
#   KNET=path/to/knet bench/run-proxy.sh   # use that binary (no build)
#
# Without KNET it builds release (target/release/knet). Everything runs inside one network
# namespace the script makes and deletes (`knet-pbench-PID`), on 127.0.0.0/8 only:
#   - nginx (1 worker, no access log) on 127.215.0.1:8080 serving /small (1 KiB) and /big
#     (10 MiB) from a temp dir: the backend every target ends at;
#   - knet up --network loopback --proxy-mode userspace, with a selectorless Service `bench`
#     (port 80 → 8080) and a hand-written EndpointSlice pointing at nginx: target ClusterIP:80;
#   - HAProxy (mode tcp, nbthread 1) on 127.216.0.1:80 → nginx;
#   - an nft table DNATing 127.217.0.1:80 → nginx in a nat output hook. Its DNAT goes to a
#     second listen address of the same nginx, 127.215.0.2:8080: see NFT_BACKEND below.
# Then, for RUNS runs, interleaved (each run measures every target once, in an order rotated
# per run), with wrk inside the namespace:
#   1. bulk: `wrk -t2 -c4 -d8s http://TARGET/big` → Transfer/sec in MB/s (10^6 bytes);
#   2. short connections: `wrk -t2 -c50 -d8s -H 'Connection: close' http://TARGET/small`
#      → Requests/sec.
# Each run also records the CPU the proxy process (knet or haproxy) and nginx's worker used
# during it, and the namespace's TcpExt PAWSTimewait and TCPSynRetrans counters (a SYN
# refused by a TIME_WAIT socket costs its connection a 1 s retransmit).
# Prints a summary: median (min–max) per target and the ratios knet/direct and knet/haproxy.
# The whole script is killed after 20 minutes. Raw output: $BENCH_WORK
# (default target/bench-proxy).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${PROXY_BENCH_INNER:-}" ]; then
  PROXY_BENCH_INNER=1 exec timeout --foreground -k 10 20m "$0" "$@"
fi

RUNS=${RUNS:-5} DURATION=${DURATION:-8s}
case "${1:-}" in
  --quick) RUNS=1 DURATION=3s ;;
  "") ;;
  *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac

[ "$(id -u)" = 0 ] || { echo "must run as root (it makes a network namespace)" >&2; exit 1; }
for cmd in ip wrk nginx haproxy nft kubectl curl; do
  command -v "$cmd" >/dev/null || {
    echo "$cmd is required (apt-get install -y wrk haproxy nginx-light nftables)" >&2
    exit 1
  }
done

if [ -z "${KNET:-}" ]; then
  echo "== building (release)"
  cargo build --release -p knet
  KNET=$PWD/target/release/knet
fi
KNET=$(cd "$(dirname "$KNET")" && pwd)/$(basename "$KNET")
# Process bookkeeping (PIDS, stop_pid) and the result helpers.
. bench/lib.sh
bench_work target/bench-proxy

NS=knet-pbench-$$
WWW=$(mktemp -d /tmp/knet-pbench-www.XXXXXX)
proxy_cleanup() {
  for pid in "${PIDS[@]}"; do
    stop_pid "$pid"
  done
  ip netns delete "$NS" 2>/dev/null || true
  rm -rf "$WWW"
}
trap proxy_cleanup EXIT

# In the namespace. Not for background processes: `ns cmd &` would fork a subshell, and
# killing $! would leave cmd running; `ip netns exec NS cmd &` execs, so $! is cmd.
ns() { ip netns exec "$NS" "$@"; }
# "PAWSTimewait TCPSynRetrans" of the namespace, from /proc/net/netstat (per namespace).
tcpext() {
  ns awk '/^TcpExt:/ {
    if (!h) { for (i = 2; i <= NF; i++) k[$i] = i; h = 1; next }
    print $k["PAWSTimewait"], $k["TCPSynRetrans"] }' /proc/net/netstat
}
HZ=$(getconf CLK_TCK)

BACKEND=127.215.0.1:8080 HAPROXY_ADDR=127.216.0.1:80 NFT_ADDR=127.217.0.1:80
# The DNAT's destination: the same nginx, on a second address. With the DNAT to $BACKEND, the
# short-connection runs disturb each other: nginx closes first, so its TIME_WAIT sockets are
# keyed (nginx address, 127.0.0.1:client port), and the DNATed connections use another TCP
# timestamp offset than connections made to $BACKEND itself (Linux derives it from the
# addresses before NAT). A SYN reusing the port of a TIME_WAIT socket left by the other kind
# is refused by PAWS (TcpExtPAWSTimewait) and retried 1 s later, so direct, knet and haproxy
# runs after an nft run (and the reverse) lost up to half their rate.
NFT_BACKEND=127.215.0.2:8080

echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# head: the checkout's commit when the script ran (not necessarily what KNET was built from).
record "env loadavg=$(cut -d' ' -f1 /proc/loadavg) knet=$KNET head=$(git log -1 --format=%h 2>/dev/null || echo unknown)"

ip netns add "$NS"
ip -n "$NS" link set lo up

echo "== nginx on $BACKEND"
chmod 755 "$WWW"
head -c 1024 /dev/urandom >"$WWW/small"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$WWW/big"
chmod 644 "$WWW/small" "$WWW/big"
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 10000; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  default_type application/octet-stream;
  server {
    listen $BACKEND;
    listen $NFT_BACKEND;
    root $WWW;
  }
}
EOF
ip netns exec "$NS" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" </dev/null \
  >"$WORK/nginx/stdout" 2>"$WORK/nginx/stderr" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
NGINX_WORKER=""
for _ in $(seq 50); do
  NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1 || true)
  [ -n "$NGINX_WORKER" ] && break
  sleep 0.1
done
[ -n "$NGINX_WORKER" ] || { echo "nginx did not start:" >&2; cat "$WORK/nginx/stderr" "$WORK/nginx/error.log" >&2; exit 1; }

echo "== knet up (userspace proxy)"
KNET_NETNS=$NS KNET_NETWORK=loopback \
  KNET_ARGS="--proxy-mode userspace --pod-cidr 127.212.0.0/24 --service-cidr 127.213.0.0/24 --node-ip 127.214.0.1 --lb-pool 127.214.0.128/25" \
  start_knet proxy
mkdir -p "$KDIR-home"
kc() { ns env HOME="$KDIR-home" timeout 120 kubectl --kubeconfig "$KDIR/kubeconfig" "$@"; }
kc apply -f - <<EOF
apiVersion: v1
kind: Service
metadata:
  name: bench
spec:
  ports:
  - port: 80
    targetPort: 8080
    protocol: TCP
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: bench-1
  labels:
    kubernetes.io/service-name: bench
addressType: IPv4
ports:
- name: ""
  port: 8080
  protocol: TCP
endpoints:
- addresses: ["127.215.0.1"]
EOF
CLUSTER_IP=$(kc get svc bench -o jsonpath='{.spec.clusterIP}')
[ -n "$CLUSTER_IP" ] || { echo "Service bench has no ClusterIP" >&2; exit 1; }
KNET_ADDR=$CLUSTER_IP:80

echo "== haproxy on $HAPROXY_ADDR"
mkdir -p "$WORK/haproxy"
# maxconn 9000, not 10000: HAProxy wants 2 fds per connection plus a few, and refuses to
# start when that is over the hard RLIMIT_NOFILE (20000 here). The runs use at most 50.
cat >"$WORK/haproxy/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 9000
defaults
  mode tcp
  maxconn 9000
  timeout connect 30s
  timeout client 30s
  timeout server 30s
frontend bench
  bind $HAPROXY_ADDR
  default_backend nginx
backend nginx
  server nginx $BACKEND
EOF
ip netns exec "$NS" haproxy -db -f "$WORK/haproxy/haproxy.cfg" </dev/null \
  >"$WORK/haproxy/stdout" 2>"$WORK/haproxy/stderr" &
HAPROXY_PID=$!
PIDS+=("$HAPROXY_PID")

echo "== nft DNAT $NFT_ADDR → $NFT_BACKEND"
ns nft -f - <<EOF
table ip knet_pbench {
  chain output {
    type nat hook output priority -100; policy accept;
    ip daddr ${NFT_ADDR%:*} tcp dport ${NFT_ADDR#*:} dnat to $NFT_BACKEND
  }
}
EOF

# Every target must serve /small before measuring (knet: once the proxy has synced).
check() {
  local name=$1 addr=$2
  for _ in $(seq 300); do
    if ns curl -sf -o /dev/null --max-time 2 "http://$addr/small"; then
      echo "  $name ($addr): ok"
      return 0
    fi
    sleep 0.1
  done
  echo "$name ($addr) does not serve /small:" >&2
  ns curl -sv --max-time 2 "http://$addr/small" -o /dev/null >&2 || true
  return 1
}
check direct "$BACKEND"
check knet "$KNET_ADDR"
check haproxy "$HAPROXY_ADDR"
if ! check nft "$NFT_ADDR"; then
  echo "  retrying with net.ipv4.conf.all.route_localnet=1 in the namespace"
  ns sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.lo.route_localnet=1
  check nft "$NFT_ADDR"
fi
# The bytes must come through whole.
for addr in "$BACKEND" "$NFT_BACKEND" "$KNET_ADDR" "$HAPROXY_ADDR" "$NFT_ADDR"; do
  got=$(ns curl -sf --max-time 10 "http://$addr/big" | cksum)
  [ "$got" = "$(cksum <"$WWW/big")" ] || { echo "$addr: /big differs" >&2; exit 1; }
done

declare -A ADDR=([direct]=$BACKEND [knet]=$KNET_ADDR [haproxy]=$HAPROXY_ADDR [nft]=$NFT_ADDR)
declare -A PROXY_PID=([knet]=$KPID [haproxy]=$HAPROXY_PID)
TARGETS=(direct knet haproxy nft)

# to_mb VALUE: wrk's Transfer/sec (binary units: 1.51GB, 900.12MB) in MB/s (10^6 bytes).
to_mb() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "GB") ? 1024^3 : (u == "MB") ? 1024^2 : (u == "KB") ? 1024 : 1
    printf "%.1f", n * f / 1e6 }'
}

# measure KIND TARGET RUN WRK-ARGS...: one wrk run, recorded as a result line.
measure() {
  local kind=$1 target=$2 run=$3
  shift 3
  local pid=${PROXY_PID[$target]:-} out p0=0 p1=0 n0 n1 t0 t1
  if [ -n "$pid" ]; then p0=$(ticks "$pid"); fi
  n0=$(ticks "$NGINX_WORKER")
  t0=$(tcpext)
  m0=$(machine)
  out=$(ns timeout 60 wrk "$@" 2>&1) || { echo "$out" >&2; echo "wrk failed" >&2; exit 1; }
  m1=$(machine)
  t1=$(tcpext)
  if [ -n "$pid" ]; then p1=$(ticks "$pid"); fi
  n1=$(ticks "$NGINX_WORKER")
  echo "$out" >"$WORK/wrk-$kind-$target-$run.txt"
  local rps tps mb errs non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  tps=$(awk '/^Transfer\/sec:/ {print $2}' <<<"$out")
  mb=$(to_mb "$tps")
  errs=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
  record "$kind target=$target run=$run mb_s=$mb rps=$rps" \
    "socket_errors=${errs:-0} non2xx=${non2xx:-0}" \
    "proxy_cpu_pct=$(awk -v a="$p0" -v b="$p1" -v hz="$HZ" -v d="${DURATION%s}" 'BEGIN {printf "%.0f", (b-a)*100/hz/d}')" \
    "nginx_cpu_pct=$(awk -v a="$n0" -v b="$n1" -v hz="$HZ" -v d="${DURATION%s}" 'BEGIN {printf "%.0f", (b-a)*100/hz/d}')" \
    "$(awk -v a="$m0" -v b="$m1" -v mb="$mb" -v hz="$HZ" 'BEGIN { split(a, x, " "); split(b, y, " ")
        busy = (y[1] - x[1]) / hz; total = (y[3] - x[3]) / hz
        printf "busy_pct=%.0f steal_pct=%.0f cpu_s_per_gb=%.3f", 100 * busy / total * 2,
          100 * (y[2] - x[2]) / total * 2, (mb > 0) ? busy / (mb * ('"${DURATION%s}"') / 1000) : 0 }')" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { split(a, x, " "); split(b, y, " ")
        printf "paws_tw=%d syn_retrans=%d", y[1] - x[1], y[2] - x[2] }')" \
    "conntrack=$(ns cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo n/a)"
  [ "${errs:-0}" = 0 ] || grep 'Socket errors' <<<"$out" | sed "s/^ */  ($kind $target) /"
}

echo "== warm-up: 2 s of each test per target (not recorded)"
for target in "${TARGETS[@]}"; do
  ns timeout 30 wrk -t2 -c4 -d2s "http://${ADDR[$target]}/big" >/dev/null
  ns timeout 30 wrk -t2 -c50 -d2s -H 'Connection: close' "http://${ADDR[$target]}/small" >/dev/null
done

echo "== $RUNS runs: bulk (-c4 /big) and short connections (-c50 /small, Connection: close)"
for run in $(seq "$RUNS"); do
  # Rotate the order so that no target always goes first or last.
  order=()
  for i in "${!TARGETS[@]}"; do
    order+=("${TARGETS[$(( (i + run - 1) % ${#TARGETS[@]} ))]}")
  done
  for target in "${order[@]}"; do
    measure bulk "$target" "$run" -t2 -c4 -d"$DURATION" "http://${ADDR[$target]}/big"
  done
  for target in "${order[@]}"; do
    measure short "$target" "$run" -t2 -c50 -d"$DURATION" -H 'Connection: close' \
      "http://${ADDR[$target]}/small"
  done
done
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# med KIND TARGET KEY: the median alone.
med() { grep "^$1 target=$2 " "$RESULTS" | field "$3" | agg 2 | cut -d' ' -f1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo
echo "== summary: median (min–max) over $RUNS runs; CPU: % of one core during the run"
col() { grep "^$1 target=$2 " "$RESULTS" | field "$3" | agg 0 | cut -d' ' -f1; }
total() { grep "^$1 target=$2 " "$RESULTS" | field "$3" | awk '{s+=$1} END {print s+0}'; }
{
  echo "target|bulk MB/s|proxy%|nginx%|short req/s|proxy%|nginx%|short: socket errors, SYN retransmits"
  for target in "${TARGETS[@]}"; do
    echo "$target|$(summary "bulk target=$target" mb_s 0)|$(col bulk "$target" proxy_cpu_pct)" \
      "|$(col bulk "$target" nginx_cpu_pct)|$(summary "short target=$target" rps 0)" \
      "|$(col short "$target" proxy_cpu_pct)|$(col short "$target" nginx_cpu_pct)" \
      "|$(total short "$target" socket_errors), $(total short "$target" syn_retrans)"
  done
} | column -t -s '|'
echo "bulk, whole machine (2 cores = 200 %): busy % and CPU-seconds per GB moved, medians"
for target in "${TARGETS[@]}"; do
  echo "  $target: busy $(col bulk "$target" busy_pct) %, steal $(col bulk "$target" steal_pct) %," \
    "$(grep "^bulk target=$target " "$RESULTS" | field cpu_s_per_gb | agg 3 | cut -d' ' -f1) CPU-s/GB"
done
echo "(bulk socket errors, all targets and runs: $(grep '^bulk ' "$RESULTS" | field socket_errors | awk '{s+=$1} END {print s+0}'))"
echo
echo "bulk:  knet/direct  = $(ratio "$(med bulk knet mb_s)" "$(med bulk direct mb_s)")  (goal ≥ 0.90)"
echo "bulk:  knet/haproxy = $(ratio "$(med bulk knet mb_s)" "$(med bulk haproxy mb_s)")"
echo "bulk:  knet/nft     = $(ratio "$(med bulk knet mb_s)" "$(med bulk nft mb_s)")"
echo "short: knet/haproxy = $(ratio "$(med short knet rps)" "$(med short haproxy rps)")  (goal ≥ 1.00)"
echo "short: knet/direct  = $(ratio "$(med short knet rps)" "$(med short direct rps)")"
echo "raw results: $RESULTS"
