#!/usr/bin/env bash
# Prepare .carry/ (git-ignored) for a GPU machine that has JAX but neither the datasets, dlib nor
# TensorFlow/Keras: the two dataset bundles with every alignment table the runs need (computed
# here with dlib, once) and the wheels of the pure-Python packages that machine lacks.
# It also stamps .carry/commit with the last commit that changed the code and configs (fer_lib/,
# experiments/) and their digest: the device tool sends the working tree without .git, and
# gpu_run.sh gives the runs that commit (FER_COMMIT) only when the tree there has the same digest.
# And it packs the committed results into .carry/results.tgz (about a fifth of their size): the GPU
# machine skips those runs, while results/ and weights/ themselves stay here (scripts/gpu_slim.sh;
# the tool sends 64 MiB at most).
# Commit first; after a later commit refresh the stamp and the packed results with
#   bash scripts/gpu_carry.sh --stamp             (seconds; the bundles stay)
#   bash scripts/gpu_carry.sh [PROFILE ...]        (default: paper quick)
# Then: bash scripts/gpu_slim.sh hide, the device tool with carry [".carry"] running
# `bash scripts/gpu_run.sh paper 540`, bash scripts/gpu_slim.sh restore.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .carry/wheels
rm -f .carry/commit
if [ -n "$(git status --porcelain -- fer_lib experiments)" ]; then
  echo "[carry] fer_lib/ or experiments/ differ from the last commit: commit, then bash scripts/gpu_carry.sh --stamp;" \
       "until then paper runs there refuse to start (their provenance would not name the code)" >&2
else
  .venv/bin/python -c 'from fer_lib.results import code_digest, git_commit; print(git_commit()[0], code_digest())' \
    > .carry/commit
  echo "[carry] stamped $(cat .carry/commit)"
fi
if [ -d results ]; then  # (absent while gpu_slim.sh hides it: the last snapshot stays)
  git ls-files -z -- 'results/*/*/*/seed*.json' | tar czf .carry/results.tgz --null -T -
  echo "[carry] committed results packed: $(tar tzf .carry/results.tgz | wc -l) runs, $(du -h .carry/results.tgz | cut -f1)"
fi
[ "${1:-}" = "--stamp" ] && exit 0
profiles=("${@:-paper}"); [ $# -eq 0 ] && profiles=(paper quick)
fer=.venv/bin/fer
$fer bundle --out .carry/fer2013.npz --align-for "${profiles[@]}"
$fer bundle --dataset ckplus --out .carry/ckplus48.npz --align-for "${profiles[@]}"
# keras and its two small pure dependencies the GPU image lacks, for its Python (3.12)
ver() { .venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))"; }
# (optree's newer wheels are tagged manylinux_2_28 or _2_17: pip matches each tag exactly)
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .carry/wheels \
  "keras==$(ver keras)" "namex==$(ver namex)" "optree==$(ver optree)"
du -sh .carry .carry/* .carry/wheels/* | sed 's/^/[carry] /'
