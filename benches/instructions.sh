#!/usr/bin/env bash
# Instruction counts per iteration (valgrind --tool=callgrind), stable on a
# shared, noisy machine: each side-by-side contender runs ITERS times alone
# and the cost of the binary's setup (a run that matches nothing) is
# subtracted. Usage: benches/instructions.sh [ITERS]
set -euo pipefail
cd "$(dirname "$0")/.."
iters=${1:-20}
target=${CARGO_TARGET_DIR:-target}
bin() { cargo bench --bench "$1" --no-run 2>&1 | grep -o "$target/release/deps/$1-[0-9a-f]*" | head -1; }
count() { # bench filter
  SMTP_AUTH_BENCH_PROFILE="$2" SMTP_AUTH_BENCH_ITERS="$iters" \
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$(bin "$1")" --bench 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per_iter() { # bench filter runs-per-iter
  local base n
  base=$(count "$1" "@@none@@")
  n=$(count "$1" "$2")
  echo $(( (n - base) / (iters * $3) ))
}
printf '%-16s %-40s %14s\n' bench contender "instr/iteration"
for c in "smtp-auth command::parse" "smtp-proto Request::parse" "memchr newline scan"; do
  printf '%-16s %-40s %14s\n' parse "$c" "$(per_iter parse "$c" 1)"
done
# The session bench has two tables (fed whole, 1460-byte reads): 2 runs per iteration.
for c in "smtp-auth Session + responder" "smtp-proto receivers (parse only)" "memchr newline scan"; do
  printf '%-16s %-40s %14s\n' session "$c" "$(per_iter session "$c" 2)"
done
for c in "smtp-auth PLAIN" "rsasl PLAIN" "smtp-auth LOGIN" "rsasl LOGIN" "smtp-auth CRAM-MD5" \
         "one HMAC-MD5" "smtp-auth SCRAM + bench client" "rsasl SCRAM + bench client" \
         "one SCRAM proof check" "smtp-auth SCRAM alone" "bench client alone" \
         "base64 decode of the payload" "base64 decode of both payloads"; do
  printf '%-16s %-40s %14s\n' sasl "$c" "$(per_iter sasl "$c" 1)"
done
