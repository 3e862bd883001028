#!/usr/bin/env bash
# Rehearse a GPU call here before spending a lease on it (a lease is minutes; a bug found there costs
# them all). Copies what the device tool sends (tracked and untracked-not-ignored files, no .git)
# plus .carry to a scratch folder and runs scripts/gpu_run.sh there on the CPU, with a Python that
# has JAX and the GPU image's other packages but neither TensorFlow, Keras nor dlib; then checks
# that what lands in $OUT would come back (scripts/device_limits.sh).
#   bash scripts/gpu_rehearse.sh [PROFILE] [SECONDS] [fer run options]   (default: smoke 300)
# The JAX environment is made once, in $FER_DEVICE_ENV (default ~/.cache/fer_replication/device-env).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/device_limits.sh
profile=${1:-smoke}; budget=${2:-300}; shift $(( $# < 2 ? $# : 2 ))
[ -f .carry/fer2013.npz ] || { echo "[rehearse] no .carry: run bash scripts/gpu_carry.sh first" >&2; exit 1; }
env=${FER_DEVICE_ENV:-$HOME/.cache/fer_replication/device-env}
if [ ! -x "$env/bin/python" ]; then
  # what the run path imports that the GPU image has, at the lock's versions (it lacks keras,
  # tensorflow and dlib; keras comes from .carry/wheels as there)
  pins=$(grep -iE '^(jax|jaxlib|numpy|opencv-python-headless|scikit-learn|scipy|statsmodels|pandas|pyyaml|h5py|tqdm|matplotlib|seaborn|ml-dtypes|absl-py|rich|packaging|pillow)==' requirements.lock)
  python3 -m venv "$env"
  # shellcheck disable=SC2086
  "$env/bin/pip" install -q $pins
fi
scratch=$(mktemp -d); tree=$scratch/tree; out=$scratch/OUT; mkdir -p "$tree" "$out"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$tree"
cp -r .carry "$tree/"
size=$(du -sb "$tree" | cut -f1)
echo "[rehearse] $((size / 1024 / 1024)) MiB would travel; running gpu_run.sh $profile $budget $* in $tree"
rc=0
if [ "$size" -gt "$DEVICE_SEND_BYTES" ]; then
  echo "[rehearse] over the device tool's 64 MiB: bash scripts/gpu_slim.sh hide before the call" >&2; rc=4
fi
pyver=$("$env/bin/python" -c 'import sys; print("%d%d" % sys.version_info[:2])')
if [ "$pyver" != 312 ]; then  # the carried optree wheel is for the GPU image's Python 3.12: swap in this one's
  w=$(ls "$tree"/.carry/wheels/optree-*.whl); v=$(basename "$w" | cut -d- -f2); rm "$w"
  "$env/bin/pip" download -q --no-deps --only-binary=:all: -d "$tree/.carry/wheels" "optree==$v"
fi
(cd "$tree" && env -u PYTHONPATH -u FER_COMMIT PYTHON="$env/bin/python" OUT="$out" FER_CACHE_DIR="$scratch/cache" \
   HOME="$scratch" bash scripts/gpu_run.sh "$profile" "$budget" "$@") || { r=$?; [ "$rc" -eq 0 ] && rc=$r; }
echo "[rehearse] gpu_run.sh exited $rc; \$OUT holds:"
ls -la "$out"
lost=$(device_unreturned "$out")
if [ -n "$lost" ]; then
  echo "$lost" | sed 's/^/[rehearse] would not all come back: /' >&2
  [ "$rc" -eq 0 ] && rc=4
fi
tar tzf "$out/results.tgz" | sed 's/^/[rehearse] result: /'
echo "[rehearse] scratch folder kept for a look: $scratch"
exit "$rc"
