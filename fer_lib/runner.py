"""Run experiments and write one results JSON per (experiment, seed) under ``results/<profile>/``.

* A finished run (its JSON exists) is skipped; writes are atomic.
* A killed run resumes from its last finished epoch (see :mod:`fer_lib.train`), and a k-fold
  run from its last finished fold; nothing finished is lost.
* Independent runs go in parallel in separate processes (``workers``); several small models
  share one GPU well.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import shutil
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import keras
import numpy as np

from fer_lib import cache
from fer_lib.config import DataPaths, Profile, get_profile, project_dirs
from fer_lib.experiment_data import prepare
from fer_lib.experiments import Experiment, experiments_for, train_config
from fer_lib.metrics import classification_report
from fer_lib.models import create_model
from fer_lib.preprocess import add_gaussian_noise, augmentation_layers
from fer_lib.results import git_commit, package_versions
from fer_lib.train import device_description, fit, predict, set_determinism
from fer_lib.verdicts import versions



@dataclass(frozen=True)
class Job:
    """One (experiment, profile, seed), with the folders its result and resumable state go to."""

    experiment: Experiment
    profile: Profile
    seed: int
    results_dir: Path
    work_dir: Path

    @property
    def result_path(self) -> Path:
        return self.results_dir / self.profile.name / self.experiment.paper / self.experiment.name / f"seed{self.seed}.json"

    @property
    def work_path(self) -> Path:
        return self.work_dir / self.profile.name / self.experiment.paper / self.experiment.name / f"seed{self.seed}"


def provenance(job: Job, data_hash: str, commit: tuple[str, bool]) -> dict:
    """Where a result came from; ``commit`` is read when the run starts, not when it ends."""
    commit, dirty = commit
    return {"commit": commit, "dirty": dirty, "data_hash": data_hash, "seed": job.seed, "profile": job.profile.name,
            "device": device_description(), "backend": keras.backend.backend(), "hostname": platform.node(),
            "platform": platform.platform(), "packages": package_versions(),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _evaluate(model, prep, spec: dict) -> dict:
    proba, ips = predict(model, prep.x_test)
    out = {"proba": proba, "eval_images_per_s": ips, "noise": {}}
    for sigma in spec.get("evaluate", {}).get("noise_sigmas", []):
        x = prep.x_test if prep.x_test.max() <= 1.0 else prep.x_test / 255.0
        noisy = add_gaussian_noise(x, float(sigma), seed=123)
        if prep.x_test.max() > 1.0:
            noisy = noisy * 255.0
        p, _ = predict(model, noisy)
        out["noise"][str(sigma)] = classification_report(prep.y_test, p, prep.class_names)["accuracy"]
    return out


def _run_fold(job: Job, prep, train_cfg, fold_dir: Path, verbose: int) -> dict:
    """Train and evaluate one fold; the fold's outcome is saved so a resumed k-fold run skips it."""
    done = fold_dir / "fold.json"
    if done.exists():
        d = json.loads(done.read_text())
        d["proba"] = np.asarray(d["proba"])
        return d
    spec = job.experiment.spec
    set_determinism(job.seed)
    kwargs = dict(spec.get("model_kwargs", {}))
    kwargs.setdefault("classes", len(prep.class_names))
    model = create_model(spec["model"], augmentation=augmentation_layers(spec.get("augmentation"), seed=job.seed),
                         **kwargs)
    trained = fit(model, prep.x_train, prep.y_train, prep.x_val, prep.y_val, train_cfg, fold_dir, verbose=verbose)
    ev = _evaluate(model, prep, spec)
    d = {**trained, **ev, "params": int(model.count_params()), "seq_len": sequence_length(model),
         "sizes": prep.sizes(), "split": prep.split_name,
         "extra": prep.extra}
    cache.atomic_write_json(done, d)
    return d


def run_job(job: Job, paths: DataPaths, verbose: int = 2) -> Path:
    """Run one (experiment, profile, seed) unless its results file exists; return that path."""
    if job.result_path.exists():
        return job.result_path
    commit = git_commit()
    t0 = time.perf_counter()
    folds = prepare(job.experiment, job.profile, job.seed, paths)
    train_cfg = train_config(job.experiment, job.profile)
    outs = [_run_fold(job, prep, train_cfg, job.work_path / (f"fold{i}" if len(folds) > 1 else "run"), verbose)
            for i, prep in enumerate(folds)]
    y_true = np.concatenate([p.y_test for p in folds])
    proba = np.concatenate([o["proba"] for o in outs])
    ids = np.concatenate([p.test_ids for p in folds])
    class_names = folds[0].class_names
    metrics = classification_report(y_true, proba, class_names)
    first = outs[0]
    noise = {s: float(np.mean([o["noise"][s] for o in outs])) for s in first["noise"]}
    result = {
        "experiment": job.experiment.id, "paper": job.experiment.paper, "name": job.experiment.name,
        "profile": job.profile.name, "seed": job.seed,
        "config": {**job.experiment.spec, "train": train_cfg.to_dict()},
        "assumptions": list(job.experiment.assumptions),
        "class_names": list(class_names), "split": first["split"] if len(folds) == 1 else folds[0].split_name.rsplit(",", 1)[0],
        "sizes": {k: int(sum(o["sizes"][k] for o in outs)) for k in first["sizes"]},
        "params": first["params"], "metrics": metrics,
        "history": first["history"] if len(outs) == 1 else [o["history"] for o in outs],
        "epochs_run": [o["epochs_run"] for o in outs], "best_epoch": [o["best_epoch"] for o in outs],
        "timing": {"wall_s": time.perf_counter() - t0,
                   "seconds_per_epoch": float(np.nanmedian([o["seconds_per_epoch"] or np.nan for o in outs])),
                   "train_images_per_s": float(np.nanmedian([o["train_images_per_s"] or np.nan for o in outs])),
                   "eval_images_per_s": float(np.median([o["eval_images_per_s"] for o in outs]))},
        "noise_robustness": noise,
        "test": {"ids": ids.tolist(), "y_true": y_true.tolist(), "proba": np.round(proba, 4).tolist()},
        "seq_len": first.get("seq_len"),
        "rules_version": versions(),  # the verdict rules and claims file this result was made under
        "provenance": provenance(job, folds[0].data_hash, commit),
    }
    cache.atomic_write_json(job.result_path, result)
    shutil.rmtree(job.work_path, ignore_errors=True)
    return job.result_path


def jobs_for(papers: list[str], profile: str | Profile, names: list[str] | None = None,
             seeds: list[int] | None = None, results_dir: Path | None = None, work_dir: Path | None = None,
             experiments_dir: Path | None = None) -> list[Job]:
    """Jobs of ``papers`` (``names``: experiments of a single paper) for every seed of ``profile``."""
    prof = get_profile(profile)
    dirs = project_dirs()
    out = []
    for paper in papers:
        for exp in experiments_for(paper, names if len(papers) == 1 else None, directory=experiments_dir):
            for seed in seeds if seeds is not None else prof.seeds:
                out.append(Job(exp, prof, seed, Path(results_dir or dirs.results), Path(work_dir or dirs.work)))
    return out


def sequence_length(model) -> int | None:
    """Time steps the model's first recurrent layer reads (None for a model without one)."""
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)) or isinstance(inner, keras.layers.RNN):
            return int(layer.input.shape[1])
    return None


def _worker(job: Job, paths: DataPaths, verbose: int) -> tuple[str, str | None]:
    try:
        return str(run_job(job, paths, verbose=verbose)), None
    except Exception:  # reported by the parent; other runs go on
        return job.experiment.id, traceback.format_exc()


def run_jobs(jobs: list[Job], paths: DataPaths, workers: int = 1, verbose: int = 2) -> list[Path]:
    """Run jobs (skipping finished ones), ``workers`` processes at a time; raise at the end if any failed.

    ``verbose`` (one process): 0 silent, 1 a progress bar per run (notebooks), 2 a line per epoch (logs)."""
    todo = [j for j in jobs if not j.result_path.exists()]
    print(f"[runner] {len(jobs)} runs, {len(jobs) - len(todo)} already done, {len(todo)} to run "
          f"with {workers} worker(s)", flush=True)
    failures = []
    if workers <= 1 or len(todo) <= 1:
        for k, job in enumerate(todo, 1):
            print(f"[runner] ({k}/{len(todo)}) {job.experiment.id} seed {job.seed} [{job.profile.name}]", flush=True)
            _, err = _worker(job, paths, verbose)
            if err:
                failures.append((job, err))
                print(err, file=sys.stderr, flush=True)
    else:
        # JAX: grow GPU memory on demand; with a fixed fraction per worker, cuDNN autotuning ran
        # out of memory on an H100 with six workers.
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            futs = {pool.submit(_worker, j, paths, 0): j for j in todo}
            for k, fut in enumerate(as_completed(futs), 1):
                job = futs[fut]
                _, err = fut.result()
                status = "FAILED" if err else "done"
                print(f"[runner] ({k}/{len(todo)}) {status}: {job.experiment.id} seed {job.seed}", flush=True)
                if err:
                    failures.append((job, err))
                    print(err, file=sys.stderr, flush=True)
    if failures:
        raise RuntimeError(f"{len(failures)} run(s) failed: " + ", ".join(f"{j.experiment.id} seed {j.seed}"
                                                                          for j, _ in failures)
                           + "; finished runs are kept, run again to retry the rest")
    return [j.result_path for j in jobs]
