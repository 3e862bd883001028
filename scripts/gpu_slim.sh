#!/usr/bin/env bash
# The device tool sends the working tree (tracked and untracked-not-ignored files) with the carried
# paths, 64 MiB in all, and the FER2013 bundle alone is 45 MB. The GPU machine needs neither the
# committed results (gpu_carry.sh packs them into .carry/results.tgz, a fifth of their size, so
# finished runs are skipped there) nor the shipped weights, so they stay here during the call:
#   bash scripts/gpu_slim.sh hide      # results/ and weights/ out of the tree and the index; says what travels
#   ... the device call(s), carry [".carry"] ...
#   bash scripts/gpu_slim.sh restore   # both back, files and index, as they were
# While hidden, `git status` lists them as deleted: restore before any commit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/device_limits.sh
store=.git/fer-slim  # inside .git: never sent, never committed, same file system
travels() {  # bytes the device tool would send: tracked and untracked-not-ignored files, plus .carry
  { git ls-files -z -co --exclude-standard; find .carry -type f -print0 2>/dev/null; } | du -cb --files0-from=- | tail -1 | cut -f1
}
case "${1:-}" in
  hide)
    [ -e "$store" ] && { echo "[slim] already hidden (in $store): bash scripts/gpu_slim.sh restore first" >&2; exit 1; }
    if [ -n "$(git status --porcelain -- results weights)" ]; then
      echo "[slim] results/ or weights/ have uncommitted changes: commit them first" >&2; exit 1
    fi
    [ -f .carry/results.tgz ] || { echo "[slim] no .carry/results.tgz: bash scripts/gpu_carry.sh --stamp first" >&2; exit 1; }
    mkdir -p "$store"
    git rm -r -q --cached results weights
    mv results weights "$store"/
    ;;
  restore)
    [ -d "$store" ] || { echo "[slim] nothing hidden"; exit 0; }
    mv "$store"/results "$store"/weights .
    rmdir "$store"
    git reset -q -- results weights
    ;;
  *) echo "usage: bash scripts/gpu_slim.sh hide|restore" >&2; exit 2 ;;
esac
n=$(travels)
echo "[slim] $1: $((n / 1024 / 1024)) MiB would travel with .carry (the device tool takes 64 MiB)"
if [ "$1" = hide ] && [ "$n" -gt "$DEVICE_SEND_BYTES" ]; then
  echo "[slim] still over the limit: the device tool would refuse the call" >&2; exit 1
fi
