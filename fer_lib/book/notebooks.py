"""Execute the book's notebooks with papermill, from their Jupytext (MyST markdown) sources.

Each ``notebooks/<name>.md`` is read with jupytext *in memory* (papermill cannot read .md), its
``parameters`` cell is overridden with the given values, and the executed notebook is written to
``build/notebooks/<profile>/<name>.ipynb``. A failing notebook is reported with its name and the
others still run. Entry point: ``fer notebooks``.
"""
from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

import jupytext
import papermill as pm

from fer_lib.config import REPO, DataPaths, get_profile

NOTEBOOKS = REPO / "notebooks"
#: Execution order: the data audit first, the scoreboard (which reads every paper's results) last.
ORDER = ("data_audit", "wasey", "emotionnet", "lamichhane", "ozer", "xu", "reference", "cross_dataset",
         "explanations", "scoreboard")


def executed_dir(profile: str) -> Path:
    """Where the executed notebooks of ``profile`` go (and where the book build reads them)."""
    return REPO / "build" / "notebooks" / profile


def available() -> list[str]:
    found = {p.stem for p in NOTEBOOKS.glob("*.md")}
    return [n for n in ORDER if n in found] + sorted(found - set(ORDER))


def run_notebooks(profile: str, paths: DataPaths, *, train: bool = True, workers: int = 1,
                  only: list[str] | None = None, out: Path | None = None, kernel: str = "python3",
                  timeout: int = 0) -> int:
    """Execute the notebooks (``only`` some of them) for ``profile``; 0 when all ran, 1 otherwise."""
    profile = get_profile(profile).name
    names = available()
    if only:
        unknown = [n for n in only if n not in names]
        if unknown:
            raise ValueError(f"unknown notebook(s) {unknown}; available: {names}")
        names = [n for n in names if n in only]
    default = DataPaths.resolve(env={})  # passed as "" so executed notebooks hold no machine paths

    def given(path, default_path) -> str:
        return "" if path is None or path == default_path else str(path)

    params = {"profile": profile, "fer2013_path": given(paths.fer2013, default.fer2013),
              "ckplus_path": given(paths.ckplus, default.ckplus),
              "fer2013_csv": given(paths.fer2013_csv, default.fer2013_csv), "workers": workers, "train": train}
    out_dir = Path(out or executed_dir(profile).parent).expanduser().resolve() / profile
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"[notebooks] profile {profile}, train={train}, {len(names)} notebook(s): "
          f"{', '.join(names)}", flush=True)
    failed: list[tuple[str, str]] = []
    for k, name in enumerate(names, 1):
        src = NOTEBOOKS / f"{name}.md"
        out = out_dir / f"{name}.ipynb"
        print(f"[notebooks] ({k}/{len(names)}) {name}: executing {src.relative_to(REPO)} ...", flush=True)
        t0 = time.perf_counter()
        try:
            nb = jupytext.read(src)
            for cell in nb.cells:  # papermill looks up tags on every cell
                cell.metadata.setdefault("tags", [])
            nb.metadata.setdefault("kernelspec", {"name": kernel, "display_name": "Python 3",
                                                  "language": "python"})
            # only the parameters this notebook declares (all of them do, by convention)
            pm.execute_notebook(nb, str(out), parameters=params, kernel_name=kernel,
                                cwd=str(NOTEBOOKS), execution_timeout=timeout or None,
                                progress_bar=False, log_output=False, report_mode=False)
        except Exception as e:  # report and go on with the others
            msg = str(e).strip().splitlines()
            short = next((line for line in reversed(msg) if line.strip()), type(e).__name__) if msg else type(e).__name__
            failed.append((name, short))
            print(f"[notebooks] FAILED {name} after {time.perf_counter() - t0:.0f} s: {short}\n"
                  f"            partial output: {out}", file=sys.stderr, flush=True)
            if not isinstance(e, pm.PapermillExecutionError):
                traceback.print_exc()
            continue
        print(f"[notebooks] done {name} in {time.perf_counter() - t0:.0f} s -> {out}", flush=True)
    if failed:
        print(f"[notebooks] {len(failed)} of {len(names)} notebook(s) failed: "
              + "; ".join(f"{n} ({m})" for n, m in failed), file=sys.stderr)
        return 1
    print(f"[notebooks] all {len(names)} notebook(s) executed; outputs in {out_dir}")
    return 0
