"""Data-audit helpers on the real FER2013: which test set a paper's per-class counts describe, and
the duplicate pairs cached per pool that every run's leakage is computed from."""
from __future__ import annotations

import numpy as np
import pytest

from fer_lib import audit, cache
from fer_lib import data as fdata
from fer_lib.experiments import load_paper


@pytest.fixture(scope="module")
def fer(fer_root):
    return fdata.load_fer2013(fer_root)


def test_lamichhane_table2_counts_are_public_plus_private_test(fer):
    counts = load_paper("lamichhane")["paper_counts"]
    assert audit.matching_test_set(counts["table2_test"], fer) == "all"  # 7,178, not Table 1's 3,589
    table = audit.test_set_counts(counts["table2_test"], fer).set_index("test set")
    assert table.loc["all", "total"] == 7178 and table.loc["public", "total"] == 3589
    assert not table.loc["public", "matches"] and table.loc["public", "difference"] > 3000
    # the training row of Table 2 is FER2013's Training usage exactly
    train = np.bincount(fer.labels[fer.usage == "Training"], minlength=len(fer.class_names))
    assert dict(zip(fer.class_names, train.tolist())) == counts["table2_train"]
    # and the experiments test on that set
    assert load_paper("lamichhane")["defaults"]["split"]["test"] == "all"


def test_matching_test_set_names_the_nearest_when_none_matches(fer):
    counts = dict(load_paper("lamichhane")["paper_counts"]["table2_test"], angry=959)
    with pytest.raises(ValueError, match="nearest: all .off by 1"):
        audit.matching_test_set(counts, fer)
    with pytest.raises(ValueError, match="contempt"):
        audit.test_set_counts({"contempt": 3}, fer)


def test_cached_duplicate_pairs_match_the_audit_and_are_cached(fer, tmp_cache, monkeypatch):
    # a slice with known copies: the first 1,500 images plus exact copies of five of them
    images = np.concatenate([fer.images[:1500], fer.images[[3, 10, 20, 30, 40]]])
    pairs = audit.cached_duplicate_pairs(images)
    _, detail = audit.duplicate_audit(images, np.zeros(len(images), int), np.array(["x"] * len(images)))
    assert sorted(zip(pairs["kind"], pairs["i"], pairs["j"])) == sorted(zip(detail["kind"], detail["i"], detail["j"]))
    for k, src in enumerate([3, 10, 20, 30, 40]):
        assert ((pairs["i"] == src) & (pairs["j"] == 1500 + k) & (pairs["kind"] == "exact")).any()
    files = list((cache.cache_dir() / "duplicates").glob("pairs-*.npz"))
    assert len(files) == 1
    monkeypatch.setattr(audit, "_find_pairs", lambda *a, **k: pytest.fail("recomputed instead of cached"))
    again = audit.cached_duplicate_pairs(images)  # read back from the cache
    assert again.equals(pairs)


def test_class_balance_puts_every_class_before_the_totals(fer_root, ck_root, tmp_cache):
    from fer_lib.config import CKPLUS_CLASSES, DataPaths

    table = audit.class_balance(profile="smoke", paths=DataPaths.resolve(fer_root, ck_root, env={}))
    ck = table[table["pool"].str.startswith("ckplus")].dropna(axis=1, how="all")
    cols = list(ck.columns)
    assert set(CKPLUS_CLASSES) <= set(cols)
    assert max(cols.index(c) for c in CKPLUS_CLASSES) < cols.index("total") and cols[-1] == "used by"
    assert (ck[list(CKPLUS_CLASSES)].sum(axis=1) == ck["total"]).all()
    assert set(ck["used by"]) == {"emotionnet: ck_full, ck_no_lstm, ck_cnn_gru, ck_cnn3d", "emotionnet: ck_full-stratified"}
