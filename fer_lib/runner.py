"""Run experiments and write one results JSON per (experiment, seed) under ``results/<profile>/``.

* A finished run (its JSON exists) is skipped; writes are atomic.
* A killed run resumes from its last finished epoch (see :mod:`fer_lib.train`), and a k-fold
  run from its last finished fold; nothing finished is lost.
* Independent runs go in parallel in separate processes (``workers``); several small models
  share one GPU well. Given a Dask scheduler address (``scheduler``, ``fer run --scheduler``) the
  runs go to that cluster instead (see :func:`run_on_dask`).
* Runs start longest first (:func:`estimated_cost`), so the last one to finish is a short one.
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
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import keras
import numpy as np

from fer_lib import align, cache, cross_dataset
from fer_lib.config import DataPaths, Profile, get_profile, project_dirs
from fer_lib.data import DataError
from fer_lib.experiment_data import forget_datasets, load_dataset, prepare
from fer_lib.experiments import Experiment, experiments_for, train_config
from fer_lib.metrics import classification_report
from fer_lib.models import from_config
from fer_lib.preprocess import add_gaussian_noise
from fer_lib.results import git_commit, package_versions, run_file
from fer_lib.train import EPOCH_LOG, device_description, epoch_log, fit, predict, set_determinism
from fer_lib.verdicts import versions



FINAL_WEIGHTS = "final.weights.h5"


class RunsFailed(RuntimeError):
    """Some runs of a call failed (each reported as it failed); the others finished and are kept."""


@dataclass(frozen=True)
class Job:
    """One (experiment, profile, seed), with the folders its result and resumable state go to."""

    experiment: Experiment
    profile: Profile
    seed: int
    results_dir: Path
    work_dir: Path
    invocation: str = ""  #: the `fer run` call that ran it (host and start time), set by run_jobs

    def _file(self, suffix: str) -> Path:
        return run_file(self.results_dir, self.profile.name, self.experiment.paper, self.experiment.name, self.seed,
                        suffix)

    @property
    def result_path(self) -> Path:
        return self._file(".json")

    @property
    def weights_path(self) -> Path:
        """The run's selected weights (the first fold's for k-fold runs), next to its result."""
        return self._file(".weights.h5")

    @property
    def work_path(self) -> Path:
        return self.work_dir / self.profile.name / self.experiment.paper / self.experiment.name / f"seed{self.seed}"


def provenance(job: Job, data_hash: str, commit: tuple[str, bool], determinism: dict | None = None) -> dict:
    """Where a result came from; ``commit`` is read when the run starts, not when it ends;
    ``determinism``: what :func:`fer_lib.train.set_determinism` could guarantee."""
    commit, dirty = commit
    return {"commit": commit, "dirty": dirty, "data_hash": data_hash, "seed": job.seed, "profile": job.profile.name,
            "determinism": determinism,
            "device": device_description(), "backend": keras.backend.backend(), "hostname": platform.node(),
            "platform": platform.platform(), "packages": package_versions(), "invocation": job.invocation or None,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}


#: Where evaluation noise is added (``evaluate: {noise_stages: [...]}``), as each result labels it.
NOISE_STAGES = {
    "input": "Gaussian noise on the model input, after alignment / CLAHE (inputs in [0, 1])",
    "raw": "Gaussian noise on the raw 48x48 image (scaled to [0, 1]) before alignment and CLAHE, "
           "which then run on the noisy pixels",
}


def noise_stages(spec: dict) -> list[str]:
    """The noise stages an experiment evaluates (default: the model input only); unknown ones fail."""
    ev = spec.get("evaluate") or {}
    stages = list(ev.get("noise_stages", ["input"]))
    bad = [s for s in stages if s not in NOISE_STAGES]
    if bad:
        raise ValueError(f"evaluate.noise_stages {bad} unknown; use {sorted(NOISE_STAGES)}")
    return stages


def predict_tta(model, x: np.ndarray, flip: bool = False) -> tuple[np.ndarray, float]:
    """Class probabilities, with ``flip`` averaged with those of the mirrored images (test-time
    augmentation, ``evaluate: {tta_flip: true}``); images per second of the whole evaluation."""
    proba, ips = predict(model, x)
    if not flip:
        return proba, ips
    mirrored, ips2 = predict(model, np.ascontiguousarray(x[..., ::-1, :]))  # width is the axis before channels
    return (proba + mirrored) / 2, 1 / (1 / ips + 1 / ips2)


def tta_flip(spec: dict) -> bool:
    return bool((spec.get("evaluate") or {}).get("tta_flip", False))


def _evaluate(model, prep, spec: dict) -> dict:
    flip = tta_flip(spec)

    def classify(x):  # every evaluation of this run, the noisy ones included, uses the same TTA
        return predict_tta(model, x, flip)

    proba, ips = classify(prep.x_test)
    out = {"proba": proba, "eval_images_per_s": ips, "noise": {}, "noise_raw": {}}
    sigmas = (spec.get("evaluate") or {}).get("noise_sigmas", [])
    stages = noise_stages(spec)
    for sigma in sigmas if "input" in stages else []:
        x = prep.x_test if prep.x_test.max() <= 1.0 else prep.x_test / 255.0
        noisy = add_gaussian_noise(x, float(sigma), seed=123)
        if prep.x_test.max() > 1.0:
            noisy = noisy * 255.0
        p, _ = classify(noisy)
        out["noise"][str(sigma)] = classification_report(prep.y_test, p, prep.class_names)["accuracy"]
    for sigma in sigmas if "raw" in stages else []:
        p, _ = classify(prep.from_raw(prep.noisy_raw(sigma)))
        out["noise_raw"][str(sigma)] = classification_report(prep.y_test, p, prep.class_names)["accuracy"]
    return out


def leak_fields(prep, ds) -> dict:
    """Per test image of a FER2013 run: ``leaked`` (an exact or near copy is among the images the
    run trained on) and ``groups`` (duplicate cluster labels, for clustered intervals), from the
    pool's duplicate pairs computed once per pool (:func:`audit.cached_duplicate_pairs`)."""
    from fer_lib import audit

    if prep.train_index is None or prep.test_index is None:
        return {}
    pairs = audit.cached_duplicate_pairs(ds.images)
    groups = audit.duplicate_groups(pairs, len(ds))[prep.test_index]
    leaked = audit.leaked_test_images(pairs, prep.train_index, prep.test_index)
    return {"leaked": leaked.tolist(), "groups": np.unique(groups, return_inverse=True)[1].tolist()}


def _run_fold(job: Job, prep, train_cfg, fold_dir: Path, verbose: int, paths: DataPaths) -> dict:
    """Train and evaluate one fold; the fold's outcome is saved so a resumed k-fold run skips it."""
    done = fold_dir / "fold.json"
    if done.exists():
        d = json.loads(done.read_text())
        d["proba"] = np.asarray(d["proba"])
        return d
    spec = job.experiment.spec
    determinism = set_determinism(job.seed)
    model = from_config(spec, len(prep.class_names), seed=job.seed)
    trained = fit(model, prep.x_train, prep.y_train, prep.x_val, prep.y_val, train_cfg, fold_dir, verbose=verbose)
    model.save_weights(str(fold_dir / FINAL_WEIGHTS))  # the selected (best val-loss) weights
    ev = _evaluate(model, prep, spec)
    if cross_dataset.applies(spec, prep.class_names, paths):
        try:  # an extra measurement: its failure (say, no carried CK+ alignment) must not lose the run
            ev["cross_dataset"] = cross_dataset.evaluate(lambda x: predict_tta(model, x, tta_flip(spec))[0],
                                                         prep.steps, prep.input_kind, prep.y_test, ev["proba"], paths)
        except Exception as e:  # noqa: BLE001 - recorded in the result, and said
            ev["cross_dataset"] = {"error": f"{type(e).__name__}: {e}"}
            print(f"[runner] {job.experiment.id} seed {job.seed}: CK+48 cross-dataset test skipped ({ev['cross_dataset']['error']})",
                  file=sys.stderr, flush=True)
    d = {**trained, **ev, "params": int(model.count_params()), "seq_len": sequence_length(model),
         "sizes": prep.sizes(), "split": prep.split_name,
         "extra": prep.extra, "determinism": determinism}
    if spec.get("dataset", "fer2013") == "fer2013":
        d["leak"] = leak_fields(prep, load_dataset(spec, paths))
    cache.atomic_write_json(done, d)
    return d


def earlier_attempts_s(work: Path) -> float:
    """Seconds of the epochs that earlier, interrupted attempts of a run trained (every line of its
    folds' epoch logs), so a resumed run's wall time counts them; their unfinished epoch and
    evaluation are not counted."""
    return sum(float(r.get("seconds") or 0.0) for log in sorted(Path(work).glob(f"*/{EPOCH_LOG}"))
               for r in epoch_log(log))


def run_job(job: Job, paths: DataPaths, verbose: int = 2) -> Path:
    """Run one (experiment, profile, seed) unless its results file exists; return that path."""
    if job.result_path.exists():
        return job.result_path
    commit = git_commit()
    t0 = time.perf_counter()
    earlier = earlier_attempts_s(job.work_path)
    folds = prepare(job.experiment, job.profile, job.seed, paths)
    train_cfg = train_config(job.experiment, job.profile)
    outs = [_run_fold(job, prep, train_cfg, job.work_path / (f"fold{i}" if len(folds) > 1 else "run"), verbose,
                      paths)
            for i, prep in enumerate(folds)]
    y_true = np.concatenate([p.y_test for p in folds])
    proba = np.concatenate([o["proba"] for o in outs])
    ids = np.concatenate([p.test_ids for p in folds])
    class_names = folds[0].class_names
    metrics = classification_report(y_true, proba, class_names)
    first = outs[0]
    noise = {s: float(np.mean([o["noise"][s] for o in outs])) for s in first["noise"]}
    noise_raw = {s: float(np.mean([o["noise_raw"][s] for o in outs])) for s in first.get("noise_raw", {})}
    test = {"ids": ids.tolist(), "y_true": y_true.tolist(), "proba": np.round(proba, 4).tolist()}
    if len(outs) == 1 and first.get("leak"):
        test.update(first["leak"])  # leaked: copy in this run's training data; groups: duplicate clusters
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
        "timing": {"wall_s": time.perf_counter() - t0 + earlier,
                   "earlier_attempts_s": earlier,  # part of wall_s: epochs trained before a resume
                   "seconds_per_epoch": float(np.nanmedian([o["seconds_per_epoch"] or np.nan for o in outs])),
                   "train_images_per_s": float(np.nanmedian([o["train_images_per_s"] or np.nan for o in outs])),
                   "eval_images_per_s": float(np.median([o["eval_images_per_s"] for o in outs])),
                   "trainer": first.get("trainer")},  # keras fit, or the device-resident JAX loop
        "noise_robustness": noise,  # stage "input" (see NOISE_STAGES)
        "noise_robustness_raw": noise_raw,  # stage "raw"
        "noise_stages": {k: v for k, v in NOISE_STAGES.items()
                         if (k == "input" and noise) or (k == "raw" and noise_raw)},
        "test": test,
        "seq_len": first.get("seq_len"),
        "cross_dataset": first.get("cross_dataset"),  # FER2013 models on CK+48 (fer_lib.cross_dataset)
        "rules_version": versions(),  # the verdict rules and claims file this result was made under
        "provenance": provenance(job, folds[0].data_hash, commit, first.get("determinism")),
    }
    first_weights = job.work_path / ("fold0" if len(folds) > 1 else "run") / FINAL_WEIGHTS
    if first_weights.exists():  # kept beside the result (git-ignored): `fer export-weights` ships the best
        job.weights_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(first_weights, job.weights_path)
    cache.atomic_write_json(job.result_path, result)
    shutil.rmtree(job.work_path, ignore_errors=True)
    return job.result_path


def jobs_for(papers: list[str], profile: str | Profile, names: list[str] | None = None,
             seeds: list[int] | None = None, results_dir: Path | None = None, work_dir: Path | None = None,
             experiments_dir: Path | None = None) -> list[Job]:
    """Jobs of ``papers`` for every seed of ``profile``; ``names`` picks experiments (see
    :func:`chosen_experiments`)."""
    prof = get_profile(profile)
    dirs = project_dirs()
    return [Job(exp, prof, seed, Path(results_dir or dirs.results), Path(work_dir or dirs.work))
            for exp in chosen_experiments(papers, names, experiments_dir)
            for seed in (seeds if seeds is not None else prof.seeds)]


def chosen_experiments(papers: list[str], names: list[str] | None = None,
                       experiments_dir: Path | None = None) -> list[Experiment]:
    """The experiments of ``papers``, or those of them that ``names`` names, by name ("full") or id
    ("emotionnet/full"). A name that none of the papers has is an error, never a silent "all": a
    mistyped name must not start hours of training."""
    if not names:
        return [e for p in papers for e in experiments_for(p, directory=experiments_dir)]
    names = list(dict.fromkeys(names))  # a name given twice is one experiment, one job per seed
    if len(papers) == 1 and not any("/" in n for n in names):
        return experiments_for(papers[0], names, directory=experiments_dir)  # its error lists the known names
    every = [e for p in papers for e in experiments_for(p, directory=experiments_dir)]
    unknown = [n for n in names if not any(n in (e.name, e.id) for e in every)]
    if unknown:
        raise ValueError(f"no experiment {unknown} in {', '.join(papers)}; known: {', '.join(e.id for e in every)}")
    shared = {n: [e.id for e in every if e.name == n] for n in names if "/" not in n}
    ambiguous = {n: ids for n, ids in shared.items() if len(ids) > 1}
    if ambiguous:
        raise ValueError("experiment name(s) of several papers: " + "; ".join(
            f"{n} is {' or '.join(ids)}" for n, ids in ambiguous.items()) + "; give the id or --paper")
    return [e for e in every if e.name in names or e.id in names]


def align_for_jobs(jobs: list[Job], paths: DataPaths) -> list[Path]:
    """Compute (or find cached) every alignment table ``jobs`` will ask for: each pool their splits
    draw on and each raw-noise test set they evaluate. Returns the tables' cache files, which
    ``fer bundle --align-for`` packs so the runs go where dlib is not installed."""
    with align.recording_tables() as used:
        for job in jobs:
            spec = job.experiment.spec
            if "align" not in (spec.get("preprocess") or []):
                continue
            sigmas = (spec.get("evaluate") or {}).get("noise_sigmas", []) if "raw" in noise_stages(spec) else []
            for prep in prepare(job.experiment, job.profile, job.seed, paths):
                for sigma in sigmas:
                    prep.from_raw(prep.noisy_raw(sigma))
                if cross_dataset.applies(spec, prep.class_names, paths):
                    cross_dataset.ckplus_inputs(prep.steps, prep.input_kind, paths)
    return sorted(used)


#: Training images per fold at full size: FER2013's 28,709 training images (every split here
#: trains on 23k-29k of them), CK+'s 327 clips (less a test fold). Only the order of runs uses it.
_TRAIN_IMAGES = {"fer2013": 28_709, "ckplus": 327}


def estimated_cost(job: Job) -> int:
    """Images a run trains on at most: epochs x passes per epoch x training images x folds (the
    profile's caps applied).

    A heuristic for the order of runs, not a time: early stopping can end a run sooner, and a
    model's cost per image (EmotionNet's five blocks vs Özer's three) is not counted.
    """
    spec, prof = job.experiment.spec, job.profile
    images = _TRAIN_IMAGES.get(spec.get("dataset", "fer2013"), _TRAIN_IMAGES["fer2013"])
    if prof.max_train is not None:
        images = min(images, prof.max_train)
    split = spec.get("split") or {}
    folds = int(split.get("k", 1)) if split.get("kind") == "subject_kfold" else 1
    if prof.max_folds is not None:
        folds = min(folds, prof.max_folds)
    cfg = train_config(job.experiment, prof)
    return cfg.epochs * cfg.epoch_repeats * images * folds


def longest_first(jobs: list[Job]) -> list[Job]:
    """Jobs by :func:`estimated_cost`, largest first (stable: equal costs keep their order), so
    parallel workers do not end with one long run going on alone."""
    return sorted(jobs, key=estimated_cost, reverse=True)


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
    except DataError as e:  # bad input: the message names the file and the fix, a traceback adds nothing
        return job.experiment.id, f"{job.experiment.id} seed {job.seed}: {e}"
    except Exception:  # reported by the parent; other runs go on
        return job.experiment.id, traceback.format_exc()


def check_data(jobs: list[Job], paths: DataPaths) -> None:
    """Load every dataset pool ``jobs`` draw on before any of them starts, so that bad input (a
    corrupt image, a missing class folder, a malformed CSV row) stops the call at once with one
    error naming the files, instead of failing each run in turn. The runs then find them cached;
    load_dataset memoises each pool, so each is loaded once."""
    for job in jobs:
        load_dataset(job.experiment.spec, paths)


def run_jobs(jobs: list[Job], paths: DataPaths, workers: int = 1, verbose: int = 2,
             scheduler: str | None = None) -> list[Path]:
    """Run jobs (skipping finished ones, longest first), ``workers`` processes at a time or, given a
    Dask ``scheduler`` address, on that cluster; raise at the end if any failed."""
    # one stamp per call, so the book can count the separate calls (GPU leases) a profile took
    stamp = f"{platform.node()} {datetime.now(timezone.utc).isoformat(timespec='seconds')}"
    todo = longest_first([replace(j, invocation=j.invocation or stamp) for j in jobs if not j.result_path.exists()])
    where = f"on the Dask cluster at {scheduler}" if scheduler else f"with {workers} worker(s)"
    print(f"[runner] {len(jobs)} runs, {len(jobs) - len(todo)} already done, {len(todo)} to run {where}",
          flush=True)
    if todo and not scheduler:  # a cluster's workers read the data at their own paths: no check here
        check_data(todo, paths)
        if workers > 1 and len(todo) > 1:  # spawned workers load their own copy
            forget_datasets()
    failures = []
    if scheduler and todo:
        failures = run_on_dask(todo, paths, scheduler)
    elif workers <= 1 or len(todo) <= 1:
        for k, job in enumerate(todo, 1):
            print(f"[runner] ({k}/{len(todo)}) {job.experiment.id} seed {job.seed} [{job.profile.name}]", flush=True)
            _, err = _worker(job, paths, verbose)
            if err:
                failures.append((job, err))
                print(err, file=sys.stderr, flush=True)
    else:
        _gpu_memory_on_demand()
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            futs = {pool.submit(_worker, j, paths, 0): j for j in todo}
            for k, fut in enumerate(as_completed(futs), 1):
                failures += _report(k, len(todo), futs[fut], fut.result()[1])
    if failures:
        raise RunsFailed(f"{len(failures)} run(s) failed: " + ", ".join(f"{j.experiment.id} seed {j.seed}"
                                                                        for j, _ in failures)
                         + " (why: above); finished runs are kept, run again to retry the rest")
    return [j.result_path for j in jobs]


def _gpu_memory_on_demand() -> None:
    """JAX: grow GPU memory on demand; with a fixed fraction per worker, cuDNN autotuning ran
    out of memory on an H100 with six workers. Read when the backend starts, so set it first."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")


def _report(k: int, n: int, job: Job, err: str | None) -> list[tuple[Job, str]]:
    print(f"[runner] ({k}/{n}) {'FAILED' if err else 'done'}: {job.experiment.id} seed {job.seed}", flush=True)
    if err:
        print(err, file=sys.stderr, flush=True)
        return [(job, err)]
    return []


def _dask_worker(job: Job, paths: DataPaths) -> tuple[str, str | None]:
    _gpu_memory_on_demand()
    return _worker(job, paths, 0)


def run_on_dask(jobs: list[Job], paths: DataPaths, scheduler: str) -> list[tuple[Job, str]]:
    """Run ``jobs`` on the Dask cluster at ``scheduler`` (an address such as ``tcp://host:8786``, or
    a scheduler file); returns the failures as ``(job, traceback)``.

    Why Dask distributed rather than Ray: it is pure Python and light (no object store or
    dashboard daemons to install), a laptop runs it as ``dask scheduler`` plus ``dask worker``, and
    ``dask-jobqueue`` starts the same workers as Slurm/PBS jobs. Each run is one task calling
    :func:`run_job`, so the guarantees are the local ones: a finished run is skipped, results are
    written atomically, and a run whose worker died resumes from its work folder when Dask
    reschedules it. Workers must see the same ``results/``, work folder and datasets at the same
    paths (a shared file system); start one thread per worker (``--nthreads 1``) and one worker
    per GPU.
    """
    from distributed import Client
    from distributed import as_completed as dask_completed

    jobs = [replace(j, results_dir=j.results_dir.resolve(), work_dir=j.work_dir.resolve()) for j in jobs]
    target = {"scheduler_file": scheduler} if Path(scheduler).is_file() else {"address": scheduler}
    try:
        client = Client(**target, set_as_default=False)  # waits distributed.comm.timeouts.connect (30 s)
    except (OSError, TimeoutError) as e:
        raise ValueError(f"cannot reach the Dask scheduler at {scheduler!r} ({e}); start one with "
                           "`dask scheduler` and workers with `dask worker ADDRESS --nthreads 1`, or drop "
                           "--scheduler to use the local process pool") from e
    failures = []
    with client:
        futs = {client.submit(_dask_worker, j, paths, priority=len(jobs) - i,  # keep longest first
                              key=f"fer-{j.profile.name}-{j.experiment.paper}-{j.experiment.name}-seed{j.seed}"
                                  f"-{uuid.uuid4().hex[:8]}"): j for i, j in enumerate(jobs)}
        for k, (fut, out) in enumerate(dask_completed(futs, client.loop, with_results=True, raise_errors=False), 1):
            # run_job's own errors come back as a traceback; a task Dask gave up on (its workers
            # kept dying) comes back as the exception
            err = out[1] if isinstance(out, tuple) else f"{type(out).__name__}: {out}"
            failures += _report(k, len(jobs), futs[fut], err)
    return failures
