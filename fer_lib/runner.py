"""Run experiments and write one results JSON per (experiment, seed) under ``results/<profile>/``.

* A finished run (its JSON exists) is skipped; writes are atomic.
* A killed run resumes from its last finished epoch (see :mod:`fer_lib.train`), and a k-fold
  run from its last finished fold; nothing finished is lost.
* Independent runs go in parallel in separate processes (``workers``); several small models
  share one GPU well.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from fer_lib import cache
from fer_lib.experiments import PROFILES, REPO, DataPaths, Experiment, experiments_for, prepare, train_config

RESULTS_DIR = Path(os.environ.get("FER_RESULTS", REPO / "results"))
WORK_DIR = Path(os.environ.get("FER_WORK", REPO / ".work"))
PACKAGES = ("keras", "tensorflow", "jax", "torch", "numpy", "scikit-learn", "opencv-python-headless",
            "dlib-bin", "statsmodels", "pandas")


@dataclass(frozen=True)
class Job:
    experiment: Experiment
    profile: str
    seed: int

    @property
    def result_path(self) -> Path:
        return RESULTS_DIR / self.profile / self.experiment.paper / self.experiment.name / f"seed{self.seed}.json"

    @property
    def work_path(self) -> Path:
        return WORK_DIR / self.profile / self.experiment.paper / self.experiment.name / f"seed{self.seed}"


def git_commit(paths: tuple[str, ...] = ("fer_lib", "experiments")) -> tuple[str, bool]:
    """(commit, dirty) of the repository, or FER_COMMIT where git is unavailable (e.g. a GPU box).

    ``dirty`` looks at ``paths`` only (the code and configs a result depends on); ``()`` = all.
    """
    if os.environ.get("FER_COMMIT"):
        return os.environ["FER_COMMIT"], False
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=REPO,
                                    capture_output=True, text=True).stdout.strip())
        return sha, dirty
    except (OSError, subprocess.CalledProcessError):
        return "unknown", True


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return out


def provenance(job: Job, data_hash: str, commit: tuple[str, bool]) -> dict:
    """Where a result came from; ``commit`` is read when the run starts, not when it ends."""
    import keras

    from fer_lib.train import device_description

    commit, dirty = commit
    return {"commit": commit, "dirty": dirty, "data_hash": data_hash, "seed": job.seed, "profile": job.profile,
            "device": device_description(), "backend": keras.backend.backend(), "hostname": platform.node(),
            "platform": platform.platform(), "packages": package_versions(),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _evaluate(model, prep, spec: dict) -> dict:
    from fer_lib.metrics import classification_report
    from fer_lib.preprocess import add_gaussian_noise
    from fer_lib.train import predict

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


def _run_fold(job: Job, prep, fold_dir: Path, verbose: int) -> dict:
    """Train and evaluate one fold; the fold's outcome is saved so a resumed k-fold run skips it."""
    from fer_lib.models import create_model
    from fer_lib.preprocess import augmentation_layers
    from fer_lib.train import fit, set_determinism

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
    trained = fit(model, prep.x_train, prep.y_train, prep.x_val, prep.y_val, train_config(job.experiment, job.profile),
                  fold_dir, verbose=verbose)
    ev = _evaluate(model, prep, spec)
    d = {**trained, **ev, "params": int(model.count_params()), "sizes": prep.sizes(), "split": prep.split_name,
         "extra": prep.extra}
    cache.atomic_write_json(done, d)
    return d


def run_job(job: Job, paths: DataPaths | None = None, verbose: int = 2) -> Path:
    """Run one (experiment, profile, seed) unless its results file exists; return that path."""
    if job.result_path.exists():
        return job.result_path
    from fer_lib.experiments import load_dataset
    from fer_lib.metrics import classification_report

    paths = paths or DataPaths.from_env()
    commit = git_commit()
    t0 = time.perf_counter()
    folds = prepare(job.experiment, job.profile, job.seed, paths)
    data_hash = load_dataset(job.experiment.spec, paths).source_hash
    outs = [_run_fold(job, prep, job.work_path / (f"fold{i}" if len(folds) > 1 else "run"), verbose)
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
        "profile": job.profile, "seed": job.seed,
        "config": {**job.experiment.spec, "train": train_config(job.experiment, job.profile).to_dict()},
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
        "provenance": provenance(job, data_hash, commit),
    }
    cache.atomic_write_json(job.result_path, result)
    shutil.rmtree(job.work_path, ignore_errors=True)
    return job.result_path


def jobs_for(papers: list[str], profile: str, names: list[str] | None = None,
             seeds: list[int] | None = None) -> list[Job]:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known: {sorted(PROFILES)}")
    out = []
    for paper in papers:
        for exp in experiments_for(paper, names if len(papers) == 1 else None):
            for seed in seeds if seeds is not None else PROFILES[profile]["seeds"]:
                out.append(Job(exp, profile, seed))
    return out


def _worker(job: Job, verbose: int) -> tuple[str, str | None]:
    try:
        return str(run_job(job, verbose=verbose)), None
    except Exception:  # reported by the parent; other runs go on
        return job.experiment.id, traceback.format_exc()


def run_jobs(jobs: list[Job], workers: int = 1, verbose: int = 2) -> list[Path]:
    """Run jobs (skipping finished ones), ``workers`` processes at a time; raise at the end if any failed."""
    todo = [j for j in jobs if not j.result_path.exists()]
    print(f"[runner] {len(jobs)} runs, {len(jobs) - len(todo)} already done, {len(todo)} to run "
          f"with {workers} worker(s)", flush=True)
    failures = []
    if workers <= 1 or len(todo) <= 1:
        for k, job in enumerate(todo, 1):
            print(f"[runner] ({k}/{len(todo)}) {job.experiment.id} seed {job.seed} [{job.profile}]", flush=True)
            _, err = _worker(job, verbose)
            if err:
                failures.append((job, err))
                print(err, file=sys.stderr, flush=True)
    else:
        import multiprocessing as mp

        # JAX: grow GPU memory on demand; with a fixed fraction per worker, cuDNN autotuning ran
        # out of memory on an H100 with six workers.
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            futs = {pool.submit(_worker, j, 0): j for j in todo}
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


def load_results(profile: str, paper: str | None = None) -> dict[str, list[dict]]:
    """All finished runs of ``profile`` as {experiment id: [run, ...]} (runs sorted by seed)."""
    base = RESULTS_DIR / profile
    out: dict[str, list[dict]] = {}
    pattern = f"{paper}/*/seed*.json" if paper else "*/*/seed*.json"
    for p in sorted(base.glob(pattern)):
        r = json.loads(p.read_text())
        out.setdefault(r["experiment"], []).append(r)
    for runs in out.values():
        runs.sort(key=lambda r: r["seed"])
    return out
