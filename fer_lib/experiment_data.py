"""The arrays an experiment trains and is tested on: its dataset pool, split (capped by the
profile), deterministic preprocessing (alignment, CLAHE) and model input format."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from fer_lib import align, cache, preprocess, splits
from fer_lib import data as fdata
from fer_lib.config import DataPaths, Profile, get_profile
from fer_lib.experiments import Experiment

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
    data_hash: str  # content hash of the dataset pool the arrays came from
    extra: dict[str, Any] = field(default_factory=dict)
    #: uint8 test images (or clips) before alignment / CLAHE, for noise added to the raw image
    test_raw: np.ndarray | None = None
    steps: tuple[str, ...] = ()
    input_kind: str = "gray01"
    #: indices into the dataset pool (single-split image experiments), for per-run leakage
    train_index: np.ndarray | None = None
    test_index: np.ndarray | None = None

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}

    def from_raw(self, images: np.ndarray) -> np.ndarray:
        """Model input from raw uint8 test images through this experiment's own preprocessing
        (alignment is re-detected on these pixels): how noise before preprocessing is evaluated."""
        return preprocess_raw(images, list(self.steps), self.input_kind)

    def noisy_raw(self, sigma: float) -> np.ndarray:
        """The raw uint8 test images with Gaussian noise of ``sigma`` (on the [0, 1] scale, fixed
        noise seed 123), rounded back to 8 bits: the input of the raw-stage robustness test."""
        if self.test_raw is None:
            raise ValueError("noise_stages: raw needs the raw test images; this split does not keep them")
        noisy = preprocess.add_gaussian_noise(self.test_raw.astype(np.float32) / 255.0, float(sigma), seed=123)
        return np.round(noisy * 255.0).astype(np.uint8)


_DATA_CACHE: dict[tuple, fdata.FaceDataset] = {}


def pool_identity(spec: dict, paths: DataPaths) -> tuple[str, str]:
    """(source, content hash) of the pool an experiment draws from: the hash a run records as its
    ``data_hash``, so a page can say which copy of the data a run was trained on."""
    ds = load_dataset(spec, paths)
    return ds.source, ds.source_hash


def forget_datasets() -> None:
    """Drop the memoised dataset pools (:func:`load_dataset`) of this process."""
    _DATA_CACHE.clear()


def load_dataset(spec: dict, paths: DataPaths) -> fdata.FaceDataset:
    """The dataset pool an experiment draws from (memoised per process)."""
    key = (spec.get("dataset", "fer2013"), spec.get("pool", "all"), str(paths.fer2013), str(paths.ckplus),
           str(paths.fer2013_csv), tuple(spec.get("classes") or ()))
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


def test_images(run: dict, paths: DataPaths) -> np.ndarray:
    """The raw 48x48 test images of a run in the order of ``run['test']['ids']``.

    Loads the dataset pool the experiment used (FER2013 folders/CSV or CK+, see
    :func:`load_dataset`); for CK+ clips the last (apex) frame is returned.
    """
    spec = run.get("config") or {}
    ds = load_dataset(spec, paths)
    ids = [str(i) for i in run["test"]["ids"]]
    if spec.get("dataset") == "ckplus":
        frames = (spec.get("model_kwargs") or {}).get("input_shape", [3])[0]
        clips, _, _, clip_ids = fdata.ck_sequences(ds, frames=frames)
        pos = {str(k): i for i, k in enumerate(clip_ids)}
        return np.stack([clips[pos[i]][-1] for i in ids])
    pos = {str(k): i for i, k in enumerate(ds.ids)}
    missing = [i for i in ids if i not in pos]
    if missing:
        raise ValueError(f"{len(missing)} test id(s) of {run.get('experiment')} not in the dataset "
                         f"{ds.source} (e.g. {missing[:3]}); is FER2013_PATH/CKPLUS_PATH the data it ran on?")
    return ds.images[[pos[i] for i in ids]]


def _cap(idx: np.ndarray, labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """At most ``n`` indices, stratified, for the smoke profile."""
    if n is None or len(idx) <= n:
        return idx
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
            flat = out.reshape(-1, *out.shape[-2:])
            table = align.cached_alignment(flat, cache.hash_arrays(flat))
            out = align.apply_alignment(flat, table).reshape(out.shape)
        elif step == "clahe":
            out = preprocess.clahe(out)
        else:
            raise ValueError(f"unknown preprocessing step {step!r}; use align or clahe")
    return out


def preprocess_raw(images: np.ndarray, steps: list[str], input_kind: str) -> np.ndarray:
    """Raw uint8 images through an experiment's preprocessing steps into its model's input format."""
    return model_input(_pixels(images, steps), input_kind)


def model_input(images: np.ndarray, kind: str) -> np.ndarray:
    """uint8 48x48 images as the model of an experiment reads them (``input:`` in its config)."""
    if kind == "gray01":
        return preprocess.normalise(images)
    if kind == "rgb255":
        return preprocess.to_rgb(images)
    if kind == "volume01":  # one still image as a 1-frame clip for the 3D-CNN
        return preprocess.normalise(images)[:, None]
    if kind == "clip01":  # CK+ clips (S, frames, 48, 48) -> (S, frames, 48, 48, 1)
        return (images.astype(np.float32) / 255.0)[..., None]
    raise ValueError(f"unknown input kind {kind!r}; use gray01, rgb255, volume01 or clip01")


def image_split(exp: Experiment, profile: str | Profile, seed: int, ds: fdata.FaceDataset) -> splits.Split:
    """Train/val/test indices into the pool of a single-split experiment, capped for the profile."""
    split = exp.spec.get("split", {"kind": "official"})
    kind = split.get("kind")
    if kind == "official":
        sp = splits.official(ds, test=split.get("test", "all"), val_fraction=split.get("val_fraction", 0.1), seed=seed,
                             validation=split.get("validation", "training"))
    elif kind == "stratified":
        sp = splits.stratified(ds, tuple(split["fractions"]), seed=seed)
    elif kind == "subject_kfold":
        raise ValueError(f"{exp.id}: a k-fold split has no single train/val/test split")
    else:
        raise ValueError(f"{exp.id}: unknown split kind {kind!r}; use official, stratified or subject_kfold")
    prof = get_profile(profile)
    return splits.Split(_cap(sp.train, ds.labels, prof.max_train, seed),
                        _cap(sp.val, ds.labels, prof.max_val, seed),
                        _cap(sp.test, ds.labels, prof.max_test, seed), sp.name)


def prepare(exp: Experiment, profile: str | Profile, seed: int, paths: DataPaths) -> list[Prepared]:
    """Build the arrays for every fold of ``exp`` (one fold unless the split is k-fold)."""
    spec = exp.spec
    prof = get_profile(profile)
    ds = load_dataset(spec, paths)
    split = spec.get("split", {"kind": "official"})
    kind = split.get("kind")
    steps = list(spec.get("preprocess", []))
    input_kind = spec.get("input", "gray01")
    if spec.get("dataset") == "ckplus" and kind in ("subject_kfold", "stratified"):
        raw, labels, subjects, ids = fdata.ck_sequences(ds, frames=spec.get("model_kwargs", {}).get(
            "input_shape", [3])[0])
        clips = _pixels(raw, steps)
        if kind == "subject_kfold":
            folds = splits.subject_kfold(subjects, labels, k=split.get("k", 10), seed=seed,
                                         val_fraction=split.get("val_fraction", 0.1))
            folds = folds[: prof.max_folds or len(folds)]
        else:  # the paper's stratified split over sequences: a subject's clips may land in train and test
            folds = [ck_stratified(labels, tuple(split["fractions"]), seed)]
        x = model_input(clips, input_kind)
        return [Prepared(x[f.train], labels[f.train], x[f.val], labels[f.val], x[f.test], labels[f.test],
                         ids[f.test], ds.class_names, f.name, ds.source_hash,
                         {"subjects_test": sorted(set(subjects[f.test].tolist())),
                          "subjects_shared": len(set(subjects[f.test].tolist()) & set(subjects[f.train].tolist()))},
                         test_raw=raw[f.test], steps=tuple(steps), input_kind=input_kind)
                for f in folds]
    sp = image_split(exp, profile, seed, ds)
    tr, va, te = sp.train, sp.val, sp.test
    used = np.unique(np.concatenate([tr, va, te]))  # pool order: same images, same alignment cache
    images = np.empty_like(ds.images)
    images[used] = _pixels(ds.images[used], steps)
    x = {k: model_input(images[i], input_kind) for k, i in (("tr", tr), ("va", va), ("te", te))}
    return [Prepared(x["tr"], ds.labels[tr], x["va"], ds.labels[va], x["te"], ds.labels[te], ds.ids[te],
                     ds.class_names, sp.name, ds.source_hash, test_raw=ds.images[te], steps=tuple(steps),
                     input_kind=input_kind, train_index=tr, test_index=te)]


def ck_stratified(labels: np.ndarray, fractions: tuple[float, float, float],
                  seed: int) -> splits.Split:
    """EmotionNet's class-stratified 70/15/15 split applied to CK+ sequences, ignoring subjects
    (as the paper describes it); the gap to the subject-independent k-fold is the leakage."""
    sp = splits.stratified_labels(labels, fractions, seed=seed)
    return splits.Split(sp.train, sp.val, sp.test, sp.name + " over CK+ sequences (subjects mixed)")
