# Shared helpers for the bench/run-*.sh scripts (sourced; expects KNET, and WORK and RESULTS
# from bench_work).
#
# start_knet runs `knet up` in loopback mode, or with KNET_NETNS set, `--network netns` inside
# that network namespace (which the caller made); KNET_NETWORK overrides the network mode and
# KNET_ARGS adds flags.

# bench_work DEFAULT: a fresh, empty $BENCH_WORK (else DEFAULT) as WORK, with RESULTS in it.
bench_work() {
  WORK=${BENCH_WORK:-$1}
  rm -rf "$WORK"
  mkdir -p "$WORK"
  WORK=$(cd "$WORK" && pwd)
  RESULTS=$WORK/results.txt
  : >"$RESULTS"
}

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

# Waits up to 20 s for PID to exit after SIGTERM, then SIGKILLs it.
stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 200); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# start_knet NAME: a fresh `knet up`; sets KPID, KDIR, KCFG.
start_knet() {
  KDIR=$WORK/knet-$1
  mkdir -p "$KDIR"
  local wrap=() network=loopback
  if [ -n "${KNET_NETNS:-}" ]; then
    wrap=(ip netns exec "$KNET_NETNS") network=netns
  fi
  network=${KNET_NETWORK:-$network}
  # shellcheck disable=SC2086
  "${wrap[@]}" "$KNET" up --data-dir "$KDIR" --api-addr 127.0.0.1:0 --network "$network" ${KNET_ARGS:-} \
    </dev/null >"$KDIR.stdout" 2>"$KDIR.stderr" &
  KPID=$!
  PIDS+=("$KPID")
  local line=""
  for _ in $(seq 300); do
    line=$(grep -m1 '^knet: ready' "$KDIR.stdout" || true)
    [ -n "$line" ] && break
    kill -0 "$KPID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$line" ]; then
    echo "knet ($1) did not become ready within 30 s; stderr:" >&2
    cat "$KDIR.stderr" >&2
    exit 1
  fi
  case "$line" in
    *" api=127.0.0.1:"*) ;;
    *) echo "knet is not on 127.0.0.1: $line" >&2; exit 1 ;;
  esac
  KCFG=${line##*kubeconfig=}
}

stop_knet() { stop_pid "$KPID"; }
# kubectl against the current knet, with a private HOME (so its own discovery cache).
kc() { in_ns env HOME="$KDIR-home" KUBECONFIG="$KCFG" timeout 600 kubectl "$@"; }
# Runs a command in knet's network namespace (KNET_NETNS), or here.
in_ns() {
  if [ -n "${KNET_NETNS:-}" ]; then ip netns exec "$KNET_NETNS" "$@"; else "$@"; fi
}

# The value of KEY=... in the lines on stdin.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
# "median (min–max)" of the numbers on stdin.
agg() {
  sort -g | awk -v d="${1:-2}" '{a[NR]=$1} END {
    if (NR == 0) { print "n/a"; exit }
    m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    if (NR == 1) printf "%.*f", d, m; else printf "%.*f (%.*f–%.*f)", d, m, d, a[1], d, a[NR] }'
}
# summary LABEL KEY [DECIMALS]: aggregates KEY over the result lines starting with LABEL.
summary() { grep "^$1 " "$RESULTS" | field "$2" | agg "${3:-2}"; }
record() { echo "$*" | tee -a "$RESULTS"; }

# CPU clock ticks (user + system) used so far by the given processes, summed; a process that
# has gone counts 0.
ticks() {
  for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done |
    awk '{s += $1} END {print s + 0}'
}
# The whole machine's CPU ticks from /proc/stat: "busy steal total", where busy is everything but
# idle, iowait and steal (time the hypervisor gave to someone else).
machine() {
  awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i
    print t - $5 - $6 - $9, $9, t }' /proc/stat
}
