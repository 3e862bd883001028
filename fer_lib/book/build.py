"""Build the Jupyter Book from the executed notebooks of one profile. Executes and trains nothing.

1. checks that ``build/notebooks/<profile>/`` holds every notebook ``_toc.yml`` lists (made by
   ``fer notebooks``), and that none failed, holds an error output or a traceback, or was executed
   for another profile;
2. copies them into ``book/generated/`` (papermill's parameter cells removed and code folded
   behind a toggle, outputs untouched) and writes the generated fragments there
   (:mod:`fer_lib.book.pages`);
3. runs ``jupyter-book build . --all -W -n --keep-going``: any Sphinx warning (a broken
   cross-reference, a missing figure or include) fails the build.

Entry point: ``fer book PROFILE``.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from fer_lib.book import pages
from fer_lib.book.display import _NUMERIC_TEXT
from fer_lib.book.notebooks import executed_dir
from fer_lib.config import REPO, get_profile

GENERATED = REPO / "book" / "generated"
#: Tags with which a cell chooses its own presentation; other code cells are folded.
SHOWN = {"show-input", "hide-input", "remove-input", "hide-cell", "remove-cell", "hide-output", "remove-output"}


class BookError(RuntimeError):
    """The book cannot be built from what is there; the message says what to run."""


_REPR = re.compile(r"^<[\w.]+ object( at 0x[0-9a-f]+)?>$")


def _bare_repr(output: dict) -> bool:
    """A display whose only non-empty content is a default repr such as "<IPython.core.display.Markdown
    object>" (what an empty Markdown renders as): the page would print it as text."""
    data = output.get("data") or {}
    plain = "".join(data.get("text/plain", ""))
    rich = [k for k, v in data.items() if k != "text/plain" and "".join(v if isinstance(v, list) else [str(v)]).strip()]
    return not rich and bool(_REPR.match(plain.strip()))


#: A table with at least this many columns gets the page's full width (the book theme's ``full-width``).
WIDE_COLUMNS = 7
#: ... and so does one whose longest unbreakable words, one per column, add up to this many
#: characters: about the narrowest it can be laid out, and more than the text column holds.
WIDE_MIN_CHARS = 75


def _wide_table(output: dict) -> bool:
    """An HTML output holding a table with a row of WIDE_COLUMNS cells or more, or one that cannot be
    narrower than WIDE_MIN_CHARS characters of unbreakable words."""
    page = "".join((output.get("data") or {}).get("text/html", ""))
    rows = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S) for row in page.split("<tr")[1:]]
    if any(len(cells) >= WIDE_COLUMNS for cells in rows):
        return True
    longest: dict[int, int] = {}
    for cells in rows:
        for j, cell in enumerate(cells):
            text = html.unescape(re.sub(r"<(?!br)[^>]+>", "", cell))
            # numbers do not wrap (display.table_html): a numeric cell counts line by line, whole
            words = ([line.strip() for line in re.split(r"<br\s*/?>", text)] if _NUMERIC_TEXT.match(
                re.sub(r"<br\s*/?>", " ", text)) else re.sub(r"<br\s*/?>", " ", text).split())
            longest[j] = max(longest.get(j, 0), max(map(len, words), default=0))
    return sum(longest.values()) >= WIDE_MIN_CHARS


def check_notebook(path: Path, profile: str) -> tuple[dict | None, list[str]]:
    """The notebook with presentation tags added, and the problems that forbid building from it."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return None, [f"{path}: not a readable notebook ({e})"]
    problems = []
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
            elif _bare_repr(out):
                problems.append(f"{path}: cell {i} shows a Python object's repr "
                                f"({''.join(out['data']['text/plain']).strip()[:60]}); display something readable instead")
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if any(_wide_table(out) for out in cell.get("outputs", []) or []) and "full-width" not in tags:
            tags.append("full-width")  # the theme lets it use the right-hand margin too
        if cell.get("cell_type") == "code":
            if {"parameters", "injected-parameters"} & set(tags) and "show-input" not in tags:
                tags.append("remove-cell")
            elif not SHOWN & set(tags):
                tags.append("hide-input")
    return nb, problems


def stage(profile: str, src: Path | None = None, out: Path = GENERATED) -> Path:
    """Steps 1 and 2: check the executed notebooks and write ``book/generated/``."""
    profile = get_profile(profile).name
    src = Path(src or executed_dir(profile))
    names = pages.toc_notebooks()
    if not names:
        raise BookError("found no book/generated/ entries in _toc.yml")
    missing = [src / f"{n}.ipynb" for n in names if not (src / f"{n}.ipynb").is_file()]
    if missing:
        raise BookError(f"the executed notebooks of profile '{profile}' are missing:\n  "
                        + "\n  ".join(map(str, missing))
                        + f"\nMake them with: fer notebooks --profile {profile} (add --no-train to only render "
                          f"the results already in results/{profile}/), or everything at once: "
                          f"bash run_all.sh --profile {profile}")
    books, problems = {}, []
    for n in names:
        nb, found = check_notebook(src / f"{n}.ipynb", profile)
        problems += found
        books[n] = nb
    if problems:
        raise BookError("refusing to build from these notebooks:\n  " + "\n  ".join(problems)
                        + f"\nRe-run them: fer notebooks --profile {profile}")
    shutil.rmtree(out, ignore_errors=True)  # only now: a refused build leaves the last book as it was
    out.mkdir(parents=True)
    for n, nb in books.items():
        (out / f"{n}.ipynb").write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    write_downloads(profile, out, books)
    print(f"[book] {len(names)} notebooks OK", flush=True)
    pages.write_all(profile, out, src.resolve())
    return out


def write_downloads(profile: str, out: Path, books: dict[str, dict]) -> None:
    """``book/generated/downloads/``: each executed notebook and each paper's results of this
    profile as one JSON (``<paper>_results.json``; those its page shows, see ``shown_profile``),
    linked from the pages' download lines."""
    from fer_lib.experiments import list_papers
    from fer_lib.results import load_results, shown_profile

    dl = out / "downloads"
    dl.mkdir(parents=True, exist_ok=True)
    for n, nb in books.items():
        (dl / f"{n}.ipynb").write_text(json.dumps(nb, ensure_ascii=False) + "\n", encoding="utf-8")
    for paper in list_papers():
        shown = shown_profile(profile, paper)
        res = load_results(shown, paper)
        (dl / f"{paper}_results.json").write_text(json.dumps({"profile": shown, "paper": paper, "runs": res})
                                                  + "\n", encoding="utf-8")


def build_book(profile: str, src: Path | None = None) -> Path:
    """Stage, then run jupyter-book with warnings as errors; returns ``_build/html/index.html``."""
    t_start = time.perf_counter()
    stage(profile, src)
    jb = Path(sys.executable).with_name("jupyter-book")
    if not jb.exists():
        raise BookError(f"no jupyter-book next to {sys.executable}; run: bash scripts/setup_env.sh")
    print("[book] jupyter-book build (warnings are errors)", flush=True)
    shutil.rmtree(REPO / "_build" / "html", ignore_errors=True)
    shutil.rmtree(REPO / "_build" / ".doctrees", ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.run([str(jb), "build", ".", "--all", "-W", "-n", "--keep-going"], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(proc.stdout, end="")
    if proc.returncode:
        warnings = [ln for ln in proc.stdout.splitlines() if "WARNING" in ln or "ERROR" in ln]
        raise BookError(f"jupyter-book failed (exit {proc.returncode}). Warnings, which fail the build:\n"
                        + "\n".join(warnings))
    index = REPO / "_build" / "html" / "index.html"
    if not index.is_file() or not index.stat().st_size:
        raise BookError(f"the build left no {index}")
    print(f"[book] built profile '{profile}': jupyter-book {time.perf_counter() - t0:.0f} s, "
          f"{time.perf_counter() - t_start:.0f} s in all", flush=True)
    return index


def best_profile(results_dir: Path | None = None) -> str:
    """The profile whose results the book shows when the user names none: the first of
    PROFILE_PREFERENCE (paper, quick, smoke) with a results JSON under ``results/<profile>/``;
    smoke when there is none (its runs are made by ``run_all.sh`` itself)."""
    from fer_lib.config import PROFILE_PREFERENCE, project_dirs

    base = Path(results_dir or project_dirs().results)
    for name in PROFILE_PREFERENCE:
        if any((base / name).rglob("*.json")):
            return name
    return PROFILE_PREFERENCE[-1]
