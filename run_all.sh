#!/usr/bin/env bash
# The main job: set up the environment, train/evaluate every experiment of the five papers for a
# profile (finished runs are skipped, killed runs resume), execute the paper notebooks, build the
# book, and print its path.
#   bash run_all.sh [--profile PROFILE] [--workers N] [--fer2013 PATH] [--ckplus PATH]
#                   [--fer2013-csv PATH] [--no-train] [--check]
#   bash run_all.sh [--fer2013 PATH ...] --lab [JUPYTER LAB OPTIONS]   (JupyterLab on notebooks/ instead)
# PROFILE: smoke (default), quick or paper (`fer run --help` describes them).
# --fer2013 takes the Kaggle image folders (train/, test/), fer2013.csv, or a bundle from `fer bundle`.
set -euo pipefail
cd "$(dirname "$0")"
profile=smoke; workers=1; train=1; check=0; lab=0; data_args=(); lab_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift 2;;
    --workers) workers="$2"; shift 2;;
    --fer2013|--ckplus|--fer2013-csv) data_args+=("$1" "$2"); shift 2;;
    --no-train) train=0; shift;;
    --check) check=1; shift;;
    --lab) lab=1; shift; lab_args=("$@"); break;;  # the rest goes to `fer lab` (and on to jupyter lab)
    -h|--help) sed -n '2,9p' "$0"; exit 0;;
    *) echo "run_all.sh: unknown argument '$1' (see --help)" >&2; exit 2;;
  esac
done
bash scripts/setup_env.sh
py=.venv/bin/python
if [ "$lab" = 1 ]; then exec $py -m fer_lib lab "${data_args[@]}" "${lab_args[@]}"; fi
t0=$(date +%s)
echo "[run_all] data audit"
$py -m fer_lib audit "${data_args[@]}"
if [ "$train" = 1 ]; then
  echo "[run_all] experiments, profile '$profile', $workers worker(s)"
  $py -m fer_lib run --profile "$profile" --workers "$workers" --quiet "${data_args[@]}"
fi
echo "[run_all] notebooks"
$py -m fer_lib notebooks --profile "$profile" --no-train "${data_args[@]}"
echo "[run_all] book"
$py -m fer_lib book "$profile"
if [ "$check" = 1 ]; then $py scripts/check_book.py; fi
echo "[run_all] finished in $(( $(date +%s) - t0 )) s; the book: $PWD/_build/html/index.html"
