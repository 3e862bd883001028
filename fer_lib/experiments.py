"""Experiment configs (``experiments/<paper>.yaml``) and the data each experiment trains on.

One experiment = (paper, name, model, data variant, training settings). A profile
(smoke / quick / paper) then fixes data size, epochs and seeds. Every detail a paper leaves
out is an ``assumptions`` entry in the YAML, next to the experiment, so the book can list it.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fer_lib import data as fdata
from fer_lib import preprocess, splits
from fer_lib.train import TrainConfig

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS_DIR = Path(os.environ.get("FER_EXPERIMENTS", REPO / "experiments"))

PROFILES: dict[str, dict[str, Any]] = {
    # a few hundred images and one epoch: every notebook end to end in minutes on a CPU
    "smoke": {"seeds": [0], "epochs": 1, "max_train": 400, "max_val": 100, "max_test": 200, "max_folds": 2},
    # full data, at most 10 epochs, one seed: a few CPU hours in total
    "quick": {"seeds": [0], "max_epochs": 10},
    # each paper's protocol, three seeds of every model compared in a claim
    "paper": {"seeds": [0, 1, 2]},
}

EXPERIMENT_KEYS = {"model", "model_kwargs", "dataset", "pool", "split", "classes", "preprocess", "input",
                   "augmentation", "train", "evaluate", "description", "claims"}
PAPER_KEYS = {"paper", "title", "paper_file", "protocol", "defaults", "experiments", "assumptions"}


@dataclass(frozen=True)
class Experiment:
    paper: str
    name: str
    spec: dict[str, Any]
    assumptions: tuple[dict, ...] = field(default=())

    @property
    def id(self) -> str:
        return f"{self.paper}/{self.name}"


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def load_paper(paper: str, directory: Path | None = None) -> dict:
    """Read and validate ``experiments/<paper>.yaml``; unknown keys fail naming file and key."""
    path = Path(directory or EXPERIMENTS_DIR) / f"{paper}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in Path(directory or EXPERIMENTS_DIR).glob("*.yaml"))
        raise ValueError(f"no experiment config {path}; known papers: {known}")
    cfg = yaml.safe_load(path.read_text())
    bad = sorted(set(cfg) - PAPER_KEYS)
    if bad:
        raise ValueError(f"{path}: unknown top-level key(s) {bad}; allowed: {sorted(PAPER_KEYS)}")
    for name, spec in cfg["experiments"].items():
        full = _merge(cfg.get("defaults", {}), spec)
        bad = sorted(set(full) - EXPERIMENT_KEYS)
        if bad:
            raise ValueError(f"{path}: experiment {name!r} has unknown key(s) {bad}; allowed: {sorted(EXPERIMENT_KEYS)}")
        TrainConfig.from_dict(full.get("train", {}))  # validates training keys early
        preprocess.augmentation_layers(full.get("augmentation"))  # validates augmentation early
    cfg["_path"] = str(path)
    return cfg


def list_papers(directory: Path | None = None) -> list[str]:
    return sorted(p.stem for p in Path(directory or EXPERIMENTS_DIR).glob("*.yaml"))


def experiments_for(paper: str, names: list[str] | None = None, directory: Path | None = None) -> list[Experiment]:
    cfg = load_paper(paper, directory)
    chosen = names or list(cfg["experiments"])
    missing = [n for n in chosen if n not in cfg["experiments"]]
    if missing:
        raise ValueError(f"{cfg['_path']}: no experiment(s) {missing}; known: {list(cfg['experiments'])}")
    assumptions = tuple(cfg.get("assumptions", []))
    return [Experiment(paper, n, _merge(cfg.get("defaults", {}), cfg["experiments"][n]),
                       tuple(a for a in assumptions if _applies(a, n))) for n in chosen]


def _applies(assumption: dict, name: str) -> bool:
    scope = assumption.get("experiments")
    return scope is None or name in scope


def train_config(exp: Experiment, profile: str) -> TrainConfig:
    cfg = dict(exp.spec.get("train", {}))
    prof = PROFILES[profile]
    if "epochs" in prof:
        cfg["epochs"] = prof["epochs"]
    if "max_epochs" in prof:
        cfg["epochs"] = min(cfg.get("epochs", 10), prof["max_epochs"])
    return TrainConfig.from_dict(cfg)


# ----------------------------------------------------------------------------- data

@dataclass
class Prepared:
    """Arrays ready for ``fit`` for one fold, plus what the results file must record."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    test_ids: np.ndarray
    class_names: tuple[str, ...]
    split_name: str
    extra: dict[str, Any] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


@dataclass
class DataPaths:
    fer2013: Path
    ckplus: Path
    fer2013_csv: Path | None = None  # the original Kaggle CSV, when the user has it

    @classmethod
    def from_env(cls) -> "DataPaths":
        shared = REPO.parent / "shared" / "datasets"
        csv = os.environ.get("FER2013_CSV")
        return cls(fdata.env_path("FER2013_PATH", shared / "fer2013"), fdata.env_path("CKPLUS_PATH", shared / "ckplus48"),
                   Path(csv).expanduser() if csv else None)


def use_data(fer2013: str | os.PathLike = "", ckplus: str | os.PathLike = "",
             fer2013_csv: str | os.PathLike = "") -> DataPaths:
    """Export FER2013_PATH / CKPLUS_PATH / FER2013_CSV (non-empty arguments only, made absolute)
    so the runner, its worker processes and the notebooks use them; returns the paths in effect."""
    for var, val in (("FER2013_PATH", fer2013), ("CKPLUS_PATH", ckplus), ("FER2013_CSV", fer2013_csv)):
        if val:
            os.environ[var] = str(Path(val).expanduser().resolve())
    return DataPaths.from_env()


_DATA_CACHE: dict[tuple, fdata.FaceDataset] = {}


def load_dataset(spec: dict, paths: DataPaths) -> fdata.FaceDataset:
    """The dataset pool an experiment draws from (memoised per process)."""
    key = (spec.get("dataset", "fer2013"), spec.get("pool", "all"), str(paths.fer2013), str(paths.ckplus),
           str(paths.fer2013_csv))
    if key in _DATA_CACHE:
        return _DATA_CACHE[key]
    dataset, pool = key[0], key[1]
    if dataset == "ckplus":
        ds = fdata.load_ckplus(paths.ckplus)
    elif dataset == "fer2013":
        if pool == "csv":  # Özer & Subaşı's "CSV format": all 35,887 rows in the CSV schema
            ds = fdata.load_fer2013(paths.fer2013_csv) if paths.fer2013_csv else fdata.csv_view(
                fdata.load_fer2013(paths.fer2013))
        else:
            ds = fdata.load_fer2013(paths.fer2013)
            if pool == "directory":  # the "directory format": the 28,709 training images
                ds = ds.subset(ds.usage == "Training")
            elif pool != "all":
                raise ValueError(f"unknown pool {pool!r}; use all, directory or csv")
    else:
        raise ValueError(f"unknown dataset {dataset!r}; use fer2013 or ckplus")
    if spec.get("classes"):
        ds = ds.select_classes(spec["classes"])
    _DATA_CACHE[key] = ds
    return ds


def _cap(idx: np.ndarray, labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """At most ``n`` indices, stratified, for the smoke profile."""
    if n is None or len(idx) <= n:
        return idx
    from sklearn.model_selection import train_test_split

    try:
        keep, _ = train_test_split(idx, train_size=n, random_state=seed, stratify=labels[idx])
    except ValueError:  # a class too small to stratify
        keep = np.random.default_rng(seed).choice(idx, n, replace=False)
    return np.sort(keep)


def _pixels(images: np.ndarray, steps: list[str]) -> np.ndarray:
    """Deterministic per-image preprocessing (alignment, CLAHE) on uint8 images.

    The alignment table is cached under the hash of exactly these images, so the one-off
    dlib pass over a pool is shared by every experiment that uses the same pool.
    """
    out = images
    for step in steps:
        if step == "align":
            from fer_lib import align, cache

            flat = out.reshape(-1, *out.shape[-2:])
            table = align.cached_alignment(flat, cache.hash_arrays(flat))
            out = align.apply_alignment(flat, table).reshape(out.shape)
        elif step == "clahe":
            out = preprocess.clahe(out)
        else:
            raise ValueError(f"unknown preprocessing step {step!r}; use align or clahe")
    return out


def _model_input(images: np.ndarray, kind: str) -> np.ndarray:
    if kind == "gray01":
        return preprocess.normalise(images)
    if kind == "rgb255":
        return preprocess.to_rgb(images)
    if kind == "volume01":  # one still image as a 1-frame clip for the 3D-CNN
        return preprocess.normalise(images)[:, None]
    if kind == "clip01":  # CK+ clips (S, frames, 48, 48) -> (S, frames, 48, 48, 1)
        return (images.astype(np.float32) / 255.0)[..., None]
    raise ValueError(f"unknown input kind {kind!r}; use gray01, rgb255, volume01 or clip01")


def image_split(exp: Experiment, profile: str, seed: int, ds: fdata.FaceDataset) -> splits.Split:
    """Train/val/test indices into the pool of a single-split experiment, capped for the profile."""
    split = exp.spec.get("split", {"kind": "official"})
    kind = split.get("kind")
    if kind == "official":
        sp = splits.official(ds, test=split.get("test", "all"), val_fraction=split.get("val_fraction", 0.1), seed=seed)
    elif kind == "stratified":
        sp = splits.stratified(ds, tuple(split["fractions"]), seed=seed)
    else:
        raise ValueError(f"{exp.id}: unknown split kind {kind!r}; use official, stratified or subject_kfold")
    prof = PROFILES[profile]
    return splits.Split(_cap(sp.train, ds.labels, prof.get("max_train"), seed),
                        _cap(sp.val, ds.labels, prof.get("max_val"), seed),
                        _cap(sp.test, ds.labels, prof.get("max_test"), seed), sp.name)


def prepare(exp: Experiment, profile: str, seed: int, paths: DataPaths) -> list[Prepared]:
    """Build the arrays for every fold of ``exp`` (one fold unless the split is k-fold)."""
    spec = exp.spec
    prof = PROFILES[profile]
    ds = load_dataset(spec, paths)
    split = spec.get("split", {"kind": "official"})
    kind = split.get("kind")
    steps = list(spec.get("preprocess", []))
    input_kind = spec.get("input", "gray01")
    if kind == "subject_kfold":
        clips, labels, subjects, ids = fdata.ck_sequences(ds, frames=spec.get("model_kwargs", {}).get(
            "input_shape", [3])[0])
        clips = _pixels(clips, steps)
        folds = splits.subject_kfold(subjects, labels, k=split.get("k", 10), seed=seed,
                                     val_fraction=split.get("val_fraction", 0.1))
        folds = folds[: prof.get("max_folds", len(folds))]
        x = _model_input(clips, input_kind)
        return [Prepared(x[f.train], labels[f.train], x[f.val], labels[f.val], x[f.test], labels[f.test],
                         ids[f.test], ds.class_names, f.name, {"subjects_test": sorted(set(subjects[f.test].tolist()))})
                for f in folds]
    sp = image_split(exp, profile, seed, ds)
    tr, va, te = sp.train, sp.val, sp.test
    used = np.unique(np.concatenate([tr, va, te]))  # pool order: same images, same alignment cache
    images = np.empty_like(ds.images)
    images[used] = _pixels(ds.images[used], steps)
    x = {k: _model_input(images[i], input_kind) for k, i in (("tr", tr), ("va", va), ("te", te))}
    return [Prepared(x["tr"], ds.labels[tr], x["va"], ds.labels[va], x["te"], ds.labels[te], ds.ids[te],
                     ds.class_names, sp.name)]
