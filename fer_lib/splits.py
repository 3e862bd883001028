"""Seeded train/validation/test splits used by the papers.

All functions return integer index arrays into a :class:`~fer_lib.data.FaceDataset`, so the
same split can be saved, compared and re-applied. Nothing here looks at pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from fer_lib.data import TEST_USAGES, UNSPLIT_TEST, DataError, FaceDataset


@dataclass(frozen=True)
class Split:
    """Index arrays of one split; ``name`` says how it was made (shown in results)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    name: str

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def official(ds: FaceDataset, *, test: str = "all", val_fraction: float = 0.1, seed: int = 0,
             validation: str = "training") -> Split:
    """FER2013's own split: Training for training (a stratified ``val_fraction`` of it held out
    for validation), and PublicTest, PrivateTest or both (``test="all"``) for testing.

    ``validation="public"`` is the competition's protocol instead: all of Training to train,
    PublicTest to select on, PrivateTest (``test="private"``) touched once to test."""
    choices = {k: list(v) for k, v in TEST_USAGES.items()}
    if test not in choices:
        raise ValueError(f"test must be one of {sorted(choices)}. Received: test={test!r}")
    if validation not in ("training", "public"):
        raise ValueError(f"validation must be training or public. Received: validation={validation!r}")
    if validation == "public" and test != "private":
        raise ValueError("validation=public selects on PublicTest, so the test must be test=private")
    train_pool = np.flatnonzero(ds.usage == "Training")
    test_idx = np.flatnonzero(np.isin(ds.usage, choices[test]))
    if not len(train_pool) or not len(test_idx):
        hint = (f"; its test images have no PublicTest_/PrivateTest_ prefix, so only test='all' can use them"
                if test != "all" and (ds.usage == UNSPLIT_TEST).any() else "")
        raise DataError(f"{ds.source}: no Training or {choices[test]} images; the official split needs the "
                        "Usage of each image (the Kaggle image release's file-name prefixes PublicTest_ and "
                        "PrivateTest_, or the CSV's Usage column)" + hint)
    if validation == "public":
        return Split(train_pool, np.flatnonzero(ds.usage == "PublicTest"), test_idx,
                     "official (Training; validation PublicTest; test PrivateTest)")
    tr, va = validation_from(ds.labels, train_pool, val_fraction, seed)
    tested = " + ".join(u for u in choices[test] if (ds.usage == u).any())  # the usages this data has
    return Split(tr, va, test_idx, f"official (Training; test {tested}; val {val_fraction:.0%} of Training)")


def validation_from(labels: np.ndarray, pool: np.ndarray, fraction: float, seed: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Stratified hold-out of ``fraction`` of ``pool`` for validation."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1). Received: fraction={fraction}")
    tr, va = train_test_split(pool, test_size=fraction, random_state=seed, stratify=labels[pool])
    return np.sort(tr), np.sort(va)


def stratified(ds: FaceDataset, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), *,
               seed: int = 0, pool: np.ndarray | None = None) -> Split:
    """Stratified train/val/test split (80/10/10 for Özer & Subaşı, 70/15/15 for EmotionNet)."""
    return stratified_labels(ds.labels, fractions, seed=seed, pool=pool)


def stratified_labels(labels: np.ndarray, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), *,
                      seed: int = 0, pool: np.ndarray | None = None) -> Split:
    """:func:`stratified` on bare labels (e.g. CK+ sequences, one label per clip)."""
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) <= 0:
        raise ValueError(f"fractions must be three positive numbers summing to 1. Received: {fractions}")
    labels = np.asarray(labels)
    pool = np.arange(len(labels)) if pool is None else np.asarray(pool)
    y = labels[pool]
    rest, test = train_test_split(pool, test_size=fractions[2], random_state=seed, stratify=y)
    val_share = fractions[1] / (fractions[0] + fractions[1])
    train, val = train_test_split(rest, test_size=val_share, random_state=seed,
                                  stratify=labels[rest])
    name = "stratified " + "/".join(f"{round(f * 100)}" for f in fractions)
    return Split(np.sort(train), np.sort(val), np.sort(test), name)


def subject_kfold(subjects: np.ndarray, labels: np.ndarray, k: int = 10, *, seed: int = 0,
                  val_fraction: float = 0.1) -> list[Split]:
    """Subject-independent stratified k-fold (CK+): no subject is in two parts of one fold.

    Inside each fold a validation set is taken from the training subjects, again by subject.
    """
    subjects, labels = np.asarray(subjects), np.asarray(labels)
    if len(np.unique(subjects)) < k:
        raise ValueError(f"k={k} folds need at least {k} subjects; found {len(np.unique(subjects))}")
    outer = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    folds = []
    for i, (train_val, test) in enumerate(outer.split(np.zeros(len(labels)), labels, subjects)):
        n_inner = max(2, round(1 / val_fraction))
        inner = StratifiedGroupKFold(n_splits=n_inner, shuffle=True, random_state=seed + i)
        tr_rel, va_rel = next(inner.split(np.zeros(len(train_val)), labels[train_val], subjects[train_val]))
        folds.append(Split(np.sort(train_val[tr_rel]), np.sort(train_val[va_rel]), np.sort(test),
                           f"subject-independent {k}-fold, fold {i + 1}"))
    return folds


def check_disjoint(split: Split, groups: np.ndarray | None = None) -> None:
    """Raise if an index (or, with ``groups``, a subject) appears in two parts of a split."""
    parts = {"train": split.train, "val": split.val, "test": split.test}
    names = list(parts)
    for a in range(3):
        for b in range(a + 1, 3):
            x, y = parts[names[a]], parts[names[b]]
            if groups is not None:
                x, y = groups[x], groups[y]
            common = np.intersect1d(x, y)
            if len(common):
                raise AssertionError(f"{split.name}: {names[a]} and {names[b]} share {common[:5].tolist()}")
