"""Splits: sizes, stratification, seeds, and no subject leaking across CK+ folds."""
from __future__ import annotations

import numpy as np
import pytest

from fer_lib import splits
from fer_lib.data import FER2013_CLASSES, DataError, FaceDataset, load_ckplus


def _synthetic(n: int = 2000, seed: int = 0) -> FaceDataset:
    rng = np.random.default_rng(seed)
    labels = rng.choice(7, size=n, p=[.14, .02, .14, .25, .17, .11, .17])
    usage = np.where(np.arange(n) < int(n * .8), "Training", np.where(np.arange(n) % 2, "PublicTest", "PrivateTest"))
    return FaceDataset(np.zeros((n, 48, 48), np.uint8), labels, FER2013_CLASSES, np.arange(n).astype(str), usage,
                       "synthetic", "0")


@pytest.mark.parametrize("fractions", [(0.8, 0.1, 0.1), (0.7, 0.15, 0.15)])
def test_stratified_sizes_and_class_shares(fractions):
    ds = _synthetic()
    sp = splits.stratified(ds, fractions, seed=1)
    splits.check_disjoint(sp)
    assert sum(sp.sizes().values()) == len(ds)
    for part, frac in zip((sp.train, sp.val, sp.test), fractions):
        assert abs(len(part) / len(ds) - frac) < 0.01
        share = np.bincount(ds.labels[part], minlength=7) / len(part)
        assert np.abs(share - np.bincount(ds.labels, minlength=7) / len(ds)).max() < 0.02


def test_seeded_and_seed_sensitive():
    ds = _synthetic()
    a, b, c = (splits.stratified(ds, seed=s) for s in (3, 3, 4))
    assert np.array_equal(a.test, b.test) and not np.array_equal(a.test, c.test)


def test_official_split_uses_usage():
    ds = _synthetic()
    sp = splits.official(ds, test="public", val_fraction=0.2, seed=0)
    splits.check_disjoint(sp)
    assert set(ds.usage[sp.test]) == {"PublicTest"} and "test PublicTest;" in sp.name
    assert set(ds.usage[np.concatenate([sp.train, sp.val])]) == {"Training"}
    assert abs(len(sp.val) / (len(sp.train) + len(sp.val)) - 0.2) < 0.01
    with pytest.raises(ValueError, match="Received: test='dev'"):
        splits.official(ds, test="dev")


def test_test_images_without_a_usage_prefix_serve_test_all_only():
    """A mirror whose test/ files lack the PublicTest_/PrivateTest_ prefix: usage "Test"."""
    ds = _synthetic()
    ds.usage[ds.usage != "Training"] = "Test"
    sp = splits.official(ds, test="all", seed=0)
    assert set(ds.usage[sp.test]) == {"Test"} and len(sp.test) == 400 and "test Test;" in sp.name
    with pytest.raises(DataError, match="no PublicTest_/PrivateTest_ prefix, so only test='all'"):
        splits.official(ds, test="public")


def test_bad_fractions_rejected():
    with pytest.raises(ValueError, match="summing to 1"):
        splits.stratified(_synthetic(), (0.8, 0.3, 0.1))


def test_ck_subject_kfold_has_no_subject_leak(ck_root):
    ck = load_ckplus(ck_root)
    folds = splits.subject_kfold(ck.subject, ck.labels, k=10, seed=0)
    assert len(folds) == 10
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested.tolist()) == list(range(len(ck)))  # every image tested exactly once
    for f in folds:
        splits.check_disjoint(f, groups=ck.subject)
    with pytest.raises(AssertionError, match="share"):
        splits.check_disjoint(splits.Split(np.array([0]), np.array([1]), np.array([0]), "leaky"))


def test_official_split_can_select_on_public_and_test_on_private():
    ds = _synthetic()
    sp = splits.official(ds, test="private", validation="public")
    splits.check_disjoint(sp)
    assert set(ds.usage[sp.train]) == {"Training"} and len(sp.train) == int((ds.usage == "Training").sum())
    assert set(ds.usage[sp.val]) == {"PublicTest"} and set(ds.usage[sp.test]) == {"PrivateTest"}
    with pytest.raises(ValueError, match="test=private"):
        splits.official(ds, test="all", validation="public")
