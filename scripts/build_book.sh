#!/usr/bin/env bash
# Build the Jupyter Book from the executed notebooks of one profile. Executes and trains nothing.
#   bash scripts/build_book.sh PROFILE          (PROFILE: smoke | quick | paper)
#   BOOK_NOTEBOOKS=DIR bash scripts/build_book.sh PROFILE   (executed notebooks from DIR instead)
# 1. checks build/notebooks/PROFILE/ holds every notebook the book lists (made by
#    `python scripts/run_notebooks.py --profile PROFILE`), and that none failed, holds an error
#    output or a traceback, or was executed for another profile;
# 2. copies them into book/generated/ (git-ignored; papermill's parameter cells removed and code
#    folded behind a toggle, outputs untouched) and writes the generated tables, figure and
#    profile banner there (scripts/book_tables.py);
# 3. runs `jupyter-book build . --all -W -n --keep-going`: any Sphinx warning (a broken
#    cross-reference, a missing figure or include) fails the build;
# 4. prints the path of _build/html/index.html.
set -eo pipefail
caller=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
t_start=$(date +%s)

profile="${1:-}"
case "$profile" in
  smoke|quick|paper) ;;
  -h|--help) sed -n '2,/^set /{/^#/p}' "$0"; exit 0;;
  "") echo "build_book.sh: give the profile: bash scripts/build_book.sh smoke|quick|paper" >&2; exit 2;;
  *) echo "build_book.sh: unknown profile '$profile'; use smoke, quick or paper" >&2; exit 2;;
esac

py="${PYTHON:-$repo/.venv/bin/python}"
jb="$repo/.venv/bin/jupyter-book"
if [ ! -x "$py" ] || [ ! -x "$jb" ]; then
  echo "build_book.sh: no .venv with jupyter-book; run: bash scripts/setup_env.sh" >&2
  exit 2
fi

# BOOK_NOTEBOOKS: another folder of executed notebooks (e.g. fetched from a GPU machine)
src="${BOOK_NOTEBOOKS:-build/notebooks/$profile}"
case "$src" in /*) ;; *) [ -n "$BOOK_NOTEBOOKS" ] && src="$caller/$src";; esac
# The notebooks the book needs = the book/generated/<name> entries of _toc.yml.
mapfile -t needed < <(sed -n 's#^[[:space:]-]*\(root\|file\):[[:space:]]*book/generated/\([A-Za-z0-9_.-]*\)[[:space:]]*$#\2#p' _toc.yml \
                      | sed 's/\.ipynb$//')
if [ "${#needed[@]}" -eq 0 ]; then
  echo "build_book.sh: found no book/generated/ entries in _toc.yml" >&2; exit 2
fi
missing=()
for name in "${needed[@]}"; do
  [ -s "$src/$name.ipynb" ] || missing+=("$src/$name.ipynb")
done
if [ "${#missing[@]}" -gt 0 ]; then
  {
    echo "build_book.sh: the executed notebooks of profile '$profile' are missing:"
    printf '  %s\n' "${missing[@]}"
    echo "Make them with (add --no-train to only render the results already in results/$profile/):"
    echo "  .venv/bin/python scripts/run_notebooks.py --profile $profile"
    echo "or everything at once: bash run_all.sh --profile $profile"
  } >&2
  exit 1
fi

gen=book/generated
echo "[book] checking the executed notebooks in $src/ and copying them to $gen/"
"$py" - "$profile" "$src" "$gen" "${needed[@]}" <<'PY'
import json, sys
from pathlib import Path

profile, src, gen, names = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:]
# Presentation only (outputs are never touched): papermill's parameter cells are removed (the
# profile banner says which profile ran), and code is folded behind a "show code" toggle
# unless a cell asks otherwise with one of these tags.
SHOWN = {"show-input", "hide-input", "remove-input", "hide-cell", "remove-cell", "hide-output", "remove-output"}
problems, books = [], {}
for name in names:
    path = src / f"{name}.ipynb"
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        problems.append(f"{path}: not a readable notebook ({e})")
        continue
    pm = nb.get("metadata", {}).get("papermill", {})
    if pm.get("exception"):
        problems.append(f"{path}: papermill recorded an exception (the notebook failed)")
    elif pm and not pm.get("end_time"):
        problems.append(f"{path}: papermill has not finished it (still running, or interrupted)")
    ran = pm.get("parameters", {}).get("profile")
    if ran is not None and ran != profile:
        problems.append(f"{path}: executed for profile '{ran}', not '{profile}'")
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    if code and not any(c.get("outputs") for c in code):
        problems.append(f"{path}: no code cell has an output (not executed?)")
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) or []:
            text = out.get("text", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            if out.get("output_type") == "error":
                problems.append(f"{path}: cell {i} has an error output: {out.get('ename')}: {out.get('evalue')}")
            elif "Traceback (most recent call last)" in text:
                problems.append(f"{path}: cell {i} printed a traceback")
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if cell.get("cell_type") == "code":
            if {"parameters", "injected-parameters"} & set(tags) and "show-input" not in tags:
                tags.append("remove-cell")
            elif not SHOWN & set(tags):
                tags.append("hide-input")
    books[name] = nb
if problems:
    print("build_book.sh: refusing to build from these notebooks:", *problems, sep="\n  ", file=sys.stderr)
    print(f"Re-run them: .venv/bin/python scripts/run_notebooks.py --profile {profile}", file=sys.stderr)
    sys.exit(1)
import shutil
shutil.rmtree(gen, ignore_errors=True)  # only now: a refused build leaves the last book as it was
gen.mkdir(parents=True)
for name, nb in books.items():
    (gen / f"{name}.ipynb").write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
print(f"[book] {len(names)} notebooks OK")
PY
"$py" scripts/book_tables.py --profile "$profile" --out "$gen" --notebooks "$src"

echo "[book] jupyter-book build (warnings are errors)"
rm -rf _build/html _build/.doctrees
t0=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
"$jb" build . --all -W -n --keep-going 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  echo >&2
  echo "build_book.sh: jupyter-book failed (exit $rc). Warnings, which fail the build:" >&2
  grep -E "WARNING|ERROR" "$log" >&2 || true
  exit "$rc"
fi
index="$repo/_build/html/index.html"
[ -s "$index" ] || { echo "build_book.sh: the build left no $index" >&2; exit 1; }
echo "[book] built profile '$profile': jupyter-book $(( $(date +%s) - t0 )) s, $(( $(date +%s) - t_start )) s in all"
echo "$index"
