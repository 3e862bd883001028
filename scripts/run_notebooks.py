"""Execute the book's notebooks with papermill, from their Jupytext (MyST markdown) sources.

Each ``notebooks/<name>.md`` is read with jupytext *in memory* (papermill cannot read .md),
its ``parameters`` cell is overridden with the command-line values, and the executed notebook
is written to ``build/notebooks/<profile>/<name>.ipynb``. A failing notebook is reported with
its name and the others still run; the exit status is non-zero if any failed.

    .venv/bin/python scripts/run_notebooks.py --profile smoke
    .venv/bin/python scripts/run_notebooks.py --profile quick --no-train --only ozer scoreboard
    .venv/bin/python scripts/run_notebooks.py --profile paper --fer2013 ~/data/fer2013 --workers 4
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
#: Execution order: the data audit first, the scoreboard (which reads every paper's results) last.
ORDER = ("data_audit", "wasey", "emotionnet", "lamichhane", "ozer", "xu", "scoreboard")
PROFILES = ("smoke", "quick", "paper")


def available() -> list[str]:
    found = {p.stem for p in NOTEBOOKS.glob("*.md")}
    return [n for n in ORDER if n in found] + sorted(found - set(ORDER))


def _abs(path: str) -> str:
    return str(Path(path).expanduser().resolve()) if path else ""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="smoke", choices=PROFILES,
                    help="smoke: minutes on a CPU, numbers are not evidence; quick: full data, <= 10 epochs; "
                         "paper: the papers' protocols, 3 seeds (default: smoke)")
    ap.add_argument("--fer2013", default="", help="FER2013 folder (train/ and test/), fer2013.csv or a bundle "
                                                  "(default: ../shared/datasets/fer2013)")
    ap.add_argument("--ckplus", default="", help="CK+48 folder or bundle (default: ../shared/datasets/ckplus48)")
    ap.add_argument("--fer2013-csv", default="", help="the original Kaggle fer2013.csv, if you have it")
    ap.add_argument("--workers", type=int, default=1, help="parallel training processes (default 1)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help=f"run only these notebooks (of {', '.join(ORDER)})")
    ap.add_argument("--no-train", action="store_true", help="only render existing results; train nothing")
    ap.add_argument("--out", default=str(REPO / "build" / "notebooks"),
                    help="output folder; notebooks go to <out>/<profile>/<name>.ipynb")
    ap.add_argument("--kernel", default="python3", help="Jupyter kernel (default python3)")
    ap.add_argument("--timeout", type=int, default=0,
                    help="per-cell timeout in seconds; 0 = none (training cells can run for hours)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = available()
    if args.only:
        unknown = [n for n in args.only if n not in names]
        if unknown:
            print(f"unknown notebook(s) {unknown}; available: {names}", file=sys.stderr)
            return 2
        names = [n for n in names if n in args.only]
    import jupytext
    import papermill as pm

    params = {"profile": args.profile, "fer2013_path": _abs(args.fer2013), "ckplus_path": _abs(args.ckplus),
              "fer2013_csv": _abs(args.fer2013_csv), "workers": args.workers, "train": not args.no_train}
    out_dir = Path(args.out).expanduser().resolve() / args.profile
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"[notebooks] profile {args.profile}, train={not args.no_train}, {len(names)} notebook(s): "
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
            nb.metadata.setdefault("kernelspec", {"name": args.kernel, "display_name": "Python 3",
                                                  "language": "python"})
            # only the parameters this notebook declares (all of them do, by convention)
            pm.execute_notebook(nb, str(out), parameters=params, kernel_name=args.kernel,
                                cwd=str(NOTEBOOKS), execution_timeout=args.timeout or None,
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


if __name__ == "__main__":
    sys.exit(main())
