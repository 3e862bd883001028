"""Command line: ``fer <command>`` (or ``python -m fer_lib``). Run ``fer -h`` for the list."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import cv2

from fer_lib import align, cache, data
from fer_lib.config import PROFILES, DataPaths
from fer_lib.experiments import list_papers, list_references
from fer_lib.results import load_results

# runner/models (TensorFlow) and book (Jupyter) are imported inside the commands that use them,
# so that `fer -h` and the data commands start in a second.


def _paths(args) -> DataPaths:
    """Paths from --fer2013/--ckplus/--fer2013-csv, else the environment, else ../shared/datasets."""
    return DataPaths.resolve(getattr(args, "fer2013", None), getattr(args, "ckplus", None),
                             getattr(args, "fer2013_csv", None))


def _given_ckplus_exists(args, paths: DataPaths, leaving_out: str = "") -> None:
    """A --ckplus given and wrong is a mistake, not a choice: an error saying what leaving it out does."""
    if args.ckplus and not paths.ckplus.exists():
        raise FileNotFoundError(f"{paths.ckplus}: CK+48 folder not found (--ckplus); fix the path, or leave "
                                f"--ckplus out {leaving_out or 'to skip its audit'}")


def cmd_audit(args) -> int:
    """Class counts per usage, sizes and content hashes: check a download before training."""
    paths = _paths(args)
    _given_ckplus_exists(args, paths)  # before the long FER2013 load
    t = time.perf_counter()
    ds = data.load_fer2013(paths.fer2013_csv or paths.fer2013)
    print(f"FER2013 {ds.source}: {len(ds)} images, data hash {ds.source_hash}, loaded in {time.perf_counter() - t:.2f} s")
    for usage in sorted(set(ds.usage)):
        sub = ds.subset(ds.usage == usage)
        print(f"  {usage:12s} {len(sub):6d}  " + "  ".join(f"{k} {v}" for k, v in sub.class_counts().items()))
    if not paths.ckplus.exists():
        print(f"CK+48: not found at {paths.ckplus}, not audited (give --ckplus PATH)")
    else:
        ck = data.load_ckplus(paths.ckplus)
        print(f"CK+48 {ck.source}: {len(ck)} images, {len(set(ck.subject.tolist()))} subjects, "
              f"{len(set(zip(ck.subject.tolist(), ck.sequence.tolist())))} sequences, data hash {ck.source_hash}")
        print("  " + "  ".join(f"{k} {v}" for k, v in ck.class_counts().items()))
    dup = Counter(map(bytes, ds.images.reshape(len(ds), -1)))
    print(f"exact duplicate images in FER2013: {sum(c - 1 for c in dup.values() if c > 1)}")
    return 0


def cmd_to_csv(args) -> int:
    """Write the Kaggle fer2013.csv schema from the image folders (pixels carry JPEG rounding)."""
    ds = data.load_fer2013(_paths(args).fer2013)
    out = data.write_fer2013_csv(ds, args.out)
    print(f"wrote {len(ds)} rows to {out}")
    return 0


def cmd_bundle(args) -> int:
    """One portable file of a dataset, to carry it to a machine that lacks the source."""
    from fer_lib.runner import align_for_jobs, jobs_for

    paths = _paths(args)
    if args.dataset == "ckplus":
        ds, root = data.load_ckplus(paths.ckplus), None
    else:
        ds = data.load_fer2013(paths.fer2013)
        root = paths.fer2013 if paths.fer2013.is_dir() else None
    tables = []
    for profile in args.align_for or []:
        jobs = [j for j in jobs_for(list_papers(), profile)
                if j.experiment.spec.get("dataset", "fer2013") == args.dataset]
        t = time.perf_counter()
        tables += align_for_jobs(jobs, paths)
        print(f"alignment for the {profile} runs on {args.dataset}: {len(set(tables))} table(s), "
              f"{time.perf_counter() - t:.0f} s")
    out = data.save_bundle(ds, args.out, raw_files_root=root, alignment=align.tables_as_arrays(sorted(set(tables))))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, data hash {ds.source_hash}, "
          f"{len(set(tables))} alignment table(s))")
    return 0


def cmd_align(args) -> int:
    """Align every image of FER2013 once (cached); prints the detection rate and the time."""
    ds = data.load_fer2013(_paths(args).fer2013)
    t = time.perf_counter()
    table = align.cached_alignment(ds.images, cache.hash_arrays(ds.images), workers=args.workers)
    print(f"aligned {len(ds)} images in {time.perf_counter() - t:.1f} s; "
          f"detection rate {align.detection_rate(table):.1%}; {table.counts()}")
    return 0


def cmd_run(args) -> int:
    """Train and evaluate experiments (finished runs are skipped, killed runs resume)."""
    from fer_lib.runner import RunsFailed, jobs_for, run_jobs

    paths = _paths(args)
    papers = args.paper or list_papers() + list_references()
    jobs = jobs_for(papers, args.profile, args.experiment, args.seeds)
    if not paths.ckplus.exists():  # a user with only the FER2013 download can still run the rest
        ck = [j for j in jobs if j.experiment.spec.get("dataset") == "ckplus"]
        if ck:
            _given_ckplus_exists(args, paths, f"to skip its {len(ck)} run(s)")
            print(f"fer run: CK+48 not found at {paths.ckplus}; skipping its {len(ck)} run(s) "
                  "(give --ckplus PATH or set CKPLUS_PATH to include them)", file=sys.stderr)
            jobs = [j for j in jobs if j not in ck]
    try:
        for p in run_jobs(jobs, paths, workers=args.workers, verbose=0 if args.quiet else 2,
                          scheduler=args.scheduler):
            print(p)
    except RunsFailed as e:  # each failure was printed when it happened
        print(f"fer run: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_results(args) -> int:
    """A one-line summary per finished run."""
    for exp, runs in sorted(load_results(args.profile).items()):
        accs = [r["metrics"]["accuracy"] for r in runs]
        print(f"{exp:32s} seeds {[r['seed'] for r in runs]}  accuracy "
              + ", ".join(f"{a:.4f}" for a in accs) + f"  ({runs[0]['provenance']['device']})")
    return 0


def cmd_models(args) -> int:
    """List the registered models, or print one model's Keras summary."""
    from fer_lib import models

    if args.name:
        kw = json.loads(args.kwargs) if args.kwargs else {}
        models.create_model(args.name, **kw).summary()
    else:
        print("\n".join(models.list_models()))
    return 0


def cmd_notebooks(args) -> int:
    """Execute the paper notebooks with papermill into build/notebooks/<profile>/."""
    from fer_lib.book.notebooks import run_notebooks

    return run_notebooks(args.profile, _paths(args), train=not args.no_train, workers=args.workers, only=args.only,
                         timeout=args.timeout)


def cmd_book(args) -> int:
    """Build the Jupyter Book of one profile from its executed notebooks (warnings are errors)."""
    from fer_lib.book.build import BookError, build_book

    try:
        print(build_book(args.profile, Path(args.notebooks) if args.notebooks else None))
    except BookError as e:
        print(f"fer book: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_lab(args) -> int:
    """Start JupyterLab on notebooks/ (this environment's kernel; .md notebooks open as notebooks)."""
    from fer_lib.lab import start_lab

    return start_lab(args.jupyter_args, {"fer2013": args.fer2013, "ckplus": args.ckplus,
                                         "fer2013_csv": args.fer2013_csv})


def cmd_export_weights(args) -> int:
    """Copy the best run of each architecture (validation accuracy) to weights/ for the predictor."""
    from fer_lib.export import best_runs, export_best

    if args.list:  # what a GPU machine packs: the kept weights of these runs only
        print("\n".join(os.path.relpath(w) for _, _, w in best_runs(args.profile).values()))
        return 0
    return 0 if export_best(args.profile, Path(args.out) if args.out else None) else 1


def cmd_predict(args) -> int:
    """Emotions of the faces in images, a video or a webcam: annotated copies plus JSON lines."""
    from tqdm import tqdm

    from fer_lib.predict import PredictError, Predictor, annotate, video_frame_count

    if not args.images and args.video is None and args.webcam is None:
        raise ValueError("give image files, --video FILE or --webcam N")
    pred = Predictor(args.model, detector=args.detector, threshold=args.detect_threshold)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failed = written = 0
    names: set[str] = set()
    # appended, never overwritten: a second call adds its rows; every row names its source
    with open(out / "predictions.jsonl", "a", encoding="utf-8") as log:
        if args.video is not None or args.webcam is not None:
            source = args.video if args.video is not None else args.webcam
            name = _unique(Path(args.video).stem if args.video is not None else f"webcam{args.webcam}", names, out,
                           ".annotated.mp4")
            writer = None
            try:
                for k, frame, faces in tqdm(pred.frames(source), total=video_frame_count(source), unit="frame",
                                            desc=name):
                    if writer is None:
                        h, w = frame.shape[:2]
                        writer = cv2.VideoWriter(str(out / f"{name}.annotated.mp4"),
                                                 cv2.VideoWriter_fourcc(*"mp4v"), 25, (w, h))
                        written += 1
                    writer.write(annotate(frame, faces))
                    log.write(json.dumps({"source": str(source), "frame": k, "model": pred.name,
                                          "annotated": f"{name}.annotated.mp4",
                                          "faces": [f.to_dict() for f in faces]}) + "\n")
            except PredictError as e:
                failed += _failed(log, source, e)
            finally:
                if writer is not None:
                    writer.release()
        for path in args.images:
            try:
                image, faces = pred.predict_file(path)
            except PredictError as e:  # name it, record it, and go on with the other files
                failed += _failed(log, path, e)
                continue
            annotated = f"{_unique(Path(path).stem, names, out)}.annotated.jpg"
            cv2.imwrite(str(out / annotated), annotate(image, faces))
            written += 1
            log.write(json.dumps({"source": str(path), "model": pred.name, "annotated": annotated,
                                  "faces": [f.to_dict() for f in faces]}) + "\n")
            print(f"{path}: " + (", ".join(f"{f.emotion} {f.probabilities[f.emotion]:.0%}" for f in faces)
                                 or "no face (a face turned away or covered may need --detector dlib)"))
    print(f"[predict] model {pred.name}; {written} annotated file(s) in {out}, rows appended to "
          f"{out / 'predictions.jsonl'}" + (f"; {failed} input(s) could not be read" if failed else ""))
    return 1 if failed else 0


def _failed(log, source, error: Exception) -> int:
    """Say which input could not be read, on stderr and as an error row of predictions.jsonl."""
    print(f"fer predict: {error}", file=sys.stderr)
    log.write(json.dumps({"source": str(source), "error": str(error)}) + "\n")
    return 1


def _unique(stem: str, taken: set[str], out: Path, suffix: str = ".annotated.jpg") -> str:
    """``stem``, or ``stem-2``, ``stem-3``… when an input of this call had that name (a/x.jpg and
    b/x.jpg) or an earlier call left that file in ``out``: no annotated copy is ever overwritten.
    Names differing only in case count as the same (they are one file on Windows and macOS)."""
    name, k = stem, 1
    while name.casefold() in taken or (out / f"{name}{suffix}").exists():
        k += 1
        name = f"{stem}-{k}"
    taken.add(name.casefold())
    return name


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fer", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def data_args(s):
        s.add_argument("--fer2013", help="FER2013 folder (train/, test/), fer2013.csv or bundle; "
                                          "default $FER2013_PATH or ../shared/datasets/fer2013")
        s.add_argument("--ckplus", help="CK+48 folder; default $CKPLUS_PATH or ../shared/datasets/ckplus48")
        s.add_argument("--fer2013-csv", help="the original Kaggle fer2013.csv, if you have it")

    s = sub.add_parser("audit", help=cmd_audit.__doc__)
    data_args(s)
    s.set_defaults(fn=cmd_audit)
    s = sub.add_parser("to-csv", help=cmd_to_csv.__doc__)
    data_args(s)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_to_csv)
    s = sub.add_parser("bundle", help=cmd_bundle.__doc__)
    data_args(s)
    s.add_argument("--dataset", choices=["fer2013", "ckplus"], default="fer2013")
    s.add_argument("--out", required=True)
    s.add_argument("--align-for", nargs="*", choices=list(PROFILES), metavar="PROFILE",
                   help="also carry the alignment tables every run of these profiles needs on this "
                        "dataset (computed here with dlib once), so they run where dlib is missing")
    s.set_defaults(fn=cmd_bundle)
    s = sub.add_parser("align", help=cmd_align.__doc__)
    data_args(s)
    s.add_argument("--workers", type=int, default=2)
    s.set_defaults(fn=cmd_align)
    s = sub.add_parser("run", help=cmd_run.__doc__, epilog=(
        "Results go to $FER_RESULTS (default: results/ of the checkout, or ./results), the resume state "
        "of unfinished runs to $FER_WORK (default: .work/)."))
    data_args(s)
    s.add_argument("--paper", nargs="*", choices=list_papers() + list_references(),
                   help="default: all five papers and `reference` (our strong FER2013 model)")
    s.add_argument("--experiment", nargs="*",
                   help="experiment names (full) or ids (emotionnet/full); any paper's, without --paper")
    s.add_argument("--profile", choices=list(PROFILES), default="smoke",
                   help="; ".join(f"{p.name}: {p.summary}" for p in PROFILES.values()))
    s.add_argument("--seeds", nargs="*", type=int, help="default: the profile's seeds")
    s.add_argument("--workers", type=int, default=1, help="parallel runs (processes)")
    s.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on this Dask cluster instead (tcp://host:8786 or a scheduler file); its "
                        "workers must share this checkout's results/ and data paths")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(fn=cmd_run)
    s = sub.add_parser("results", help=cmd_results.__doc__)
    s.add_argument("--profile", choices=list(PROFILES), default="quick")
    s.set_defaults(fn=cmd_results)
    s = sub.add_parser("models", help=cmd_models.__doc__)
    s.add_argument("name", nargs="?")
    s.add_argument("--kwargs", help='builder arguments as JSON, e.g. \'{"input_shape": [48, 48, 1]}\'')
    s.set_defaults(fn=cmd_models)
    s = sub.add_parser("predict", help=cmd_predict.__doc__)
    s.add_argument("images", nargs="*", help="image files")
    s.add_argument("--video", help="a video file")
    s.add_argument("--webcam", type=int, metavar="N", help="camera number (0 = the default camera)")
    s.add_argument("--model", help="a shipped model (weights/); default the best by validation accuracy")
    s.add_argument("--detector", choices=["haar", "dlib"], default="haar")
    s.add_argument("--detect-threshold", type=float, default=0.0,
                   help="dlib score cut-off (default 0; about -0.6 also finds partly covered faces)")
    s.add_argument("--out", default="predictions", help="output folder (default ./predictions)")
    s.set_defaults(fn=cmd_predict)
    s = sub.add_parser("export-weights", help=cmd_export_weights.__doc__)
    s.add_argument("--profile", choices=list(PROFILES), default="quick")
    s.add_argument("--out", help="default weights/ in the checkout")
    s.add_argument("--list", action="store_true",
                   help="only print the kept weights files of those best runs, one a line (nothing copied)")
    s.set_defaults(fn=cmd_export_weights)
    s = sub.add_parser("notebooks", help=cmd_notebooks.__doc__)
    data_args(s)
    s.add_argument("--profile", choices=list(PROFILES), default="smoke")
    s.add_argument("--workers", type=int, default=1, help="parallel training processes")
    s.add_argument("--only", nargs="+", metavar="NAME", help="run only these notebooks")
    s.add_argument("--no-train", action="store_true", help="only render existing results; train nothing")
    s.add_argument("--timeout", type=int, default=0, help="per-cell timeout in seconds; 0 = none")
    s.set_defaults(fn=cmd_notebooks)
    s = sub.add_parser("book", help=cmd_book.__doc__)
    s.add_argument("profile", choices=list(PROFILES))
    s.add_argument("--notebooks", help="folder of executed notebooks (default build/notebooks/<profile>)")
    s.set_defaults(fn=cmd_book)
    s = sub.add_parser("lab", help=cmd_lab.__doc__,
                       description=cmd_lab.__doc__ + " Other options (--port 8890, --no-browser, ...) go to jupyter lab.")
    data_args(s)
    s.set_defaults(fn=cmd_lab)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":  # only `fer lab` passes unknown options on (to jupyter lab)
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.jupyter_args = extra
    try:
        return args.fn(args)
    except (data.DataError, ValueError, FileNotFoundError) as e:
        print(f"fer {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
