"""Benchmark dlib eye alignment on FER2013: detection rate, time per image, full-run time.

Sample mode (default) aligns a stratified sample of FER2013 *train* crops (2,000 by default,
proportional per emotion) and extrapolates to all 35,887 images; ``--all`` aligns every
train+test image through the real cache (fer_lib.cache.cache_dir()) and reports measured
figures. Images come from fer_lib.data (validated, cached).

    .venv/bin/python scripts/bench_alignment.py [--sample 2000] [--workers 2] [--all]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fer_lib import align as al  # noqa: E402
from fer_lib import data  # noqa: E402
from fer_lib.cache import hash_arrays  # noqa: E402

FER_TOTAL = 35_887


def load(root: Path, sample: int | None, seed: int) -> tuple[np.ndarray, list[str]]:
    """All images (``sample`` None) in the loader's order, which is the pool order the EmotionNet
    experiments align (so ``--all`` fills their cache), or a stratified sample of Training."""
    ds = data.load_fer2013(root)
    if sample is not None:
        train = np.flatnonzero(ds.usage == "Training")
        pick, _ = train_test_split(train, train_size=sample, random_state=seed, stratify=ds.labels[train])
        ds = ds.subset(np.sort(pick))
    return ds.images, [ds.class_names[k] for k in ds.labels]


def report_table(table: al.AlignmentTable, labels: list[str]) -> None:
    print(f"detection rate: {al.detection_rate(table):.1%} of {len(table)} images "
          f"(dlib HOG, threshold 0, {al.DETECT_MIN_SIDE // 48}x cubic upscale)")
    print("  status counts:", table.counts())
    lab = np.array(labels)
    per = ", ".join(f"{e} {table.detected[lab == e].mean():.0%}" for e in sorted(set(labels)))
    print("  per emotion:", per)
    a = np.abs(table.angle_deg)
    for name, m in (("detected", table.detected), ("fallback", ~table.detected & table.rotated)):
        if m.any():
            print(f"  |eye angle| {name}: median {np.median(a[m]):.1f} deg, "
                  f"> 10 deg {np.mean(a[m] > 10):.1%}")
    print("  calibrated fallback box (l, t, r, b) x48:",
          np.round(np.asarray(table.fallback_box) * 48, 2).tolist())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--fer2013", type=Path, default=REPO.parent / "shared" / "datasets" / "fer2013")
    ap.add_argument("--sample", type=int, default=2000, help="train images in the sample")
    ap.add_argument("--all", action="store_true", help="align all train+test images (cached)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fresh", action="store_true", help="with --all: recompute even if cached")
    args = ap.parse_args()
    root = args.fer2013.resolve()
    print(f"FER2013 folder: {root}; workers: {args.workers}; CPU cores: {os.cpu_count()}")

    t0 = time.perf_counter()
    images, labels = load(root, None if args.all else args.sample, args.seed)
    print(f"loaded {len(images)} images with fer_lib.data in {time.perf_counter() - t0:.1f} s")

    aligner = al.FaceAligner()
    t0 = time.perf_counter()
    _ = aligner.predictor, aligner.detector
    print(f"model load (68-point predictor + HOG detector): {time.perf_counter() - t0:.2f} s")

    # Serial cost per image (one process, models loaded, default fallback box).
    n_serial = min(len(images), 1000)
    t0 = time.perf_counter()
    for img in images[:n_serial]:
        aligner.measure(img)
    per_img = (time.perf_counter() - t0) / n_serial
    print(f"time per image, 1 process: {per_img * 1e3:.2f} ms "
          f"(detect on 192x192 + 68-point fit; over {n_serial} images)")

    t0 = time.perf_counter()
    al.FaceAligner().calibrate(images)
    t_cal = time.perf_counter() - t0
    print(f"fallback-box calibration (500-image sample): {t_cal:.2f} s")

    data_hash = hash_arrays(images)
    final, partial = al._cache_paths(data_hash, al.FaceAligner())
    cached_before = final.exists()
    if cached_before and (args.fresh or not args.all):
        final.unlink()
        cached_before = False
    if not args.all:
        shutil.rmtree(partial, ignore_errors=True)

    t0 = time.perf_counter()
    table = al.cached_alignment(images, data_hash, workers=args.workers, progress=True)
    t_run = time.perf_counter() - t0
    if cached_before:
        print(f"--all: table was already cached ({final}); rerun with --fresh to time it")
    else:
        print(f"aligned {len(images)} images with {args.workers} workers in {t_run:.1f} s "
              f"({t_run / len(images) * 1e3:.2f} ms/image wall, incl. calibration and "
              "worker start-up)")
    report_table(table, labels)

    if args.all and not cached_before:
        print(f"MEASURED time to align all {len(images)} FER2013 images with "
              f"{args.workers} workers: {t_run:.1f} s ({t_run / 60:.1f} min)")
    elif not args.all:
        # calibration is a fixed cost (one 500-image sample); the rest scales with N
        est_ser = t_cal + FER_TOTAL * per_img
        est_lin = t_cal + FER_TOTAL * per_img / args.workers
        est_ext = t_cal + FER_TOTAL * (t_run - t_cal) / len(images)
        print(f"ESTIMATED time to align all {FER_TOTAL} FER2013 images: "
              f"{est_lin:.0f} s ({est_lin / 60:.1f} min) with {args.workers} workers "
              f"(1-process cost / {args.workers}); {est_ext:.0f} s ({est_ext / 60:.1f} min) "
              "extrapolating this parallel run (pessimistic: its worker start-up is spread "
              f"over only {len(images)} images); {est_ser:.0f} s ({est_ser / 60:.1f} min) "
              "in 1 process")

    t0 = time.perf_counter()
    again = al.cached_alignment(images, data_hash, workers=args.workers, progress=False)
    t_load = time.perf_counter() - t0
    assert len(again) == len(images)
    t0 = time.perf_counter()
    al.apply_alignment(images, again)
    t_apply = time.perf_counter() - t0
    print(f"cache load: {t_load * 1e3:.1f} ms ({final.stat().st_size / 1e6:.2f} MB, {final.name}); "
          f"apply_alignment (OpenCV only): {t_apply * 1e3:.0f} ms for {len(images)} images")
    print(f"data_hash: {data_hash}")


if __name__ == "__main__":
    main()
