#!/usr/bin/env bash
# Create or refresh .venv from requirements.lock (the exact, pinned stack). Needs only Python 3
# (3.11 is what the lock was made with) and access to PyPI. Re-runs install nothing until the lock
# changes; the project's JupyterLab settings are refreshed on every run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-python3}"
stamp=.venv/.installed-lock

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
