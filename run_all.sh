#!/usr/bin/env bash
# The main job: set up the environment, train/evaluate the experiments of the five papers
# (finished runs are skipped, killed runs resume), execute the paper notebooks, build the book,
# and print its path.
#   bash run_all.sh [--profile PROFILE | --retrain PROFILE] [--workers N] [--fer2013 PATH]
#                   [--ckplus PATH] [--fer2013-csv PATH] [--no-train] [--check] [--gpu]
# Default: train the `smoke` profile as a pipeline check (a few minutes on a CPU), then render the
# best committed evidence: the `paper` results when they exist, else `quick` (the banner says which);
# in the `paper` book a paper without paper runs yet shows its `quick` runs, labelled indicative.
# --retrain PROFILE: train PROFILE instead of smoke, then render the best evidence as above.
# --profile PROFILE: train and render PROFILE only (CI: --profile smoke --check).
# PROFILE: smoke, quick or paper (`fer run --help` describes them).
#   bash run_all.sh [--fer2013 PATH ...] --lab [JUPYTER LAB OPTIONS]   (JupyterLab on notebooks/ instead)
# --fer2013 takes the Kaggle image folders (train/, test/), fer2013.csv, or a bundle from `fer bundle`.
# --gpu: an NVIDIA GPU trains: installs JAX's CUDA build (setup_env.sh --gpu) and trains on JAX.
set -euo pipefail
cd "$(dirname "$0")"
profile=""; train_profile=smoke; workers=1; train=1; check=0; lab=0; data_args=(); lab_args=(); setup_args=(); train_env=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; train_profile="$2"; shift 2;;
    --retrain) train_profile="$2"; shift 2;;
    --workers) workers="$2"; shift 2;;
    --fer2013|--ckplus|--fer2013-csv) data_args+=("$1" "$2"); shift 2;;
    --no-train) train=0; shift;;
    --check) check=1; shift;;
    --gpu) setup_args=(--gpu); train_env=(env KERAS_BACKEND=jax); shift;;  # training only: Grad-CAM needs TF
    --lab) lab=1; shift; lab_args=("$@"); break;;  # the rest goes to `fer lab` (and on to jupyter lab)
    -h|--help) sed -n '2,15p' "$0"; exit 0;;
    *) echo "run_all.sh: unknown argument '$1' (see --help)" >&2; exit 2;;
  esac
done
bash scripts/setup_env.sh "${setup_args[@]}"
py=.venv/bin/python
if [ "$lab" = 1 ]; then exec $py -m fer_lib lab "${data_args[@]}" "${lab_args[@]}"; fi
t0=$(date +%s)
echo "[run_all] data audit"
$py -m fer_lib audit "${data_args[@]}"
if [ "$train" = 1 ]; then
  echo "[run_all] experiments, profile '$train_profile', $workers worker(s)"
  "${train_env[@]}" $py -m fer_lib run --profile "$train_profile" --workers "$workers" --quiet "${data_args[@]}"
fi
if [ -z "$profile" ]; then
  profile=$($py -c "from fer_lib.book.build import best_profile; print(best_profile())")
  echo "[run_all] rendering the best committed evidence: profile '$profile'"
fi
echo "[run_all] notebooks, profile '$profile'"
$py -m fer_lib notebooks --profile "$profile" --no-train "${data_args[@]}"
echo "[run_all] book"
$py -m fer_lib book "$profile"
if [ "$check" = 1 ]; then $py scripts/check_book.py; fi
echo "[run_all] finished in $(( $(date +%s) - t0 )) s; the book: $PWD/_build/html/index.html"
