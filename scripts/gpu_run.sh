#!/usr/bin/env bash
# On the GPU machine (see scripts/gpu_carry.sh): install the carried wheels, train PROFILE with
# the JAX backend from the carried bundles for at most SECONDS, then pack what finished into $OUT
# (results JSON, and the resume state of runs that were cut off). Runs already committed under
# results/PROFILE are skipped; unpack work.tgz here and carry ".work" too, and the next call
# resumes the cut-off runs from their last epoch.
#   bash scripts/gpu_run.sh [PROFILE] [SECONDS] [fer run options, e.g. --paper emotionnet --workers 4]
set -uo pipefail
cd "$(dirname "$0")/.."
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
marker=$(mktemp); t0=$(date +%s)
timeout --signal=TERM --kill-after=20 "$budget" $py -m fer_lib run --profile "$profile" --quiet "$@" \
  > "$out/run.log" 2>&1
rc=$?
echo "[gpu_run] fer run exited $rc after $(( $(date +%s) - t0 )) s (124: the time budget ended it)" | tee -a "$out/run.log"
find results/"$profile" -name 'seed*.json' -newer "$marker" -print0 2>/dev/null \
  | tar czf "$out/results.tgz" --null -T -
[ -d .work/"$profile" ] && tar czf "$out/work.tgz" .work/"$profile"
$py -m fer_lib results --profile "$profile" > "$out/summary.txt" 2>&1
ls -la "$out"
