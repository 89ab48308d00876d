#!/usr/bin/env bash
# alae native against the reference (PyTorch) on this CPU, measured in one
# session: ROUNDS rounds, each running alae then the reference back to back,
# row by row, so that both see the same machine load. Prints one JSON line per
# run (value, peak RSS of the whole process, load average before it) and then
# the medians and their ratio.
#
# Needs the reference set up (../shared/reference/README.md) and the addon built.
# Usage: bench/vs-reference.sh [ROWS] [ROUNDS]
#   ROWS: comma-separated bench rows (default train-mnist-32,infer-celeba-b1,infer-ffhq-b1)
#   ROUNDS: default 3. Both sides run 1 warm-up and 2 timed iterations per
#   training row (the reference's bench.py fixes those); inference rows: alae 2,
#   the reference 4.
set -euo pipefail
rows=${1:-train-mnist-32,infer-celeba-b1,infer-ffhq-b1}
rounds=${2:-3}
ref=${ALAE_REFERENCE_BENCH:-../shared/reference/bench.py}
log=$(mktemp -t vs-reference.XXXXXX)
tmp=$(mktemp -d -t vs-reference.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
load() { cut -d' ' -f1 /proc/loadavg; }

for round in $(seq "$rounds"); do
  for row in ${rows//,/ }; do
    # One process per row and side: its peak RSS is that row's.
    l=$(load)
    /usr/bin/time -f '%M' -o "$tmp/rss" node dist/cli/main.js bench --backend native --rows "$row" \
      --iters 2 --warmup 1 --in-process --no-peak-mem --out "$tmp/alae.json" >/dev/null
    node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).rows[0];
      console.log(JSON.stringify({ side: "alae", round: +process.argv[2], row: r.id, value: r.value, unit: r.unit,
        rssMiB: Math.round(+process.argv[3] / 1024), load: +process.argv[4] }));
    ' "$tmp/alae.json" "$round" "$(cat "$tmp/rss")" "$l" | tee -a "$log"
    l=$(load)
    /usr/bin/time -f '%M' -o "$tmp/rss" /usr/bin/python3 "$ref" "$row" >"$tmp/ref.json"
    node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop());
      if (r.error) throw new Error(`reference ${r.row}: ${r.error}`);
      const train = r.img_per_s !== undefined;
      console.log(JSON.stringify({ side: "reference", round: +process.argv[2], row: r.row, value: train ? r.img_per_s : r.ms,
        unit: train ? "img/s" : "ms", rssMiB: Math.round(+process.argv[3] / 1024), load: +process.argv[4] }));
    ' "$tmp/ref.json" "$round" "$(cat "$tmp/rss")" "$l" | tee -a "$log"
  done
done

node -e '
  const runs = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const median = (v) => { const s = [...v].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  const fix = (v) => +v.toPrecision(3);
  for (const row of [...new Set(runs.map((r) => r.row))]) {
    const of = (side) => runs.filter((r) => r.row === row && r.side === side);
    const a = of("alae"), p = of("reference");
    const ma = median(a.map((r) => r.value)), mp = median(p.map((r) => r.value));
    // >1: alae faster (img/s higher, ms lower).
    const ratio = a[0].unit === "img/s" ? ma / mp : mp / ma;
    console.log(JSON.stringify({ row, unit: a[0].unit, alae: a.map((r) => fix(r.value)), reference: p.map((r) => fix(r.value)),
      medianAlae: fix(ma), medianReference: fix(mp), ratio: fix(ratio),
      rssMiB: { alae: median(a.map((r) => r.rssMiB)), reference: median(p.map((r) => r.rssMiB)) },
      load: runs.filter((r) => r.row === row).map((r) => r.load) }));
  }
' "$log"
echo "runs: $log" >&2
