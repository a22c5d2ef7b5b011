#!/usr/bin/env bash
# Fuzzes cluster DNS's query path (crates/dns/tests/fuzz.rs: random packets, random questions
# under the zone, mutated queries) for DNS_FUZZ_SECS seconds, default 300, in a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
DNS_FUZZ_SECS=${DNS_FUZZ_SECS:-300} cargo test --release -p dns --test fuzz -- --nocapture
