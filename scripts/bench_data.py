"""Benchmark the FER2013 loaders: cold decode, cached load, CSV parse, bundle load.

    .venv/bin/python scripts/bench_data.py [--fer2013 PATH] [--repeat 3]

Prints figures only; speed targets live here, not in the tests.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fer2013", default=str(Path(__file__).resolve().parents[2] / "shared/datasets/fer2013"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FER_CACHE_DIR"] = str(Path(tmp) / "cache")
        from fer_lib import data

        t = time.perf_counter()
        ds = data.load_fer2013(args.fer2013)
        cold = time.perf_counter() - t
        warm = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            data.load_fer2013(args.fer2013)
            warm.append(time.perf_counter() - t)
        print(f"FER2013 image folders: {len(ds)} images, {os.cpu_count()} CPU cores")
        print(f"  first load (decode all JPEGs + write cache): {cold:.2f} s")
        print(f"  cached load: median {statistics.median(warm):.2f} s over {args.repeat} (min {min(warm):.2f} s)")
        csv = Path(tmp) / "fer2013.csv"
        t = time.perf_counter()
        data.write_fer2013_csv(ds, csv)
        print(f"  write fer2013.csv: {time.perf_counter() - t:.2f} s ({csv.stat().st_size / 1e6:.0f} MB)")
        t = time.perf_counter()
        data.load_fer2013_csv(csv, use_cache=False)
        print(f"  parse fer2013.csv (validating every row): {time.perf_counter() - t:.2f} s")
        data.load_fer2013_csv(csv)  # parse once more, writing the cache
        t = time.perf_counter()
        data.load_fer2013_csv(csv)
        print(f"  cached CSV load: {time.perf_counter() - t:.2f} s")
        b = data.save_bundle(ds, Path(tmp) / "bundle.npz", raw_files_root=args.fer2013)
        t = time.perf_counter()
        data.load_fer2013(b)
        print(f"  bundle of original JPEG bytes: {b.stat().st_size / 1e6:.1f} MB, load+decode {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
