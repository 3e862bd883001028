#!/usr/bin/env bash
# On the GPU machine (see scripts/gpu_carry.sh): install the carried wheels, train PROFILE with
# the JAX backend from the carried bundles for at most SECONDS, then pack what finished into $OUT
# (results JSON, apart the weights of each model's best run, and the resume state of cut-off runs).
# Exits 0 when the budget ended the run as planned, else fer run's status. Runs already committed
# (under results/PROFILE, or packed in .carry/results.tgz) are skipped; unpack work.tgz here and
# carry ".work" too, and the next call resumes the cut-off runs from their last epoch.
#   bash scripts/gpu_run.sh [PROFILE] [SECONDS] [fer run options, e.g. --paper emotionnet --workers 4]
# BENCH=1 first runs benchmarks/train_throughput.py (its report lands in $OUT, named after the GPU)
# inside the same SECONDS; BENCH="--quick" (or other options of that script) passes them on.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/device_limits.sh
profile=${1:-paper}; budget=${2:-540}; shift $(( $# < 2 ? $# : 2 ))
py=${PYTHON:-python3}
out=${OUT:-build/gpu_out}; mkdir -p "$out"
if ! $py -c "import keras" 2>/dev/null; then  # into /tmp: the image's site-packages may be read-only
  $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .carry/wheels/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export KERAS_BACKEND=${KERAS_BACKEND:-jax} FER2013_PATH=${FER2013_PATH:-$PWD/.carry/fer2013.npz}
export CKPLUS_PATH=${CKPLUS_PATH:-$PWD/.carry/ckplus48.npz} PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
# provenance: the tree comes without .git; .carry/commit (gpu_carry.sh) names the commit whose code
# and configs have this digest. Paper runs are evidence only with it, so they do not start without.
if [ -z "${FER_COMMIT:-}" ] && ! git rev-parse HEAD >/dev/null 2>&1; then
  read -r commit digest < .carry/commit 2>/dev/null || commit=""
  here=$($py -c 'from fer_lib.results import code_digest; print(code_digest())')
  if [ -n "$commit" ] && [ "$digest" = "$here" ]; then
    export FER_COMMIT=$commit
  elif [ "$profile" = paper ]; then
    echo "[gpu_run] no .carry/commit matching this tree (digest $here): commit, bash scripts/gpu_carry.sh --stamp, call again" \
      | tee "$out/run.log"
    exit 3
  fi
fi
echo "[gpu_run] code and configs of commit $($py -c 'from fer_lib.results import git_commit; print(git_commit()[0])')" \
  | tee "$out/run.log"
# the committed runs, packed by gpu_carry.sh (results/ stays on the developer's machine): skipped here
[ -f .carry/results.tgz ] && tar xzf .carry/results.tgz
marker=$(mktemp); t0=$(date +%s)
if [ -n "${BENCH:-}" ]; then
  bench_args=(); [ "$BENCH" != 1 ] && read -ra bench_args <<< "$BENCH"
  gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr 'A-Z ' 'a-z-')
  timeout "$budget" $py benchmarks/train_throughput.py "${bench_args[@]}" --out "$out/train_throughput-${gpu:-cpu}-$KERAS_BACKEND.txt" \
    > "$out/bench.log" 2>&1
  echo "[gpu_run] benchmark exited $? after $(( $(date +%s) - t0 )) s" | tee -a "$out/bench.log"
  budget=$(( budget - ($(date +%s) - t0) ))
fi
rc=0
if [ "$budget" -ge 60 ]; then  # less is not worth starting: packing must still fit the caller's limit
  timeout --signal=TERM --kill-after=20 "$budget" $py -m fer_lib run --profile "$profile" --quiet "$@" \
    >> "$out/run.log" 2>&1
  rc=$?
else
  echo "[gpu_run] only ${budget} s of the budget left: no training this call" >> "$out/run.log"
fi
echo "[gpu_run] fer run exited $rc after $(( $(date +%s) - t0 )) s (124: the time budget ended it)" | tee -a "$out/run.log"
find results/"$profile" -name 'seed*.json' -newer "$marker" -print0 2>/dev/null \
  | tar czf "$out/results.tgz" --null -T -
# the kept weights of the best run per model only (what fer export-weights ships; all of them would
# pass the 16 MiB a returned file may have), apart, so that results.tgz comes back whatever they weigh
best=$(mktemp)
$py -m fer_lib export-weights --profile "$profile" --list > "$best" 2>> "$out/run.log"
tar czf "$out/weights.tgz" -T "$best"
[ -d .work/"$profile" ] && tar czf "$out/work.tgz" .work/"$profile"
$py -m fer_lib results --profile "$profile" > "$out/summary.txt" 2>&1
ls -la "$out"
device_unreturned "$out" | sed 's/^/[gpu_run] will not all come back: /'
# 124 is the budget ending the run, as planned (cut-off runs resume next call); anything else is a failure
[ "$rc" -eq 124 ] && exit 0
exit "$rc"
