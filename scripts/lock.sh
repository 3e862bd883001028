#!/usr/bin/env bash
# Regenerate requirements.lock from requirements.in in a throw-away venv (run after editing requirements.in).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tmp=$(mktemp -d)
"${PYTHON:-python3}" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q -r requirements.in
"$tmp/venv/bin/pip" freeze --all --exclude-editable | grep -v -E '^(pip|-e)' > requirements.lock
rm -rf "$tmp"
echo "wrote requirements.lock ($(wc -l < requirements.lock) packages)"
