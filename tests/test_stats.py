"""Confidence intervals, McNemar, two-way ANOVA and the verdict rule on data with known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fer_lib import stats


def test_bootstrap_ci_covers_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.random(200) < 0.6, rng.random(5000) < 0.6
    lo_s, hi_s = stats.bootstrap_ci(small)
    lo_l, hi_l = stats.bootstrap_ci(large)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert hi_l - lo_l < (hi_s - lo_s) / 3
    # binomial standard error: the 95 % interval is about ±1.96·sqrt(p(1-p)/n)
    assert abs((hi_l - lo_l) / 2 - 1.96 * np.sqrt(0.24 / 5000)) < 0.004


def test_combined_ci_is_wider_with_seed_spread():
    rng = np.random.default_rng(1)
    base = rng.random(1000) < 0.55
    same = stats.combined_ci([base, base, base])
    spread = stats.combined_ci([base, rng.random(1000) < 0.45, rng.random(1000) < 0.65])
    assert spread[1] - spread[0] > same[1] - same[0]


def test_mcnemar_matches_hand_computation():
    # A right where B is wrong on 30 items, the reverse on 10, both right on 50, both wrong on 10
    a = np.array([1] * 30 + [0] * 10 + [1] * 50 + [0] * 10, bool)
    b = np.array([0] * 30 + [1] * 10 + [1] * 50 + [0] * 10, bool)
    r = stats.mcnemar_test(a, b)
    assert r["table"] == [[50, 30], [10, 10]] and not r["exact"]
    assert r["statistic"] == pytest.approx((abs(30 - 10) - 1) ** 2 / 40)  # continuity-corrected chi2
    assert r["pvalue"] == pytest.approx(0.00268, abs=2e-4)
    assert stats.mcnemar_test(a[:12], b[:12])["exact"]


def test_paired_difference_sign():
    a = np.r_[np.ones(80), np.zeros(20)]
    b = np.r_[np.ones(60), np.zeros(40)]
    d, lo, hi = stats.paired_difference_ci(a, b)
    assert d == pytest.approx(0.2) and 0 < lo < 0.2 < hi
    with pytest.raises(ValueError, match="same test items"):
        stats.paired_difference_ci(a, b[:50])


def test_two_way_anova_finds_a_planted_interaction():
    rng = np.random.default_rng(2)
    rows = []
    for fmt in ("csv", "dir"):
        for model in ("cnn", "lstm"):
            effect = 0.05 if (fmt, model) == ("csv", "lstm") else 0.0
            rows += [{"fmt": fmt, "model": model, "acc": 0.5 + effect + rng.normal(0, 0.005)} for _ in range(3)]
    table = stats.two_way_anova(pd.DataFrame(rows), "acc", "fmt", "model")
    assert table.loc["C(fmt):C(model)", "PR(>F)"] < 0.01
    with pytest.raises(ValueError, match="all four cells"):
        stats.two_way_anova(pd.DataFrame(rows[:6]), "acc", "fmt", "model")


@pytest.mark.parametrize("claimed, ci, verdict", [
    (0.55, (0.54, 0.56), "reproduced"),
    (0.575, (0.54, 0.56), "reproduced"),  # within the 2-point tolerance
    (0.905, (0.54, 0.56), "not reproduced"),
    (0.55, (0.40, 0.60), "inconclusive"),  # interval wider than 10 points
])
def test_verdict_value(claimed, ci, verdict):
    assert stats.verdict_value(claimed, ci) == verdict
    assert stats.verdict_value(claimed, ci, protocol=False) == "inconclusive"


def test_verdict_difference():
    assert stats.verdict_difference((0.01, 0.03), "greater") == "reproduced"
    assert stats.verdict_difference((-0.03, 0.005), "greater") == "not reproduced"
    assert stats.verdict_difference((-0.01, 0.02), "greater") == "inconclusive"
    assert stats.verdict_difference((-0.01, 0.015), "similar") == "reproduced"
    assert stats.verdict_difference((0.03, 0.05), "similar") == "not reproduced"
    with pytest.raises(ValueError, match="relation"):
        stats.verdict_difference((0, 1), "bigger")


def test_hierarchical_bootstrap_known_answers():
    rng = np.random.default_rng(0)
    # 100 clusters of 10 identical items: the standard error is that of 100 items, not 1,000
    x = np.repeat(rng.random(100) < 0.5, 10).astype(float)
    p = x.mean()
    clustered = stats.hierarchical_bootstrap(x[None], np.repeat(np.arange(100), 10), n_boot=4000)
    flat = stats.hierarchical_bootstrap(x[None], None, n_boot=4000)
    assert clustered.std() == pytest.approx(np.sqrt(p * (1 - p) / 100), rel=0.1)
    assert flat.std() == pytest.approx(np.sqrt(p * (1 - p) / 1000), rel=0.1)
    # seeds that differ only by a constant: the spread is the bootstrap spread of the seed means
    base = np.zeros(1000)
    seeds = np.stack([base + 0.1, base + 0.5, base + 0.9])
    reps = stats.hierarchical_bootstrap(seeds, None, n_boot=4000)
    assert reps.mean() == pytest.approx(0.5, abs=0.01)
    assert reps.std() == pytest.approx(np.std([0.1, 0.5, 0.9]) / np.sqrt(3), rel=0.1)


def test_cluster_labels_from_ckplus_ids():
    assert stats.cluster_labels(["S005_001", "S010_002", "S005_003"]).tolist() == [0, 1, 0]
    assert stats.cluster_labels(["img1", "img2"]) is None
