#!/usr/bin/env bash
# Create or refresh .venv from requirements.lock (the exact, pinned stack). Needs only Python 3
# (3.11 is what the lock was made with) and access to PyPI. Re-runs install nothing until the lock
# changes; the project's JupyterLab settings are refreshed on every run.
#   --gpu   also install JAX's CUDA 12 build (requirements-gpu.lock, about 3 GB) for an NVIDIA GPU;
#           then train with KERAS_BACKEND=jax (the device-resident trainer)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-python3}"
stamp=.venv/.installed-lock
gpu=0
for arg in "$@"; do
  case "$arg" in
    --gpu) gpu=1 ;;
    *) echo "setup_env.sh: unknown option '$arg' (the only option is --gpu)" >&2; exit 2 ;;
  esac
done

# JAX's CUDA build on top of the pinned stack, once per requirements-gpu.lock
gpu_stack() {
  [ "$gpu" = 1 ] || return 0
  if ! cmp -s requirements-gpu.lock .venv/.installed-gpu-lock 2>/dev/null; then
    echo "[setup] installing JAX for CUDA 12 from requirements-gpu.lock (about 3 GB)"
    .venv/bin/python -m pip install -q -r requirements-gpu.lock
    cp requirements-gpu.lock .venv/.installed-gpu-lock
  fi
  # JAX quietly falls back to the CPU when CUDA does not start: stop here rather than train for days
  if ! .venv/bin/python -c 'import jax, sys; sys.exit(jax.default_backend() != "gpu")' 2>/dev/null; then
    echo "[setup] --gpu: JAX sees no GPU (backend $(.venv/bin/python -c 'import jax; print(jax.default_backend())' 2>/dev/null))." \
         "Check the NVIDIA driver (nvidia-smi); on a machine without one, leave out --gpu." >&2
    exit 1
  fi
  echo "[setup] JAX devices: $(.venv/bin/python -c 'import jax; print(jax.devices())' 2>/dev/null)"
}

# JupyterLab reads <prefix>/share/jupyter/lab/settings/overrides.json as its defaults: the project's
# copy opens notebooks/*.md as Jupytext notebooks, also for a plain `.venv/bin/jupyter lab`.
lab_settings() {
  local src=jupyter/lab/settings/overrides.json dst=.venv/share/jupyter/lab/settings/overrides.json
  if ! cmp -s "$src" "$dst" 2>/dev/null; then
    mkdir -p "$(dirname "$dst")" && cp "$src" "$dst"
    echo "[setup] JupyterLab settings installed: $dst"
  fi
}

if [ -x .venv/bin/python ] && cmp -s requirements.lock "$stamp" 2>/dev/null; then
  lab_settings
  gpu_stack
  exit 0
fi
echo "[setup] creating .venv from requirements.lock with $($PY --version 2>&1) (a few minutes the first time)"
"$PY" -m venv .venv
.venv/bin/python -m pip install -q "pip==26.3"  # pinned too: the resolver is part of the stack
.venv/bin/python -m pip install -q -r requirements.lock
.venv/bin/python -m pip install -q --no-deps -e .
cp requirements.lock "$stamp"
lab_settings
echo "[setup] environment ready: $(.venv/bin/python -c 'import keras, tensorflow as tf; print("keras", keras.__version__, "tensorflow", tf.__version__)' 2>/dev/null)"
gpu_stack
