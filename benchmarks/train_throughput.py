"""Training throughput per architecture: the paper-style pipeline against ours, in one run.

    .venv/bin/python benchmarks/train_throughput.py [--quick] [--out benchmarks/results/X.txt]
    KERAS_BACKEND=jax .venv/bin/python benchmarks/train_throughput.py   # the device-resident path

Same model, batch size, optimiser, data and device for both:

* paper-style: Keras ``fit`` from host NumPy arrays, one optimiser step per dispatch, with the
  augmentation drawn per batch on the host by ``ImageDataGenerator`` (how the papers' code and most
  public FER repositories do it; EmotionNet's brightness, contrast and noise, which that class
  lacks, in its per-image ``preprocessing_function``);
* ours: :func:`fer_lib.train.fit`, the runner's trainer, with its checkpoint, resume and
  early-stopping callbacks: on JAX the device-resident loop (data on the device, a compiled epoch,
  the augmentation layer in the compiled step), on TensorFlow Keras ``fit`` with that layer and
  several steps per compiled call (``KERAS_STEPS_PER_EXECUTION``).

Real FER2013 images (pixel content does not change the cost). An epoch's time includes its
validation pass; the first epoch (compilation) is not counted and the fastest of the others is
reported, evaluation (over the training images, long enough to time) is the best of three passes
(a shared host only ever slows a pass down). Each
path runs ``--repeats`` times, alternating which goes first, so drift on the host favours neither;
the best pass of each is reported. The projection multiplies every
``paper``-profile run's optimiser steps (epochs x passes x training images / batch x folds, no early stop:
an upper bound) by the measured steps/s of the benchmarked model it maps to, one run at a time.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import keras  # noqa: E402

from fer_lib import data  # noqa: E402
from fer_lib.config import DataPaths  # noqa: E402
from fer_lib.experiment_data import model_input  # noqa: E402
from fer_lib.experiments import experiments_for, train_config  # noqa: E402
from fer_lib.models import create_model, from_config  # noqa: E402
from fer_lib.preprocess import augmentation_spec  # noqa: E402
from fer_lib.results import package_versions  # noqa: E402
from fer_lib.runner import estimated_cost, jobs_for  # noqa: E402
from fer_lib.train import (KERAS_STEPS_PER_EXECUTION, device_description, fit, make_optimizer, predict,  # noqa: E402
                            resolve_trainer, set_determinism)

#: (label, paper, experiment): the architectures the speed target names, plus Xu's two for the projection.
ARCHS = [("Özer CNN", "ozer", "directory-cnn"), ("Özer CNN-LSTM", "ozer", "directory-cnn_lstm"),
         ("Wasey CNN-LSTM + aug", "wasey", "cnn_lstm"), ("EmotionNet CNN-LSTM + aug", "emotionnet", "full"),
         ("Lamichhane CNN-BiLSTM", "lamichhane", "cnn_bilstm-7"), ("Xu CNN", "xu", "cnn"),
         ("Xu RNN-LSTM", "xu", "rnn_lstm")]


def host_augmentation(params: dict):
    """The paper-style augmentation: Keras' legacy ``ImageDataGenerator`` with the preset's ranges."""
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    rng = np.random.default_rng(0)
    b, c, n = params.get("brightness", 0.0), params.get("contrast", 0.0), params.get("noise", 0.0)

    def photometric(img):  # per image, on the host, as preprocessing_function runs
        if b:
            img = img + rng.uniform(-b, b)
        if c:
            img = (img - img.mean()) * rng.uniform(1 - c, 1 + c) + img.mean()
        if n:
            img = img + rng.normal(0.0, n, img.shape)
        return np.clip(img, 0.0, 1.0).astype(np.float32)

    return ImageDataGenerator(
        rotation_range=params.get("rotation_deg", 0.0), width_shift_range=params.get("shift", 0.0),
        height_shift_range=params.get("shift", 0.0), zoom_range=params.get("zoom", 0.0),
        shear_range=math.degrees(math.atan(params.get("shear", 0.0))), horizontal_flip=params.get("flip", False),
        fill_mode="nearest", preprocessing_function=photometric if (b or c or n) else None)


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._t)


def steady(seconds: list[float]) -> float:
    """The fastest epoch after the first (which compiles): on a shared host other work only ever
    slows an epoch down, so the minimum is the least disturbed figure (as ``timeit`` reports)."""
    return float(np.min(seconds[1:] if len(seconds) > 1 else seconds))


def eval_rate(fn, x, repeats: int = 3) -> float:
    """Evaluation images/s, the best of ``repeats`` passes after a compiling one."""
    fn(x[:256])
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - t)
    return len(x) / best


def bench(label: str, paper: str, name: str, x_all: dict, y_all, n_train: int, n_val: int, epochs: int,
          repeats: int = 1) -> dict:
    exp = experiments_for(paper, [name])[0]
    spec = exp.spec
    cfg = train_config(exp, "paper")
    kind = spec.get("input", "gray01")
    x, y = x_all[kind][:n_train], y_all[:n_train]
    xv, yv = x_all[kind][n_train:n_train + n_val], y_all[n_train:n_train + n_val]
    kwargs = dict(spec.get("model_kwargs", {}), classes=7)
    aug = augmentation_spec(spec.get("augmentation"))
    bs = cfg.batch_size
    steps = math.ceil(n_train / bs)

    def paper_style() -> tuple[float, float]:
        set_determinism(0)  # as the runner seeds every run (on TensorFlow: deterministic ops), both paths
        model = create_model(spec["model"], **kwargs)
        model.compile(optimizer=make_optimizer(cfg.optimizer, cfg.learning_rate),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        timer = EpochTimer()
        if aug:
            flow = host_augmentation(aug).flow(x, y, batch_size=bs, seed=0)
            model.fit(flow, validation_data=(xv, yv), epochs=epochs, callbacks=[timer], verbose=0)
        else:
            model.fit(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=bs, shuffle=True,
                      callbacks=[timer], verbose=0)
        return steady(timer.seconds), eval_rate(lambda v: model.predict(v, batch_size=bs, verbose=0), x)

    def ours() -> tuple[float, float]:
        set_determinism(0)  # as the runner seeds every run (on TensorFlow: deterministic ops), both paths
        model = from_config(spec, 7)
        short = type(cfg)(**{**cfg.to_dict(), "epochs": epochs, "early_stopping_patience": None,
                             "reduce_lr_patience": None})
        with tempfile.TemporaryDirectory() as work:
            out = fit(model, x, y, xv, yv, short, Path(work), verbose=0)
        return (steady([s for s in out["history"]["seconds"] if s is not None]),
                eval_rate(lambda v: predict(model, v)[0], x))

    # Alternate which path goes first and keep each path's best: a drifting shared host then
    # favours neither (one pass of each, paper-style first, when repeats is 1).
    runs = {"paper": [], "ours": []}
    for rep in range(repeats):
        for path in (("paper", "ours") if rep % 2 == 0 else ("ours", "paper")):
            runs[path].append(paper_style() if path == "paper" else ours())
    paper_s, paper_eval = min(t for t, _ in runs["paper"]), max(e for _, e in runs["paper"])
    ours_s, ours_eval = min(t for t, _ in runs["ours"]), max(e for _, e in runs["ours"])
    return {"label": label, "model": spec["model"], "paper": paper, "batch": bs, "aug": bool(aug),
            "paper_ips": n_train / paper_s, "ours_ips": n_train / ours_s,
            "paper_sps": steps / paper_s, "ours_sps": steps / ours_s,
            "paper_eval": paper_eval, "ours_eval": ours_eval}


def projection(rows: list[dict]) -> tuple[float, float, int, list[str]]:
    """Serial wall time of the whole paper profile at the measured steps/s (paper-style, ours)."""
    by_model = {r["model"]: r for r in rows}
    by_paper = {}
    for r in rows:
        by_paper.setdefault(r["paper"], r)
    total_p = total_o = 0.0
    mapped = set()
    jobs = jobs_for(sorted(by_paper), "paper")
    for job in jobs:
        spec = job.experiment.spec
        r = by_model.get(spec["model"]) or by_paper[job.experiment.paper]
        if r["model"] != spec["model"]:
            mapped.add(f"{spec['model']} -> {r['model']}")
        steps = estimated_cost(job) / train_config(job.experiment, job.profile).batch_size
        total_p += steps / r["paper_sps"]
        total_o += steps / r["ours_sps"]
    return total_p, total_o, len(jobs), sorted(mapped)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI-sized: 256 training images, 2 epochs, no projection")
    ap.add_argument("--train", type=int, default=4096, help="training images per epoch")
    ap.add_argument("--epochs", type=int, default=4, help="epochs per path (the first is not counted)")
    ap.add_argument("--repeats", type=int, default=2,
                    help="passes of each path, alternating which goes first; the best is reported")
    ap.add_argument("--arch", nargs="*", help="labels to run (default: all)")
    ap.add_argument("--fer2013", help="FER2013 folder, CSV or bundle (default: $FER2013_PATH or ../shared)")
    ap.add_argument("--out", help="also write the report to this file")
    args = ap.parse_args()
    n_train, epochs, repeats = (256, 2, 1) if args.quick else (args.train, args.epochs, args.repeats)
    n_val = max(64, n_train // 8)
    ds = data.load_fer2013(DataPaths.resolve(args.fer2013, None).fer2013)
    order = np.random.default_rng(0).permutation(len(ds))[: n_train + n_val]
    imgs, labels = ds.images[order], ds.labels[order]
    x_all = {k: model_input(imgs, k) for k in ("gray01", "rgb255")}
    archs = [a for a in ARCHS if not args.arch or a[0] in args.arch]

    trainer = resolve_trainer()
    lines = [f"# train_throughput ({'quick' if args.quick else 'full'})",
             f"device: {device_description()}; trainer (ours): {trainer}"
             + (f" ({KERAS_STEPS_PER_EXECUTION} steps per call)" if trainer == "keras" else "") + "; "
             f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
             f"versions: " + ", ".join(f"{k} {v}" for k, v in package_versions().items()
                                       if k in ("keras", "tensorflow", "jax", "numpy")),
             f"{n_train} training + {n_val} validation FER2013 images per epoch, {epochs} epochs per path and "
             f"pass, {repeats} pass(es) per path alternating which goes first (the fastest epoch after "
             "each pass's first); images/s of training (validation pass included) and of "
             f"evaluation over the {n_train} training images (best of 3 passes); both paths seeded by "
             f"set_determinism, as the runner runs: {set_determinism(0)['detail'] or 'seeds only'}", ""]
    head = (f"{'architecture':27s} {'batch':>5s} | {'paper img/s':>11s} {'ours img/s':>10s} {'ratio':>6s} | "
            f"{'paper step/s':>12s} {'ours step/s':>11s} | {'eval paper':>10s} {'eval ours':>9s} {'ratio':>6s}")
    lines += [head, "-" * len(head)]
    print("\n".join(lines), flush=True)
    rows = []
    for label, paper, name in archs:
        r = bench(label, paper, name, x_all, labels, n_train, n_val, epochs, repeats)
        rows.append(r)
        line = (f"{label:27s} {r['batch']:5d} | {r['paper_ips']:11.0f} {r['ours_ips']:10.0f} "
                f"{r['ours_ips'] / r['paper_ips']:5.2f}x | {r['paper_sps']:12.1f} {r['ours_sps']:11.1f} | "
                f"{r['paper_eval']:10.0f} {r['ours_eval']:9.0f} {r['ours_eval'] / r['paper_eval']:5.2f}x")
        lines.append(line)
        print(line, flush=True)
    if not args.quick and {p for _, p, _ in ARCHS} <= {r["paper"] for r in rows}:
        tp, to, n, mapped = projection(rows)
        extra = ["", f"projected paper profile of the five papers ({n} runs, max epochs, no early stop, one run at a "
                     "time; the strong reference not included): "
                     f"paper-style {tp / 3600:.1f} h, ours {to / 3600:.1f} h ({tp / to:.2f}x)",
                 "  models without their own row use their paper's row: " + ", ".join(mapped),
                 "  (CK+ clip runs are priced per clip at the single-image model's step rate)"]
        lines += extra
        print("\n".join(extra))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
