#!/usr/bin/env bash
# Ingress benchmark: knet's ingress controller against Debian's nginx configured the way
# ingress-nginx configures it (upstream keepalive, proxy_pass, HTTP/1.1 to the upstream,
# forwarded headers), both in front of the same `knet echo` backend, loaded with wrk in one
# run (results and method: docs/benchmarks.md, "Ingress").
#
#   bench/run-ingress.sh            # needs wrk, nginx, kubectl, curl
#   KNET=path/to/knet bench/run-ingress.sh   # use that binary (no build)
#
# Addresses (loopback only): echo on 127.218.0.1:8080, knet's ingress on 127.218.0.2:8080,
# nginx on 127.218.0.3:8080 (worker_processes 2, as many as knet's runtime threads here).
# RUNS rounds, the two alternating, of:
#   1. keep-alive: `wrk -t2 -c50 -d$DURATION --latency -H 'Host: bench.local'` → req/s, p99;
#   2. new connections: the same with `Connection: close`;
#   3. HTTP/2 (h2c, prior knowledge): `h2load -t2 -c50 -m10 -D$DURATION` → req/s;
#   4. HTTPS keep-alive and 5. HTTPS with a full handshake per request (wrk, `Connection:
#      close`; wrk does not resume sessions), both with the same self-signed certificate;
#   6. p99 at 80 % load: `h2load --h1 -c50 --rps R` at 80 % of each server's median keep-alive
#      peak, p99 from h2load's per-request log.
# Tests 1 and 2 also run against two HAProxy configurations in front of the same backend, as
# reference points: `mode http` (a second L7 peer), and `mode tcp`, which relays bytes and parses
# nothing. The TCP relay is the floor of what any proxy costs here: an L7 proxy does all of its
# work and more, so its rate bounds what an L7 proxy can reach on this machine.
# Raw output: $BENCH_WORK (default target/bench-ingress).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3} DURATION=${DURATION:-8s}
for cmd in wrk nginx haproxy kubectl curl h2load openssl; do
  command -v "$cmd" >/dev/null || {
    echo "$cmd is required (apt-get install -y wrk nginx-light haproxy nghttp2-client openssl)" >&2
    exit 1
  }
done
if [ -z "${KNET:-}" ]; then
  cargo build --release -p knet
  KNET=$PWD/target/release/knet
fi
. bench/lib.sh
bench_work target/bench-ingress

ECHO=127.218.0.1:8080 KNET_HTTP=127.218.0.2:8080 NGINX=127.218.0.3:8080
KNET_HTTPS=127.218.0.2:8443 NGINX_HTTPS=127.218.0.3:8443 NGINX_H2C=127.218.0.3:8081
HAPROXY_HTTP=127.218.0.4:8080 HAPROXY_TCP=127.218.0.5:8080
openssl req -x509 -nodes -days 2 -newkey rsa:2048 -keyout "$WORK/tls.key" -out "$WORK/tls.crt" \
  -subj /CN=bench.local -addext subjectAltName=DNS:bench.local 2>/dev/null

echo "== echo backend on $ECHO"
POD_NAME=bench-echo POD_NAMESPACE=default POD_IP=127.218.0.1 \
  "$KNET" echo --listen "$ECHO" >"$WORK/echo.stdout" 2>"$WORK/echo.stderr" &
ECHO_PID=$!
PIDS+=("$!")
for _ in $(seq 50); do curl -sf "http://$ECHO/" >/dev/null && break; sleep 0.1; done

echo "== knet up, ingress on $KNET_HTTP"
KNET_ARGS="--http-addr $KNET_HTTP --https-addr 127.218.0.2:8443 --dns-addr 127.0.0.1:0 --node-ip 127.218.0.9 --pod-cidr 127.219.0.0/24 --service-cidr 127.219.1.0/24 --lb-pool 127.219.2.0/24" \
  start_knet ingress
kc create secret tls bench-tls --cert "$WORK/tls.crt" --key "$WORK/tls.key" >/dev/null
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: bench}
spec:
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: bench-1
  labels: {kubernetes.io/service-name: bench}
addressType: IPv4
ports: [{name: "", port: 8080, protocol: TCP}]
endpoints: [{addresses: ["127.218.0.1"]}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bench
  annotations: {nginx.ingress.kubernetes.io/ssl-redirect: "false"}
spec:
  tls: [{hosts: [bench.local], secretName: bench-tls}]
  rules:
  - host: bench.local
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: bench, port: {number: 80}}}}
EOF
for _ in $(seq 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: bench.local' "http://$KNET_HTTP/")" = 200 ] && break
  sleep 0.1
done

echo "== nginx on $NGINX"
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 10000; }
http {
  access_log off;
  keepalive_requests 100000;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  upstream echo {
    server $ECHO;
    keepalive 320;
    keepalive_requests 10000;
  }
  server {
    listen $NGINX;
    listen $NGINX_H2C http2;
    listen $NGINX_HTTPS ssl http2;
    ssl_certificate $WORK/tls.crt;
    ssl_certificate_key $WORK/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    server_name bench.local;
    location / {
      proxy_pass http://echo;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Request-ID \$request_id;
      proxy_set_header X-Real-IP \$remote_addr;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Host \$host;
      proxy_set_header X-Forwarded-Port \$server_port;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Scheme \$scheme;
      proxy_buffering on;
    }
  }
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" </dev/null >"$WORK/nginx/stdout" 2>"$WORK/nginx/stderr" &
NGINX_PID=$!
PIDS+=("$!")
for _ in $(seq 50); do curl -sf -H 'Host: bench.local' "http://$NGINX/" >/dev/null && break; sleep 0.1; done

echo "== HAProxy, mode http on $HAPROXY_HTTP and mode tcp on $HAPROXY_TCP"
mkdir -p "$WORK/haproxy"
cat >"$WORK/haproxy/haproxy.cfg" <<EOF
global
  nbthread 2
  maxconn 9000
defaults
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend http
  mode http
  bind $HAPROXY_HTTP
  option forwardfor
  http-request set-header X-Real-IP %[src]
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request set-header X-Forwarded-Port %[dst_port]
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Scheme http
  http-request set-header X-Request-ID %[uuid]
  default_backend http
backend http
  mode http
  http-reuse always
  server echo $ECHO
frontend tcp
  mode tcp
  bind $HAPROXY_TCP
  default_backend tcp
backend tcp
  mode tcp
  server echo $ECHO
EOF
haproxy -f "$WORK/haproxy/haproxy.cfg" </dev/null >"$WORK/haproxy/stdout" 2>"$WORK/haproxy/stderr" &
HAPROXY_PID=$!
PIDS+=("$!")
for a in "$HAPROXY_HTTP" "$HAPROXY_TCP"; do
  for _ in $(seq 50); do curl -sf -H 'Host: bench.local' "http://$a/" >/dev/null && break; sleep 0.1; done
done

addr_of() {
  case $1 in
    knet) echo "$KNET_HTTP" ;;
    nginx) echo "$NGINX" ;;
    haproxy-http) echo "$HAPROXY_HTTP" ;;
    haproxy-tcp) echo "$HAPROXY_TCP" ;;
  esac
}
h2c_of() { if [ "$1" = knet ]; then echo "$KNET_HTTP"; else echo "$NGINX_H2C"; fi; }
tls_of() { if [ "$1" = knet ]; then echo "$KNET_HTTPS"; else echo "$NGINX_HTTPS"; fi; }
# wrk's p99 as milliseconds.
p99_ms() {
  awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 }
    else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 }
    printf "%.3f", v }'
}
# Where the CPU goes: `ticks` of the processes and the whole machine's busy ticks (bench/lib.sh).
machine_busy() { machine | cut -d' ' -f1; }
proxy_pids() {
  case $1 in
    knet) echo "$KPID" ;;
    nginx) echo "$NGINX_PID" $(pgrep -P "$NGINX_PID") ;;
    haproxy-*) echo "$HAPROXY_PID" ;;
  esac
}
HZ=$(getconf CLK_TCK)
run() { # KIND TARGET RUN [wrk args]
  local kind=$1 t=$2 r=$3; shift 3
  local out pids p0 e0 m0 p1 e1 m1
  # shellcheck disable=SC2207
  pids=($(proxy_pids "$t"))
  p0=$(ticks "${pids[@]}") e0=$(ticks "$ECHO_PID") m0=$(machine_busy)
  # `times` in the subshell gives wrk's own CPU time (its children's line).
  out=$( (wrk -t2 -c50 -d"$DURATION" --latency -H 'Host: bench.local' "$@" "http://$(addr_of "$t")/" 2>&1; times) )
  p1=$(ticks "${pids[@]}") e1=$(ticks "$ECHO_PID") m1=$(machine_busy)
  echo "$out" >"$WORK/$kind-$t-$r.txt"
  local rps errors n cpu
  rps=$(echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p')
  errors=$(echo "$out" | sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p')
  n=$(echo "$out" | sed -n 's/^ *\([0-9]*\) requests in .*/\1/p')
  # CPU microseconds per request: the proxy, the echo backend, wrk, and the whole machine.
  cpu=$(echo "$out" | tail -1 | awk -v n="$n" -v hz="$HZ" -v p=$((p1 - p0)) -v e=$((e1 - e0)) -v m=$((m1 - m0)) '
    function sec(v) { split(v, a, "m"); sub(/s$/, "", a[2]); return a[1] * 60 + a[2] }
    { w = sec($1) + sec($2); t = 1e6 / hz / n
      printf "cpu_proxy_us=%.2f cpu_echo_us=%.2f cpu_wrk_us=%.2f cpu_machine_us=%.2f", p * t, e * t, w * 1e6 / n, m * t }')
  record "$kind target=$t run=$r rps=$rps p99_ms=$(echo "$out" | p99_ms) non2xx=${errors:-0} $cpu"
}
run_tls() { # KIND TARGET RUN [wrk args]
  local kind=$1 t=$2 r=$3; shift 3
  local out rps
  out=$(wrk -t2 -c50 -d"$DURATION" --latency -H 'Host: bench.local' "$@" "https://$(tls_of "$t")/" 2>&1)
  echo "$out" >"$WORK/$kind-$t-$r.txt"
  rps=$(echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p')
  record "$kind target=$t run=$r rps=$rps p99_ms=$(echo "$out" | p99_ms)"
}
run_h2() { # TARGET RUN
  local t=$1 r=$2 out rps
  out=$(h2load -t2 -c50 -m10 -D"${DURATION%s}" -H ':authority: bench.local' "http://$(h2c_of "$t")/" 2>&1)
  echo "$out" >"$WORK/h2c-$t-$r.txt"
  rps=$(echo "$out" | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p')
  record "h2c target=$t run=$r rps=$rps"
}
# p99 (ms) of h2load's per-request log (columns: start time, status, microseconds).
log_p99() { awk '{print $3}' "$1" | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.3f", a[i]/1000}'; }

echo "== $RUNS rounds (wrk -t2 -c50 -d$DURATION)"
for r in $(seq "$RUNS"); do
  order="knet nginx"
  [ $((r % 2)) = 0 ] && order="nginx knet"
  # The HTTP/1.1 tests add the two HAProxy reference points, in an order rotated per round.
  all="knet nginx haproxy-http haproxy-tcp"
  for _ in $(seq $((r - 1))); do all="${all#* } ${all%% *}"; done
  for t in $all; do run keepalive "$t" "$r"; done
  for t in $all; do run newconn "$t" "$r" -H 'Connection: close'; done
  for t in $order; do run_h2 "$t" "$r"; done
  for t in $order; do run_tls https "$t" "$r"; done
  for t in $order; do run_tls https-newconn "$t" "$r" -H 'Connection: close'; done
done

echo "== p99 at 80 % of each server's median keep-alive peak (h2load --h1 -c50 --rps)"
for r in $(seq "$RUNS"); do
  for t in knet nginx; do
    peak=$(summary "keepalive target=$t" rps 0 | cut -d' ' -f1)
    per_client=$(awk -v p="$peak" 'BEGIN {printf "%d", p * 0.8 / 50}')
    # `:authority` is h2load's Host (a second Host header would be refused with 400); h2load
    # has been seen to hang at exit, hence the timeout.
    timeout $((${DURATION%s} + 20)) h2load --h1 -t2 -c50 --rps "$per_client" -D"${DURATION%s}" \
      -H ':authority: bench.local' --log-file "$WORK/at80-$t-$r.log" "http://$(addr_of "$t")/" \
      >"$WORK/at80-$t-$r.txt" 2>&1 || true
    bad=$(awk '$2 != 200' "$WORK/at80-$t-$r.log" | wc -l)
    record "at80 target=$t run=$r rate=$((per_client * 50)) p99_ms=$(log_p99 "$WORK/at80-$t-$r.log") non200=$bad"
  done
done

echo
echo "== summary (median (min–max) of $RUNS rounds)"
for kind in keepalive newconn h2c https https-newconn; do
  for t in knet nginx; do
    echo "$kind $t: $(summary "$kind target=$t" rps 0) req/s, p99 $(summary "$kind target=$t" p99_ms 2) ms"
  done
  k=$(summary "$kind target=knet" rps 0 | cut -d' ' -f1)
  n=$(summary "$kind target=nginx" rps 0 | cut -d' ' -f1)
  echo "$kind knet/nginx = $(awk -v a="$k" -v b="$n" 'BEGIN {printf "%.2f", a / b}')  (goal ≥ 1.2)"
  case $kind in
    keepalive | newconn)
      for t in haproxy-http haproxy-tcp; do
        h=$(summary "$kind target=$t" rps 0 | cut -d' ' -f1)
        echo "$kind $t: $(summary "$kind target=$t" rps 0) req/s, p99 $(summary "$kind target=$t" p99_ms 2) ms;" \
          "$t/nginx = $(awk -v a="$h" -v b="$n" 'BEGIN {printf "%.2f", a / b}')"
      done
      ;;
  esac
done
for t in knet nginx; do
  echo "p99 at 80 % load, $t: $(summary "at80 target=$t" p99_ms 3) ms"
done
echo "CPU µs per keep-alive request (medians): proxy, echo backend, wrk, whole machine"
for t in knet nginx haproxy-http haproxy-tcp; do
  echo "  $t: $(for f in proxy echo wrk machine; do summary "keepalive target=$t" "cpu_${f}_us" 2 | cut -d' ' -f1; done | paste -sd' ')"
done
echo "raw results: $RESULTS"
