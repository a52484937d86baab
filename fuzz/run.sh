#!/usr/bin/env bash
# Builds every fuzz target, seeds the corpora from tests/transcripts/, and
# runs each target in turn for SECONDS (default 30), one process at a time.
# Fails on the first crash; the input is left in fuzz/artifacts/<target>/.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# The last libFuzzer status line of each run (executions, cov, ft) goes to
# fuzz/logs/<target>.log and is printed.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
shift || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo fuzz build --sanitizer none
cargo run --quiet --example seed
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
mkdir -p logs
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "regressions/$t"
    # -rss_limit_mb: a leak or unbounded buffer fails the run.
    if ! cargo fuzz run --sanitizer none "$t" "corpus/$t" "regressions/$t" -- \
        -dict=smtp.dict -max_len=16384 -rss_limit_mb=512 -timeout=10 \
        -max_total_time="$seconds" -print_final_stats=1 >"logs/$t.log" 2>&1; then
        echo "fuzz target $t FAILED:"
        grep -E -A12 "panicked|ERROR" "logs/$t.log" | head -40
        exit 1
    fi
    status=$(grep -E '^#[0-9]+' "logs/$t.log" | tail -1)
    echo "$t: $status"
done
