#!/usr/bin/env bash
# Regenerate requirements.lock from requirements.in in a throw-away venv (run after editing requirements.in).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${PYTHON:-python3}" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q -r requirements.in
"$tmp/venv/bin/pip" freeze --all --exclude-editable | grep -v -E '^(pip|-e)' > "$tmp/requirements.lock"
# requirements-gpu.lock: what JAX's CUDA 12 build adds to that stack (setup_env.sh --gpu), at the locked JAX
jaxv=$(sed -n 's/^jax==//p' "$tmp/requirements.lock")
"$tmp/venv/bin/pip" install -q --dry-run --report "$tmp/gpu.json" "jax[cuda12]==$jaxv"
"$tmp/venv/bin/python" - "$tmp/gpu.json" > "$tmp/requirements-gpu.lock" <<'PY'
import json, sys
for i in sorted(json.load(open(sys.argv[1]))["install"], key=lambda i: i["metadata"]["name"]):
    print(f'{i["metadata"]["name"]}=={i["metadata"]["version"]}')
PY
mv "$tmp/requirements.lock" "$tmp/requirements-gpu.lock" .  # both or neither
echo "wrote requirements.lock ($(wc -l < requirements.lock) packages), requirements-gpu.lock ($(wc -l < requirements-gpu.lock))"
