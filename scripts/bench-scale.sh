#!/usr/bin/env bash
# The site bench at N = 100, 300 and 1 000 devices in a row, joined into one table with a
# column per N. Each run's own full output is kept beside it.
#
#   scripts/bench-scale.sh                        # 300 s windows (the RSS target's "after 5 min")
#   SITEWARDEN_BENCH_SECS=120 scripts/bench-scale.sh
#   SITEWARDEN_BENCH_BIN=path/to/sitewarden scripts/bench-scale.sh   # another build
#   BENCH_SCALE_NS="100 300" scripts/bench-scale.sh                  # other counts
set -euo pipefail
cd "$(dirname "$0")/.."
ns=${BENCH_SCALE_NS:-100 300 1000}
out=${BENCH_SCALE_OUT:-target/bench-scale}
mkdir -p "$out"
cargo bench --bench site --no-run --quiet
for n in $ns; do
    echo "bench-scale: N = $n (log $out/site-$n.txt)" >&2
    SITEWARDEN_BENCH_DEVICES=$n cargo bench --bench site --quiet >"$out/site-$n.txt" \
        2>"$out/site-$n.err" || { echo "bench-scale: N = $n failed:" >&2; tail -20 "$out/site-$n.err" >&2; exit 1; }
done
# Join the rows of every run's table: measure | value at each N | target (of the last N).
awk -v ns="$ns" '
    FNR == 1 { file++ }
    /^\| / && !/^\| measure/ {
        split($0, c, "|")
        name = c[2]; gsub(/^ +| +$/, "", name)
        v = c[3]; gsub(/^ +| +$/, "", v)
        verdict = c[5]; gsub(/^ +| +$/, "", verdict)
        t = c[4]; gsub(/^ +| +$/, "", t)
        if (!(name in seen)) { seen[name] = 1; order[++rows] = name }
        val[name, file] = v (verdict == "MISSED" ? " (MISSED)" : "")
        if (t != "") target[name] = target[name] (target[name] == "" ? "" : "; ") "N" file ": " t
    }
    END {
        n = split(ns, nn, " ")
        printf "| %-32s |", "measure"
        for (i = 1; i <= n; i++) printf " %18s |", "N = " nn[i]
        printf " targets\n|%s|", "----------------------------------"
        for (i = 1; i <= n; i++) printf "%s|", "--------------------"
        printf "---------\n"
        for (r = 1; r <= rows; r++) {
            name = order[r]
            printf "| %-32s |", name
            for (i = 1; i <= n; i++) printf " %18s |", val[name, i]
            t = target[name]
            for (i = 1; i <= n; i++) gsub("N" i ": ", "N=" nn[i] ": ", t)
            printf " %s\n", t
        }
    }' $(for n in $ns; do echo "$out/site-$n.txt"; done)
grep -h "^simulator" $(for n in $ns; do echo "$out/site-$n.txt"; done) | sed 's/^/  /' >&2 || true
