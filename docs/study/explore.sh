#!/bin/bash
# The warmup study's exploratory runs (docs/warmup-study.md, table rows without a sweep file), exactly as run:
# one `deno task train` each into sweeps/study/<id>, then Δ_t^{2t} into <id>/zsl, then the table.
# Each run on one core: LP_NUM_THREADS=1 (lavapipe threads), at most two at a time on the 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
train() {
  local id=$1
  shift
  mkdir -p sweeps/study/logs
  /usr/bin/time -f "%e %U %S" -o "sweeps/study/logs/$id.time" env LP_NUM_THREADS=1 nice -n 10 \
    deno task train "$@" --out "sweeps/study/$id" > "sweeps/study/logs/$id.log" 2>&1
  LP_NUM_THREADS=1 deno task zsl "sweeps/study/$id" --no-one-step --out "sweeps/study/$id/zsl" > /dev/null
}
train tiny_t64_b16_w0_s512 --preset tiny --seq 64 --batch 16 --warmup 0 --steps 512 --eval-sequences 32
train tiny_t64_b32_w0_s512 --preset tiny --seq 64 --batch 32 --warmup 0 --steps 512 --eval-sequences 32
train tiny_t64_b64_w0_s512 --preset tiny --seq 64 --batch 64 --warmup 0 --steps 512 --eval-sequences 64
train tiny_t64_b128_w0_s512 --preset tiny --seq 64 --batch 128 --warmup 0 --steps 512 --eval-sequences 128
train tiny_t64_b16_w16_s512 --preset tiny --seq 64 --batch 16 --warmup 16 --steps 512 --eval-sequences 32
train cpu-xs_t64_b16_w0_s512 --preset cpu-xs --seq 64 --batch 16 --warmup 0 --steps 512 --eval-sequences 32
train tiny_t64_b16_w64_s512 --preset tiny --seq 64 --batch 16 --warmup 64 --steps 512 --eval-sequences 32
train cpu-s_t64_b16_w0_s512 --preset cpu-s --seq 64 --batch 16 --warmup 0 --steps 512 --eval-sequences 32
train cpu-m_t64_b16_w0_s512 --preset cpu-m --seq 64 --batch 16 --warmup 0 --steps 512 --eval-sequences 32
train tiny_t64_b16_w0_s4096 --preset tiny --seq 64 --batch 16 --warmup 0 --steps 4096 --eval-sequences 32
train cpu-xs_t64_b16_w0_s4096 --preset cpu-xs --seq 64 --batch 16 --warmup 0 --steps 4096 --eval-sequences 32
train tiny_t64_b16_w128_s2048 --preset tiny --seq 64 --batch 16 --warmup 128 --steps 2048 --eval-sequences 32
train tiny_t64_b16_w256_s2048 --preset tiny --seq 64 --batch 16 --warmup 256 --steps 2048 --eval-sequences 32
train tiny_t64_b16_w0_lr3.88e-3_s512 --preset tiny --seq 64 --batch 16 --warmup 0 --lr 3.88e-3 --steps 512 --eval-sequences 32
train tiny_t64_b16_w0_lr4.85e-4_s2048 --preset tiny --seq 64 --batch 16 --warmup 0 --lr 4.85e-4 --steps 2048 --eval-sequences 32
train cpu-l_t64_b16_w0_s512 --preset cpu-l --seq 64 --batch 16 --warmup 0 --steps 512 --eval-sequences 32
train tiny_t64_b128_w0_s256 --preset tiny --batch 128 --seq 64 --warmup 0 --steps 256
train tiny-gpt2_t64_b16_w0_s512 --preset tiny --tokenizer gpt2 --seq 64 --batch 16 --warmup 0 --steps 512 --eval-sequences 32
train tiny_t64_b16_w4_s512 --preset tiny --seq 64 --batch 16 --warmup 4 --steps 512 --eval-sequences 32
train cpu-xs_t64_b16_w8_s512 --preset cpu-xs --seq 64 --batch 16 --warmup 8 --steps 512 --eval-sequences 32
train cpu-m_t64_b16_w0_lr7.27e-4_s1024 --preset cpu-m --seq 64 --batch 16 --warmup 0 --lr 7.27e-4 --steps 1024 --eval-sequences 32
train cpu-xs_t64_b16_w128_s2048 --preset cpu-xs --seq 64 --batch 16 --warmup 128 --steps 2048 --eval-sequences 32
train cpu-xs_t64_b16_w0_lr8.72e-4_s1024 --preset cpu-xs --seq 64 --batch 16 --warmup 0 --lr 8.72e-4 --steps 1024 --eval-sequences 32
deno run --allow-read --allow-write --allow-env --allow-ffi docs/study/table.ts --min-step 3 \
  --out docs/study/explore sweeps/study/*/

# The one-warmup sweeps that came first (each sets its warmup in `common`; sweeps/logs/index.txt has their
# times): the candidate default at W 0, 1, 4 and two seeds, the W-32 family, and half the peak LR.
for sweep in default-w0 default-w1 default-w4 default-w0-seed1 default-w4-seed1 family-w32 half-lr-w8 \
  half-lr-w0 half-lr-w2; do
  /usr/bin/time -f "%e %U %S" -o "sweeps/logs/$sweep.time" env LP_NUM_THREADS=1 nice -n 10 \
    deno task sweep --sweep "docs/study/sweeps/$sweep.json"
done

# The default sweep chosen from the study (docs/warmup-study.md), its seed-1 and quartered reruns and the
# quick preset, each timed (the load average is logged in sweeps/logs/index.txt by hand).
timed() { /usr/bin/time -f "%e %U %S" -o "sweeps/logs/$1.time" env LP_NUM_THREADS=1 nice -n 5 "${@:2}"; }
timed default deno task sweep --sweep docs/study/sweeps/default.json --train-only &
timed default-seed1 deno task sweep --sweep docs/study/sweeps/default-seed1.json --train-only &
wait
timed default-analyse deno task sweep # the default preset: the same runs, then every analysis
# W = 1 is the same schedule as W = 0: the quartered rerun trains W = 1 and takes W = 0's runs from the default.
mkdir -p sweeps/default-quartered/runs && cp -a sweeps/default/runs/*_w0 sweeps/default-quartered/runs/
timed default-quartered deno task sweep --sweep docs/study/sweeps/default-quartered.json
timed default-seed1-analyse deno task sweep --sweep docs/study/sweeps/default-seed1.json --analyse-only
timed default-seed2 deno task sweep --sweep docs/study/sweeps/default-seed2.json
# Half the peak LR, 1,024 steps, the same warmup control, two seeds at once.
timed half-lr-s0 deno task sweep --sweep docs/study/sweeps/half-lr-s0.json &
timed half-lr-s1 deno task sweep --sweep docs/study/sweeps/half-lr-s1.json &
wait
timed quick deno task sweep --preset quick
deno run --allow-read --allow-write --allow-env --allow-ffi docs/study/table.ts --min-step 3 \
  --out docs/study/explore sweeps/study/*/ sweeps/*/runs/*/
deno run --allow-read --allow-write --allow-env --allow-ffi --allow-sys=cpus,networkInterfaces,hostname \
  docs/study/figures.ts --table docs/study/explore.csv --h1 3.108 --h2 2.439 --out docs/study/figures
