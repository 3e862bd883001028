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
    "A claimed difference 'A better than B' is reproduced when the 95 % interval of A−B lies above 0, "
    f"not reproduced when it lies below +{TOLERANCE * 50:.0f} point, inconclusive otherwise; 'A similar "
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


def combined_ci(per_seed_correct: Sequence[np.ndarray], n_boot: int = 2000, seed: int = 0
                ) -> tuple[float, float]:
    """95 % CI for accuracy over seeds and test images together: a bootstrap over test items
    of the seed-averaged correctness (test images shared), widened by the seed t-interval
    when there are several seeds, so both sources of spread are covered."""
    arr = np.stack([np.asarray(c, dtype=np.float64) for c in per_seed_correct])
    lo, hi = bootstrap_ci(arr.mean(0), n_boot=n_boot, seed=seed)
    s = seeds_ci(arr.mean(1))
    if s is not None:
        lo, hi = min(lo, s[0]), max(hi, s[1])
    return lo, hi


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
