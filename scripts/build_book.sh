#!/usr/bin/env bash
# Build the Jupyter Book of one profile from its executed notebooks: `fer book` (fer_lib/book/build.py).
#   bash scripts/build_book.sh PROFILE [--notebooks DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec .venv/bin/python -m fer_lib book "$@"
