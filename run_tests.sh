#!/usr/bin/env bash
# The test command: set up the pinned environment, then run the test suite on slices of the real
# datasets (FER_DATASETS, default ../shared/datasets). Under CI a missing dataset fails the run.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup_env.sh
if [ "${CI:-}" = "true" ]; then export FER_REQUIRE_DATA=1; fi
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
