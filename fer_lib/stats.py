"""Statistics for claims: confidence intervals, paired tests, ANOVA, and the verdict rule.

The verdict rule is stated here once (VERDICT_RULE) and printed in the book; claims are
judged by :func:`verdict_value` / :func:`verdict_difference`, never by hand.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

#: Absolute tolerance (fraction) within which a measured value counts as matching a claim.
TOLERANCE = 0.02

VERDICT_RULE = (
    "A claimed value is *reproduced* when it lies inside our 95 % confidence interval widened by "
    f"±{TOLERANCE * 100:.0f} points; *not reproduced* when it lies outside it; *inconclusive* when the "
    "interval is wider than 10 points or the run does not follow the paper's protocol (smoke profile). "
    "A claimed difference 'A better than B' is reproduced when the 95 % interval of A−B lies entirely "
    f"above 0; otherwise it is not reproduced when the interval's upper end is below +{TOLERANCE * 50:.0f} "
    "point (B is at least as good, or A better by a negligible margin), and inconclusive when the interval "
    "reaches above that; 'A similar "
    f"to B' is reproduced when the interval lies inside ±{TOLERANCE * 100:.0f} points. A claimed "
    "significance (p < α) is reproduced when our McNemar p is below α with the claimed direction."
)


def bootstrap_ci(correct: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95
                 ) -> tuple[float, float]:
    """Percentile bootstrap CI of a mean over test items (``correct`` is 0/1 per item)."""
    correct = np.asarray(correct, dtype=np.float64)
    if correct.size == 0:
        raise ValueError("bootstrap_ci needs at least one test item")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(correct), size=(n_boot, len(correct)))
    means = correct[idx].mean(1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def seeds_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float] | None:
    """t-interval of the mean over seeds (None with fewer than two seeds)."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        return None
    half = stats.t.ppf((1 + level) / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)


def cluster_labels(ids: Sequence[str]) -> np.ndarray | None:
    """CK+ subject per test id (``S<subject>_...``), as integer labels; None when the ids carry no
    subject (FER2013: clusters come from the duplicate audit instead)."""
    import re

    subj = [re.match(r"S(\d+)_", str(i)) for i in ids]
    if len(subj) == 0 or not all(subj):
        return None
    _, labels = np.unique([m.group(1) for m in subj], return_inverse=True)
    return labels


def hierarchical_bootstrap(per_seed: np.ndarray, clusters: np.ndarray | None = None, n_boot: int = 2000,
                           seed: int = 0) -> np.ndarray:
    """Bootstrap replicates of the seed-averaged mean over test items, resampling seeds, then
    clusters of items (``clusters``: a label per item; None: every item its own cluster).

    ``per_seed`` is (seeds, items), e.g. per-image correctness. Each replicate draws the seeds
    with replacement and, independently, the clusters with replacement; its value is the mean over
    the drawn seeds of sum(items of the drawn clusters) / their number. Both sources of spread thus
    enter one distribution (no union of two intervals), and correlated images move together.
    """
    v = np.atleast_2d(np.asarray(per_seed, dtype=np.float64))
    n_seeds, n = v.shape
    labels = np.arange(n) if clusters is None else np.unique(np.asarray(clusters), return_inverse=True)[1]
    g = int(labels.max()) + 1
    sums = np.stack([np.bincount(labels, weights=row, minlength=g) for row in v])  # (seeds, g)
    sizes = np.bincount(labels, minlength=g).astype(np.float64)
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    for start in range(0, n_boot, 500):
        b = min(500, n_boot - start)
        draws = rng.integers(0, g, size=(b, g))
        w = np.bincount((draws + (np.arange(b) * g)[:, None]).ravel(), minlength=b * g).reshape(b, g)
        means = (w @ sums.T) / (w @ sizes)[:, None]  # (b, seeds)
        if n_seeds > 1:
            sd = rng.integers(0, n_seeds, size=(b, n_seeds))
            means = np.take_along_axis(means, sd, axis=1)
        out[start:start + b] = means.mean(1)
    return out


def combined_ci(per_seed_correct: Sequence[np.ndarray], n_boot: int = 2000, seed: int = 0,
                clusters: np.ndarray | None = None, level: float = 0.95) -> tuple[float, float]:
    """95 % CI of a mean over seeds and test images together: the percentile interval of
    :func:`hierarchical_bootstrap` (seeds, then clusters of images)."""
    reps = hierarchical_bootstrap(np.stack([np.asarray(c, dtype=np.float64) for c in per_seed_correct]),
                                  clusters, n_boot=n_boot, seed=seed)
    a = (1 - level) / 2
    return float(np.quantile(reps, a)), float(np.quantile(reps, 1 - a))


def cluster_indices(clusters: np.ndarray, b: int, rng: np.random.Generator) -> np.ndarray:
    """(b, n) item indices, each row drawn cluster by cluster with replacement until n items are
    drawn (the last cluster cut short), so every replicate keeps the test set's size; used where a
    metric needs resampled items rather than weights (macro F1, AUC)."""
    labels = np.unique(np.asarray(clusters), return_inverse=True)[1]
    n = len(labels)
    order = np.argsort(labels, kind="stable")
    starts = np.r_[0, np.cumsum(np.bincount(labels))]
    g = len(starts) - 1
    sizes = np.diff(starts)
    out = np.empty((b, n), dtype=np.int64)
    for k in range(b):
        picks = rng.integers(0, g, size=g)
        cum = np.cumsum(sizes[picks])
        if cum[-1] < n:  # only when draws are short: repeat the drawn items
            picks = np.tile(picks, int(np.ceil(n / cum[-1])))
            cum = np.cumsum(sizes[picks])
        sel = picks[:int(np.searchsorted(cum, n)) + 1]
        lens = sizes[sel]
        offsets = np.repeat(starts[sel] - np.r_[0, np.cumsum(lens)[:-1]], lens)
        out[k] = order[(offsets + np.arange(lens.sum()))[:n]]
    return out


def paired_difference_ci(correct_a: np.ndarray, correct_b: np.ndarray, n_boot: int = 2000, seed: int = 0
                         ) -> tuple[float, float, float]:
    """Mean difference A−B in accuracy on the same test items, with a paired bootstrap 95 % CI."""
    a, b = np.asarray(correct_a, float), np.asarray(correct_b, float)
    if a.shape != b.shape:
        raise ValueError(f"paired comparison needs the same test items: {a.shape} vs {b.shape}")
    d = a - b
    lo, hi = bootstrap_ci(d, n_boot=n_boot, seed=seed)
    return float(d.mean()), lo, hi


def mcnemar_test(correct_a: np.ndarray, correct_b: np.ndarray) -> dict:
    """McNemar's test on paired correctness (statsmodels; exact binomial when discordant < 25)."""
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    table = [[int((a & b).sum()), int((a & ~b).sum())], [int((~a & b).sum()), int((~a & ~b).sum())]]
    exact = table[0][1] + table[1][0] < 25
    res = mcnemar(table, exact=exact, correction=not exact)
    return {"table": table, "statistic": float(res.statistic), "pvalue": float(res.pvalue), "exact": exact,
            "a_only_correct": table[0][1], "b_only_correct": table[1][0]}


def two_way_anova(df: pd.DataFrame, response: str, a: str, b: str) -> pd.DataFrame:
    """Two-way ANOVA with interaction (type II sums of squares) via statsmodels OLS."""
    import statsmodels.api as sm
    from statsmodels.formula.api import ols

    if df[[a, b]].drop_duplicates().shape[0] < 4:
        raise ValueError(f"two-way ANOVA needs all four cells of {a} x {b}")
    model = ols(f"{response} ~ C({a}) * C({b})", data=df).fit()
    return sm.stats.anova_lm(model, typ=2)


def verdict_value(claimed: float, ci: tuple[float, float], *, tolerance: float = TOLERANCE,
                  protocol: bool = True) -> str:
    lo, hi = ci
    if not protocol or hi - lo > 0.10:
        return "inconclusive"
    return "reproduced" if lo - tolerance <= claimed <= hi + tolerance else "not reproduced"


def verdict_difference(ci: tuple[float, float], relation: str, *, tolerance: float = TOLERANCE,
                       protocol: bool = True) -> str:
    lo, hi = ci
    if not protocol:
        return "inconclusive"
    if relation == "greater":
        if lo > 0:
            return "reproduced"
        return "not reproduced" if hi < tolerance / 2 else "inconclusive"
    if relation == "similar":
        if -tolerance <= lo and hi <= tolerance:
            return "reproduced"
        return "not reproduced" if lo > tolerance or hi < -tolerance else "inconclusive"
    raise ValueError(f"relation must be 'greater' or 'similar'. Received: relation={relation!r}")
