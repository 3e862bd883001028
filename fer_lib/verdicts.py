"""Claims + results -> verdicts, by code only: the rules, the evaluator and the intervals.

:func:`evaluate_claims` reads every claim of ``claims/claims.yaml`` and the finished runs of one
profile (``results/<profile>/...``) and returns one row per claim with our number, its 95 %
confidence interval and a verdict from :mod:`fer_lib.stats`. How each kind of claim is judged:

* **value** -- our metric (mean over seeds) against the claimed number with
  :func:`stats.verdict_value` (the claim's own tolerance, else 2 points). Its 95 % CI is a
  hierarchical bootstrap: seeds, then clusters of test images (:attr:`_Run.clusters`: CK+
  subjects, FER2013 duplicate groups, else single images). Seconds per epoch: bootstrap of the
  median over epochs (first epoch left out), widened by the seed t-interval. Structural numbers
  (parameters, test-set size, LSTM sequence length) are exact: CI = their range.
* **comparison** -- the difference A - B with :func:`stats.verdict_difference`, from the same
  hierarchical bootstrap; runs on the same test images share the resampled clusters (paired),
  runs with the same seeds share the resampled seeds. ``reference:<label>`` stands for a
  reference claim of the same paper (e.g. human accuracy 0.65). A sized claim
  (``claimed_difference``) also needs the claimed gap inside the CI (:data:`RULES`).
* **interaction** -- the difference of differences (A - B) - (C - D) with a bootstrap CI (paired
  within each test set), judged like a comparison; with >= 2 seeds per cell the two-way ANOVA
  (:func:`interaction_anova`, :func:`ozer_anova`) is added to the note.
* **significance** -- McNemar's test per seed (:func:`stats.mcnemar_test`); *reproduced* when
  p < alpha **and** A is right on more of the discordant images than B for a strict majority of
  seeds, *not reproduced* otherwise.
* **ranking** -- per-class recall (or AUC) averaged over seeds; *reproduced* when the named best
  classes are exactly the top k and the named worst classes exactly the bottom k. The note gives
  how often that holds over bootstrap resamples of the test images.
* **confusion** -- unordered class pairs ranked by their symmetric off-diagonal count (summed over
  seeds); *reproduced* when every claimed pair ranks within the top ``max(3, 2 x #pairs)``.
* **robustness** (:data:`ROBUSTNESS_RULE`) -- test accuracy with additive Gaussian noise at each
  sigma; *reproduced* when the accuracy at sigma = 0.1 (on [0, 1] inputs) is within 5 points of
  the clean accuracy (mean over seeds), *not reproduced* when it drops by more. ``stage: raw``
  reads the noise added before preprocessing (``noise_robustness_raw``).
* **anova** (:data:`ANOVA_RULE`) -- main effects / interaction of a 2x2 design by a two-way ANOVA
  over seeds; *not testable* with fewer than two seeds per cell.
* **training_curve** (:data:`CURVE_RULE`) -- the onset of overfitting read from the saved
  histories (training minus validation accuracy) against the claimed epoch or ``never``.
* **reference** -- the paper's number and label, shown for context (verdict ``reference``).
* **untestable** -- verdict ``not testable`` with the reason.

Claims whose experiments have no results yet are ``missing``. The rules that turn these numbers
into verdicts (evidence profiles, sized comparisons, failed runs, claims true by construction,
intervals) are stated once in :data:`RULES` (version :data:`RULES_VERSION`): only a profile with
``Profile.evidence`` (``paper``) gives verdicts; other profiles give the same judgement in the
``indicative`` column with verdict ``indicative``. Intervals resample seeds and clusters of test
images together (:func:`stats.hierarchical_bootstrap`) instead of widening by the seed t-interval.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from scipy import stats as st

from fer_lib import stats
from fer_lib.claims import Claim, load_claims
from fer_lib.config import Profile, get_profile
from fer_lib.metrics import classification_report
from fer_lib.results import load_results

#: Bootstrap replicates and seed for every CI computed here (deterministic tables).
N_BOOT = 2000
BOOT_SEED = 0
_CHUNK = 250  # replicates per vectorised chunk (memory: chunk x n_test)

ROBUSTNESS_SIGMA = 0.1
ROBUSTNESS_MAX_DROP = 0.05
ROBUSTNESS_RULE = (
    f"A robustness claim is *reproduced* when test accuracy with additive Gaussian noise of "
    f"sigma = {ROBUSTNESS_SIGMA} (inputs in [0, 1]) stays within {ROBUSTNESS_MAX_DROP * 100:.0f} points "
    "of the clean accuracy (mean over seeds), and *not reproduced* when it drops by more."
)
SIGNIFICANCE_RULE = ("A significance claim is *reproduced* when McNemar's p < alpha with A right on more "
                     "discordant test images than B, for a strict majority of seeds.")
RANKING_RULE = ("A ranking claim is *reproduced* when the named best classes are exactly the top k and "
                "the named worst classes exactly the bottom k of the per-class metric (mean over seeds).")
CONFUSION_RULE = ("A confusion claim is *reproduced* when every named class pair ranks within the top "
                  "max(3, 2 x number of pairs) unordered pairs by off-diagonal count.")

ANOVA_RULE = ("A claim of significant main effects (or interaction) in a 2x2 design is *reproduced* when a "
              "two-way ANOVA over seeds (type II sums of squares, at least two seeds per cell) gives p < alpha "
              "for every named effect, *not reproduced* otherwise; with fewer seeds it is *not testable*.")
#: Training-curve rule: the gap above which training and validation accuracy have diverged, and the
#: tolerance (epochs) around a claimed onset.
CURVE_GAP = 0.05
CURVE_TOLERANCE = 5
CURVE_RULE = (f"A training-curve claim (overfitting from about epoch E) is read from the saved histories: "
              f"the onset of overfitting is the first epoch from which training accuracy stays more than "
              f"{CURVE_GAP * 100:.0f} points above validation accuracy until the run ends. It is *reproduced* "
              f"when the median onset over seeds lies within ±{CURVE_TOLERANCE} epochs of E (or, for a claim "
              "of no overfitting, when most runs never diverge), *not reproduced* otherwise, and "
              "*inconclusive* when runs that never diverge stopped before E + the tolerance.")

#: Bumped whenever a rule below changes; every result records it (with the claims file's version)
#: so that a verdict computed under other rules is visible.
RULES_VERSION = "3"

#: The rules, stated once; the book prints them (in this order) and the evaluator follows them.
RULES: dict[str, str] = {
    "evidence": ("Only runs of the `paper` profile (each paper's protocol, three seeds) give verdicts. "
                 "Runs of `quick` and `smoke` give an *indicative* verdict, written with the way it went "
                 "(\"indicative: not reproduced\") and never counted as a verdict."),
    "value": stats.VERDICT_RULE,
    "sized comparison": ("A comparison or interaction claim with a size (\"4–6 % lower\", \"+7.3 points\") "
                         "is *reproduced* only when the claimed gap (or some part of the claimed range) lies "
                         "inside our 95 % interval of the difference and the direction holds; *not "
                         "reproduced* when the claimed gap lies outside the interval. Unlike a single value, "
                         "a gap gets no ±2-point tolerance: both runs share our test images and pipeline, so "
                         "the differences of test set and preprocessing that the tolerance absorbs cancel. "
                         "Claims without a size are judged on their direction only."),
    "run failed": ("A run that failed — it predicts one class only, its accuracy is at or below the share of "
                   "the test set's majority class, or its loss is NaN — gives no verdict: every claim "
                   "resting on it reads *run failed* and names the run."),
    "by construction": ("A claim settled by our own configuration (parameter counts the model builders were "
                        "written to match, sequence lengths and test-set sizes we chose, timing claims that "
                        "contradict each other) cannot fail; it reads *by construction* and is not counted "
                        "as a verdict."),
    "intervals": ("Every 95 % interval is a percentile bootstrap that resamples seeds and then clusters of "
                  "test images (CK+: the subjects; FER2013: groups of exact or near duplicate images from "
                  "the data audit; otherwise single images), so test-set and seed spread enter one "
                  "distribution. Runs on the same test images share the resampled clusters (paired)."),
    "significance": SIGNIFICANCE_RULE,
    "ranking": RANKING_RULE,
    "confusion": CONFUSION_RULE,
    "robustness": ROBUSTNESS_RULE + (" A claim about preprocessing is judged with the noise added to the raw "
                                      "image before alignment and CLAHE (stage *raw*); the noise on the model "
                                      "input (stage *input*) is reported beside it."),
    "anova": ANOVA_RULE,
    "training curve": CURVE_RULE,
}

#: Verdicts that count; the others say why a claim has none.
COUNTED = ("reproduced", "not reproduced", "inconclusive")
VERDICTS = ("reproduced", "not reproduced", "inconclusive", "indicative", "run failed", "by construction",
            "not testable", "missing", "reference")
COLUMNS = ["id", "paper", "section", "quote", "kind", "metric", "claimed", "reproduced", "ci_low", "ci_high",
           "n_seeds", "verdict", "indicative", "failed_runs", "evidence", "note", "what", "scale", "label",
           "rules_version"]


def versions(claims_path=None) -> dict[str, str]:
    """The rules' and the claims file's versions, as every result records them."""
    from fer_lib.claims import claims_version

    return {"rules": RULES_VERSION, "claims": claims_version(claims_path)}

Results = dict[str, list[dict]]

_EXACT = {"params", "n_test", "seq_len"}
_PER_ITEM = {"accuracy", "loss"}  # means over test images: CI from per-image values


def _size_text(size, scale: str, brackets: bool = False) -> str:
    """A claimed gap or an interval of gaps in the metric's unit: "+4 to +6 pts" for fractions
    (the unit every table of the book uses), plain numbers otherwise."""
    pair = isinstance(size, tuple)
    vals = size if pair else (size,)
    text = [f"{v * 100:+.3g}" if scale == "fraction" else f"{v:.4g}" for v in vals]
    unit = " pts" if scale == "fraction" else ""
    if brackets:
        return f"[{', '.join(text)}]{unit}"
    return (" to ".join(text)) + unit


def metric_scale(metric: str | None) -> str:
    """How a metric is displayed: fraction (percent), auc, loss, seconds, count or none."""
    if not metric:
        return "none"
    if metric in _EXACT:
        return "count"
    if metric == "seconds_per_epoch":
        return "seconds"
    if metric == "loss":
        return "loss"
    if metric.startswith("auc") or metric == "macro_auc":
        return "auc"
    return "fraction"


# ----------------------------------------------------------------------------- runs

def _results(profile: str, paper: str | None, results: Results | None) -> Results:
    if results is not None:
        return results if paper is None else {k: v for k, v in results.items() if k.split("/")[0] == paper}
    return load_results(profile, paper)


class _Run:
    """Test-set arrays of one run, items sorted by test id so that runs on the same images align."""

    def __init__(self, run: dict):
        self.raw = run
        t = run["test"]
        ids = np.asarray(t["ids"]).astype(str)
        order = np.argsort(ids, kind="stable")
        self.ids = ids[order]
        self.y = np.asarray(t["y_true"], dtype=np.int64)[order]
        self.proba = np.asarray(t["proba"], dtype=np.float64)[order]
        self.pred = self.proba.argmax(1)
        self.k = len(run["class_names"])
        self.class_names = list(run["class_names"])
        self.correct = (self.pred == self.y).astype(np.float64)
        self.seed = run.get("seed", 0)
        self.n = len(self.y)
        groups = t.get("groups")
        self.clusters = (np.asarray(groups)[order] if groups is not None else stats.cluster_labels(self.ids))
        self.key = hashlib.sha1("\n".join(self.ids).encode()).hexdigest()
        if self.clusters is not None:
            self.key += "/" + hashlib.sha1(np.unique(self.clusters, return_inverse=True)[1].tobytes()).hexdigest()[:8]
        self._auc_prep: dict[int, tuple] = {}

    @property
    def name(self) -> str:
        return f"{self.raw.get('experiment', '?')} seed {self.seed}"

    def failure(self) -> str | None:
        """Why this run failed (one predicted class, accuracy <= majority share, NaN loss), or None."""
        if self.n and len(np.unique(self.pred)) == 1:
            return "predicts one class only"
        majority = np.bincount(self.y, minlength=self.k).max() / max(self.n, 1)
        acc = float(self.correct.mean()) if self.n else float("nan")
        if self.n and acc <= majority:
            return f"accuracy {acc:.3f} <= majority-class share {majority:.3f}"
        h = self.raw.get("history") or {}
        losses = [v for one in (h if isinstance(h, list) else [h]) for v in one.get("loss", [])]
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in losses) or \
                math.isnan(float(self.metrics.get("loss", 0.0) or 0.0)):
            return "NaN loss"
        return None

    @cached_property
    def nll(self) -> np.ndarray:
        p = np.clip(self.proba, 1e-7, 1)
        p = p / p.sum(1, keepdims=True)
        return -np.log(p[np.arange(self.n), self.y])

    @cached_property
    def metrics(self) -> dict:
        if "metrics" in self.raw:
            return self.raw["metrics"]
        return classification_report(self.y, self.proba, self.class_names)

    @cached_property
    def epoch_seconds(self) -> np.ndarray:
        h = self.raw.get("history") or {}
        hs = h if isinstance(h, list) else [h]
        secs: list[float] = []
        for one in hs:
            s = [v for v in one.get("seconds", []) if v is not None]
            secs += s[1:] if len(s) > 1 else s
        return np.asarray(secs, dtype=np.float64)

    # -- point values -------------------------------------------------------------------------
    def value(self, metric: str) -> float | None:
        m = self.metrics
        if metric in ("accuracy", "macro_precision", "macro_recall", "macro_f1", "macro_auc", "loss", "n_test"):
            v = m.get(metric, self.n if metric == "n_test" else None)
            return None if v is None else float(v)
        if metric == "params":
            return None if self.raw.get("params") is None else float(self.raw["params"])
        if metric == "seconds_per_epoch":
            v = (self.raw.get("timing") or {}).get("seconds_per_epoch")
            return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
        if metric == "seq_len":
            return seq_len(self.raw)
        prefix, _, cls = metric.partition(":")
        if prefix in ("auc", "recall", "precision", "f1") and cls:
            pc = m.get("per_class", {}).get(cls)
            if pc is None or pc.get(prefix) is None:
                return None
            return float(pc[prefix])
        raise ValueError(f"unknown metric {metric!r}")

    # -- bootstrap replicates (idx: (b, n) resampled item indices) ------------------------------
    def reps(self, metric: str, idx: np.ndarray) -> np.ndarray:
        if metric == "accuracy":
            return self.correct[idx].mean(1)
        if metric == "loss":
            return self.nll[idx].mean(1)
        prefix, _, cls = metric.partition(":")
        if metric == "macro_auc":
            return np.nanmean(np.stack([self._auc_reps(c, idx) for c in range(self.k)]), 0)
        if prefix == "auc":
            return self._auc_reps(self.class_names.index(cls), idx)
        cm = self._confusion_reps(idx)
        diag = np.diagonal(cm, axis1=1, axis2=2).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            prec = np.where(cm.sum(1) > 0, diag / cm.sum(1), 0.0)
            rec = np.where(cm.sum(2) > 0, diag / cm.sum(2), 0.0)
            f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
        table = {"precision": prec, "recall": rec, "f1": f1}
        if metric.startswith("macro_"):
            return table[metric[6:]].mean(1)
        if prefix in table:
            return table[prefix][:, self.class_names.index(cls)]
        raise ValueError(f"no bootstrap for metric {metric!r}")

    def _confusion_reps(self, idx: np.ndarray) -> np.ndarray:
        b, k = idx.shape[0], self.k
        codes = (self.y * k + self.pred)[idx] + (np.arange(b) * k * k)[:, None]
        return np.bincount(codes.ravel(), minlength=b * k * k).reshape(b, k, k)

    def _auc_reps(self, c: int, idx: np.ndarray) -> np.ndarray:
        """One-vs-rest AUC per replicate (Mann-Whitney with ties counted 1/2), vectorised."""
        if c not in self._auc_prep:
            s = self.proba[:, c]
            order = np.argsort(s, kind="stable")
            _, starts = np.unique(s[order], return_index=True)
            self._auc_prep[c] = (order, starts, (self.y[order] == c))
        order, starts, pos = self._auc_prep[c]
        b = idx.shape[0]
        w = np.bincount((idx + (np.arange(b) * self.n)[:, None]).ravel(), minlength=b * self.n)
        w = w.reshape(b, self.n)[:, order].astype(np.float64)
        gp = np.add.reduceat(w * pos, starts, axis=1)
        gn = np.add.reduceat(w * ~pos, starts, axis=1)
        below = np.cumsum(gn, 1) - gn
        n_p, n_n = gp.sum(1), gn.sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (gp * (below + 0.5 * gn)).sum(1) / (n_p * n_n)


class _Terms:
    """Bootstrap replicates of sum_j coef_j * mean_over_seeds(metric of experiment j).

    Runs on the same test images (same sorted ids) share one stream of resampled indices, so
    differences between them are paired; runs on other images are resampled independently.
    """

    def __init__(self, terms: Sequence[tuple[float, Sequence[_Run]]]):
        self.terms = terms

    def reps(self, metric: str, n_boot: int = N_BOOT) -> np.ndarray:
        """Seeds are resampled too (hierarchical bootstrap): terms with the same seeds draw the same
        seeds (paired), and clustered test sets (:attr:`_Run.clusters`) resample whole clusters."""
        keys: dict[str, _Run] = {}
        for _, runs in self.terms:
            for r in runs:
                keys.setdefault(r.key, r)
        rngs = {k: np.random.default_rng([BOOT_SEED, j]) for j, k in enumerate(keys)}
        seed_sets = {tuple(r.seed for r in runs) for _, runs in self.terms}
        seed_rng = {s: np.random.default_rng([BOOT_SEED, 10_000 + j]) for j, s in enumerate(sorted(seed_sets))}
        out = np.zeros(n_boot)
        for start in range(0, n_boot, _CHUNK):
            b = min(_CHUNK, n_boot - start)
            idx = {k: (rngs[k].integers(0, r.n, size=(b, r.n)) if r.clusters is None
                       else stats.cluster_indices(r.clusters, b, rngs[k])) for k, r in keys.items()}
            draw = {s: (seed_rng[s].integers(0, len(s), size=(b, len(s))) if len(s) > 1 else None)
                    for s in seed_sets}
            for coef, runs in self.terms:
                per = np.stack([r.reps(metric, idx[r.key]) for r in runs], axis=1)  # (b, seeds)
                d = draw[tuple(r.seed for r in runs)]
                if d is not None:
                    per = np.take_along_axis(per, d, axis=1)
                out[start:start + b] += coef * per.mean(1)
        return out


def _percentile(reps: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    reps = reps[np.isfinite(reps)]
    if not len(reps):
        return (float("nan"), float("nan"))
    a = (1 - level) / 2
    return float(np.quantile(reps, a)), float(np.quantile(reps, 1 - a))


def _widen(ci: tuple[float, float], seed_ci: tuple[float, float] | None) -> tuple[float, float]:
    if seed_ci is None:
        return ci
    return min(ci[0], seed_ci[0]), max(ci[1], seed_ci[1])


def _welch_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[float, float] | None:
    """t-interval of mean(a) - mean(b) over seeds (Welch), None with fewer than 2 seeds each."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    d = a.mean() - b.mean()
    if se == 0:
        return d, d
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = st.t.ppf((1 + level) / 2, df) * se
    return float(d - half), float(d + half)


def seq_len(run: dict) -> float | None:
    """Time steps the first recurrent layer of the run's model reads, as the runner recorded it
    (runs from before it recorded this give None: the claim then reads *missing*)."""
    v = run.get("seq_len")
    return None if v is None else float(v)


# ----------------------------------------------------------------------------- evaluation

@dataclass
class _Row:
    claimed: Any = None
    reproduced: Any = None
    ci: tuple[float, float] = (float("nan"), float("nan"))
    n_seeds: int = 0
    verdict: str = "missing"
    notes: tuple[str, ...] = ()
    what: str = ""
    indicative: str = ""
    failed: str = ""


_METRIC_WORDS = {"n_test": "test images", "n_train": "train images", "params": "parameters",
                 "seq_len": "sequence length", "auc": "AUC", "f1": "F1"}


def metric_label(metric: str) -> str:
    """A claim's metric in words: 'macro_f1' -> 'macro F1', 'auc:angry' -> 'AUC (angry)'."""
    name, _, cls = metric.partition(":")
    words = _METRIC_WORDS.get(name) or " ".join(_METRIC_WORDS.get(w, w) for w in name.split("_"))
    return f"{words} ({cls})" if cls else words


class _Evaluator:
    def __init__(self, results: Results, protocol: bool, claims: list[Claim]):
        self.results = results
        self.protocol = protocol
        self.claims = claims
        self._runs: dict[str, list[_Run]] = {}
        self._ci_cache: dict[tuple, tuple[float, float]] = {}

    def runs(self, exp: str) -> list[_Run]:
        if exp not in self._runs:
            self._runs[exp] = [_Run(r) for r in self.results.get(exp, [])]
        return self._runs[exp]

    # -- values -----------------------------------------------------------------------------
    def point(self, exp: str, metric: str) -> float | None:
        vals = [r.value(metric) for r in self.runs(exp)]
        if not vals or any(v is None for v in vals):
            return None
        return float(np.mean(vals))

    def value_ci(self, exp: str, metric: str) -> tuple[float, float]:
        key = (exp, metric)
        if key in self._ci_cache:
            return self._ci_cache[key]
        runs = self.runs(exp)
        per_seed = [r.value(metric) for r in runs]
        if metric in _EXACT:
            ci = (min(per_seed), max(per_seed))
        elif metric == "seconds_per_epoch":
            ci = _widen(_percentile(self._seconds_reps([(1.0, runs)])), stats.seeds_ci(per_seed))
        elif metric in _PER_ITEM and len({r.key for r in runs}) == 1:
            arrays = [r.correct if metric == "accuracy" else r.nll for r in runs]
            ci = stats.combined_ci(arrays, n_boot=N_BOOT, seed=BOOT_SEED, clusters=runs[0].clusters)
        else:
            ci = _percentile(_Terms([(1.0, runs)]).reps(metric))
        self._ci_cache[key] = ci
        return ci

    def _seconds_reps(self, terms: Sequence[tuple[float, Sequence[_Run]]]) -> np.ndarray:
        rng = np.random.default_rng(BOOT_SEED)
        out = np.zeros(N_BOOT)
        for coef, runs in terms:
            per = []
            for r in runs:
                s = r.epoch_seconds
                if not len(s):
                    per.append(np.full(N_BOOT, np.nan))
                    continue
                per.append(np.median(s[rng.integers(0, len(s), size=(N_BOOT, len(s)))], axis=1))
            out += coef * np.mean(per, axis=0)
        return out

    def difference(self, terms: list[tuple[float, str]], metric: str) -> tuple[float, tuple[float, float], str]:
        """Point, CI and a note for sum coef * metric(experiment), paired where test ids allow."""
        run_terms = [(c, self.runs(e)) for c, e in terms]
        point = sum(c * self.point(e, metric) for c, e in terms)
        seeds = [sorted(r.seed for r in runs) for _, runs in run_terms]
        same_seeds = all(s == seeds[0] for s in seeds)
        keys = [{r.key for r in runs} for _, runs in run_terms]
        paired_groups = len(set().union(*keys)) < sum(len(k) for k in keys)
        if metric == "seconds_per_epoch":
            ci = _percentile(self._seconds_reps(run_terms))
            how = "bootstrap over epochs (unpaired)"
            # seed spread of the difference: epochs carry no seed resampling, so add the t-interval
            if same_seeds and len(seeds[0]) >= 2:
                per_seed = [sum(c * dict((r.seed, r.value(metric)) for r in runs)[s] for c, runs in run_terms)
                            for s in seeds[0]]
                ci = _widen(ci, stats.seeds_ci(per_seed))
            elif len(terms) == 2:
                ci = _widen(ci, _welch_ci([r.value(metric) for r in run_terms[0][1]],
                                          [r.value(metric) for r in run_terms[1][1]]))
        else:
            ci = _percentile(_Terms(run_terms).reps(metric))
            n = ", ".join(f"{runs[0].n:,}" for _, runs in run_terms)
            clustered = any(r.clusters is not None for _, runs in run_terms for r in runs)
            how = ((f"paired bootstrap over shared test images (n = {n})" if paired_groups
                    else f"unpaired bootstrap, different test sets (n = {n})")
                   + (", resampling clusters" if clustered else "")
                   + (", seeds resampled" if any(len(s) > 1 for s in seeds) else ""))
        return point, ci, how

    # -- claims -----------------------------------------------------------------------------
    def evaluate(self, c: Claim) -> _Row:
        if c.kind == "untestable":
            return _Row(claimed=None, verdict="not testable", notes=(f"Not testable: {c.reason}",))
        if c.kind == "reference":
            spread = f" ± {c.spread * 100:.1f} points" if c.spread else ""
            return _Row(claimed=c.value, verdict="reference", what=c.label or "",
                        notes=(f"Reference value{spread} ({c.label}), shown for comparison.",))
        missing = [e for e in c.experiments if not self.results.get(e)]
        if missing:
            return _Row(claimed=self._claimed(c), verdict="missing", what=self._what(c),
                        notes=(f"No results yet for {', '.join(missing)}.",))
        failed = [f"{r.name} ({why})" for e in c.experiments for r in self.runs(e)
                  if (why := r.failure()) is not None]
        if failed and c.metric not in _EXACT:
            return _Row(claimed=self._claimed(c), verdict="run failed", what=self._what(c),
                        n_seeds=self._n_seeds(c.experiments), failed="; ".join(failed),
                        notes=(f"Run failed: {'; '.join(failed)}. {RULES['run failed']}",))
        fn = getattr(self, f"_eval_{c.kind}")
        row = fn(c)
        row.what = row.what or self._what(c)
        if c.by_construction:
            row.notes = row.notes + (f"By construction: {c.by_construction}",)
            row.verdict = "by construction"
        elif not self.protocol and row.verdict in COUNTED:
            row.indicative, row.verdict = row.verdict, "indicative"
        return row

    @staticmethod
    def _sized(c: Claim, ci: tuple[float, float], direction: str, notes: list[str]) -> str:
        """A sized claim: the claimed gap (range) must meet our interval, and the direction hold."""
        if c.claimed_difference is None:
            return direction
        lo_c, hi_c = (c.claimed_difference if isinstance(c.claimed_difference, tuple)
                      else (c.claimed_difference, c.claimed_difference))
        if not (np.isfinite(ci[0]) and np.isfinite(ci[1])):
            return direction
        inside = ci[0] <= hi_c and lo_c <= ci[1]
        scale = metric_scale(c.metric)
        claimed = _size_text(lo_c, scale) if lo_c == hi_c else _size_text((lo_c, hi_c), scale)
        notes.append(f"Claimed size {claimed} is {'inside' if inside else 'outside'} our 95 % interval "
                     f"{_size_text(ci, scale, brackets=True)}.")
        if not inside:
            return "not reproduced"
        return direction

    def _what(self, c: Claim) -> str:
        short = lambda e: e.split("/", 1)[-1] if e else ""  # noqa: E731
        metric = metric_label(c.metric) if c.metric else ""
        if c.kind in ("value", "ranking", "confusion", "robustness"):
            return f"{metric or c.kind} of {short(c.experiment)}"
        if c.kind in ("comparison", "significance"):
            rel = {"greater": ">", "similar": "≈"}.get(c.relation, "vs")
            return f"{metric or 'McNemar'}: {short(c.a)} {rel} {short(c.b)}"
        if c.kind == "interaction":
            return f"{metric}: ({short(c.a)} − {short(c.b)}) − ({short(c.c)} − {short(c.d)})"
        if c.kind == "anova":
            return f"two-way ANOVA of {metric}: {' × '.join(c.factors)}"
        if c.kind == "training_curve":
            return f"overfitting onset of {short(c.experiment)}"
        return ""

    def _claimed(self, c: Claim) -> Any:
        if c.kind == "value":
            return c.value
        if c.kind in ("comparison", "interaction"):
            if isinstance(c.claimed_difference, tuple):
                return _size_text(c.claimed_difference, metric_scale(c.metric))
            if c.claimed_difference is not None:
                return c.claimed_difference
            return "A > B" if c.relation == "greater" else "A ≈ B"
        if c.kind == "significance":
            return f"p < {c.alpha:g}"
        if c.kind == "ranking":
            return _ranking_text(c.best, c.worst)
        if c.kind == "confusion":
            return "; ".join(f"{a}–{b}" for a, b in c.pairs)
        if c.kind == "robustness":
            return "robust to noise" + (" (noise before preprocessing)" if c.stage == "raw" else "")
        if c.kind == "anova":
            return "significant: " + ", ".join(c.effects) + f" (p < {c.alpha:g})"
        if c.kind == "training_curve":
            return "no overfitting" if c.onset == "never" else f"overfitting from about epoch {c.onset}"
        return None

    def _n_seeds(self, exps: Iterable[str]) -> int:
        return min(len(self.runs(e)) for e in exps)

    def _eval_value(self, c: Claim) -> _Row:
        v = self.point(c.experiment, c.metric)
        n = self._n_seeds([c.experiment])
        if v is None:
            return _Row(claimed=c.value, verdict="not testable", n_seeds=n,
                        notes=(f"{c.metric} is not available in the results of {c.experiment}.",))
        ci = self.value_ci(c.experiment, c.metric)
        verdict = stats.verdict_value(c.value, ci, tolerance=c.tol, protocol=True)
        notes = []
        if metric_scale(c.metric) in ("seconds", "loss") and ci[1] - ci[0] > 0.10 and verdict == "inconclusive":
            notes.append("CI wider than 0.10.")
        return _Row(claimed=c.value, reproduced=v, ci=ci, n_seeds=n, verdict=verdict, notes=tuple(notes))

    def _reference(self, c: Claim, ref: str) -> Claim | None:
        label = ref.split(":", 1)[1]
        for r in self.claims:
            if r.kind == "reference" and r.paper == c.paper and r.label == label:
                return r
        return None

    def _eval_comparison(self, c: Claim) -> _Row:
        n = self._n_seeds(c.experiments)
        notes: list[str] = []
        if c.b.startswith("reference:") or c.a.startswith("reference:"):
            ref_id = c.b if c.b.startswith("reference:") else c.a
            exp = c.a if ref_id == c.b else c.b
            ref = self._reference(c, ref_id)
            if ref is None:
                return _Row(claimed=self._claimed(c), verdict="not testable", n_seeds=n,
                            notes=(f"No reference claim labelled {ref_id.split(':', 1)[1]!r} in {c.paper}.",))
            sign = 1.0 if exp == c.a else -1.0
            v = self.point(exp, c.metric)
            lo, hi = self.value_ci(exp, c.metric)
            d = sign * (v - ref.value)
            ci = (lo - ref.value, hi - ref.value) if sign > 0 else (ref.value - hi, ref.value - lo)
            notes.append(f"Against the reference {ref.label} = {ref.value:g} ({ref.id}); "
                         f"our {c.metric} {v:.4f} [{lo:.4f}, {hi:.4f}].")
            if ref.spread:
                notes.append(f"Reference spread ±{ref.spread:g}: our lower bound "
                             f"{'exceeds' if lo > ref.value + ref.spread else 'does not exceed'} "
                             f"{ref.value + ref.spread:g}.")
        else:
            va, vb = self.point(c.a, c.metric), self.point(c.b, c.metric)
            if va is None or vb is None:
                return _Row(claimed=self._claimed(c), verdict="not testable", n_seeds=n,
                            notes=(f"{c.metric} is not available for both experiments.",))
            d, ci, how = self.difference([(1.0, c.a), (-1.0, c.b)], c.metric)
            notes.append(f"A = {va:.4g}, B = {vb:.4g}; {how}.")
            if c.metric == "seconds_per_epoch":
                devs = {r.raw.get("provenance", {}).get("device") for e in (c.a, c.b) for r in self.runs(e)}
                if len(devs) > 1:
                    notes.append(f"Timed on different devices ({', '.join(sorted(map(str, devs)))}): not comparable.")
                    return _Row(claimed=self._claimed(c), reproduced=d, ci=ci, n_seeds=n, verdict="inconclusive",
                                notes=tuple(notes))
        verdict = self._sized(c, ci, stats.verdict_difference(ci, c.relation), notes)
        return _Row(claimed=self._claimed(c), reproduced=d, ci=ci, n_seeds=n, verdict=verdict, notes=tuple(notes))

    def _eval_interaction(self, c: Claim) -> _Row:
        n = self._n_seeds(c.experiments)
        d, ci, how = self.difference([(1.0, c.a), (-1.0, c.b), (-1.0, c.c), (1.0, c.d)], c.metric)
        gain1 = self.point(c.a, c.metric) - self.point(c.b, c.metric)
        gain2 = self.point(c.c, c.metric) - self.point(c.d, c.metric)
        notes = [f"A − B = {gain1:+.4f}, C − D = {gain2:+.4f}; {how}."]
        try:
            table = interaction_anova(self.results, c.a, c.b, c.c, c.d, c.metric)
            p = float(table.loc[table.index.str.contains(":"), "PR(>F)"].iloc[0])
            notes.append(f"Two-way ANOVA over seeds: interaction p = {p:.3g}.")
        except ValueError as e:
            notes.append(f"No two-way ANOVA: {e}.")
        verdict = self._sized(c, ci, stats.verdict_difference(ci, c.relation), notes)
        return _Row(claimed=self._claimed(c), reproduced=d, ci=ci, n_seeds=n, verdict=verdict, notes=tuple(notes))

    def _eval_significance(self, c: Claim) -> _Row:
        tests = mcnemar_pairs(self.runs(c.a), self.runs(c.b))
        if not tests:
            return _Row(claimed=self._claimed(c), verdict="not testable", n_seeds=0,
                        notes=("A and B share no seed tested on the same images; McNemar needs paired predictions.",))
        hits = [t["pvalue"] < c.alpha and t["a_only_correct"] > t["b_only_correct"] for t in tests]
        verdict = "reproduced" if sum(hits) * 2 > len(hits) else "not reproduced"
        notes = [f"seed {t['seed']}: p = {t['pvalue']:.3g}, A-only correct {t['a_only_correct']}, "
                 f"B-only correct {t['b_only_correct']}" for t in tests]
        return _Row(claimed=self._claimed(c), reproduced=float(np.median([t["pvalue"] for t in tests])),
                    n_seeds=len(tests), verdict=verdict, notes=("; ".join(notes) + ".",))

    def _eval_ranking(self, c: Claim) -> _Row:
        runs = self.runs(c.experiment)
        names = runs[0].class_names
        missing = [x for x in (c.best or ()) + (c.worst or ()) if x not in names]
        if missing:
            return _Row(claimed=self._claimed(c), verdict="not testable", n_seeds=len(runs),
                        notes=(f"Class(es) {missing} not in {c.experiment}'s classes {names}.",))
        vals = {x: self.point(c.experiment, f"{c.metric}:{x}") for x in names}
        order = sorted(names, key=lambda x: -vals[x])
        kb, kw = len(c.best or ()), len(c.worst or ())
        top, bottom = order[:kb], order[len(order) - kw:] if kw else []
        ok = set(top) == set(c.best or ()) and set(bottom) == set(c.worst or ())
        reps = np.stack([_Terms([(1.0, runs)]).reps(f"{c.metric}:{x}") for x in names], 1)
        rank = np.argsort(-reps, 1)
        best_i = {names.index(x) for x in c.best or ()}
        worst_i = {names.index(x) for x in c.worst or ()}
        holds = [set(r[:kb]) == best_i and set(r[len(names) - kw:] if kw else []) == worst_i for r in rank]
        ours = ", ".join(f"{x} {vals[x]:.3f}" for x in order)
        notes = (f"Ours, best to worst ({c.metric}): {ours}. The claimed ranking holds in "
                 f"{np.mean(holds) * 100:.0f} % of bootstrap resamples of the test images.",)
        return _Row(claimed=self._claimed(c), reproduced=_ranking_text(tuple(top), tuple(bottom)),
                    n_seeds=len(runs), verdict="reproduced" if ok else "not reproduced", notes=notes)

    def _eval_confusion(self, c: Claim) -> _Row:
        runs = self.runs(c.experiment)
        names = runs[0].class_names
        missing = [x for p in c.pairs for x in p if x not in names]
        if missing:
            return _Row(claimed=self._claimed(c), verdict="not testable", n_seeds=len(runs),
                        notes=(f"Class(es) {missing} not in {c.experiment}'s classes.",))
        cm = sum(np.asarray(r.metrics["confusion_matrix"]) for r in runs)
        pairs = sorted(((cm[i, j] + cm[j, i], names[i], names[j]) for i, j in combinations(range(len(names)), 2)),
                       reverse=True)
        rank = {frozenset((a, b)): k + 1 for k, (_, a, b) in enumerate(pairs)}
        top = max(3, 2 * len(c.pairs))
        ranks = [rank[frozenset(p)] for p in c.pairs]
        ok = all(r <= top for r in ranks)
        ours = "; ".join(f"{a}–{b} ({n})" for n, a, b in pairs[:top])
        notes = (f"Claimed pairs rank {', '.join(f'{p[0]}–{p[1]} #{r}' for p, r in zip(c.pairs, ranks))} of "
                 f"{len(pairs)} (needed: top {top}). Our top {top}: {ours}.",)
        return _Row(claimed=self._claimed(c), reproduced="; ".join(f"{a}–{b}" for _, a, b in pairs[:len(c.pairs)]),
                    n_seeds=len(runs), verdict="reproduced" if ok else "not reproduced", notes=notes)

    def _eval_robustness(self, c: Claim) -> _Row:
        runs = self.runs(c.experiment)
        stage = c.stage or "input"
        levels = [r.raw.get("noise_robustness_raw" if stage == "raw" else "noise_robustness") or {} for r in runs]
        if not all(levels):
            return _Row(claimed=self._claimed(c), verdict="missing", n_seeds=len(runs),
                        notes=(f"The runs have no noise evaluation at stage {stage!r} "
                               "(evaluate.noise_sigmas, evaluate.noise_stages).",))
        sigmas = sorted({float(s) for lv in levels for s in lv})
        acc = {s: float(np.mean([float(lv.get(str(s), lv.get(f"{s:g}", np.nan))) for lv in levels])) for s in sigmas}
        clean = self.point(c.experiment, "accuracy")
        key = min(sigmas, key=lambda s: abs(s - ROBUSTNESS_SIGMA))
        if abs(key - ROBUSTNESS_SIGMA) > 1e-9:
            return _Row(claimed=self._claimed(c), verdict="not testable", n_seeds=len(runs),
                        notes=(f"No evaluation at sigma = {ROBUSTNESS_SIGMA}; have {sigmas}.",))
        per_seed = [float(lv.get(str(key), lv.get(f"{key:g}"))) for lv in levels]
        ci = stats.seeds_ci(per_seed) or (float("nan"), float("nan"))
        drop = clean - acc[key]
        verdict = "reproduced" if drop <= ROBUSTNESS_MAX_DROP else "not reproduced"
        levels_txt = ", ".join(f"σ = {s:g}: {a * 100:.1f} %" for s, a in acc.items())
        other = [r.raw.get("noise_robustness" if stage == "raw" else "noise_robustness_raw") or {} for r in runs]
        if all(other):
            o = {s: float(np.mean([float(lv[s]) for lv in other])) for s in other[0]}
            levels_txt += (f" (noise on the {'model input after preprocessing' if stage == 'raw' else 'raw image'}: "
                           + ", ".join(f"σ = {float(s):g}: {a * 100:.1f} %" for s, a in o.items()) + ")")
        return _Row(claimed=self._claimed(c), reproduced=acc[key], ci=ci, n_seeds=len(runs), verdict=verdict,
                    notes=(f"Noise on the {'raw image before preprocessing' if stage == 'raw' else 'model input'}. "
                           f"Clean {clean * 100:.1f} %; {levels_txt}; drop at σ = {key:g}: "
                           f"{drop * 100:.1f} points. {ROBUSTNESS_RULE}",))


    def _eval_anova(self, c: Claim) -> _Row:
        n = self._n_seeds(c.experiments)
        claimed = self._claimed(c)
        try:
            table = interaction_anova(self.results, c.a, c.b, c.c, c.d, c.metric, factors=tuple(c.factors))
        except ValueError as e:
            return _Row(claimed=claimed, verdict="not testable", n_seeds=n,
                        notes=(f"No two-way ANOVA: {e}. {ANOVA_RULE}",))
        p = anova_pvalues(table, tuple(c.factors))
        ok = all(p[e] < c.alpha for e in c.effects)
        ours = "; ".join(f"{k} p = {v:.3g}" for k, v in p.items())
        return _Row(claimed=claimed, reproduced=ours, n_seeds=n, verdict="reproduced" if ok else "not reproduced",
                    notes=(f"Two-way ANOVA over {n} seeds per cell: {ours} (alpha {c.alpha:g}).",))

    def _eval_training_curve(self, c: Claim) -> _Row:
        runs = self.runs(c.experiment)
        tol = CURVE_TOLERANCE if c.tolerance is None else int(c.tolerance)
        curves = []
        for r in runs:
            h = r.raw.get("history") or {}
            for one in (h if isinstance(h, list) else [h]):
                if not one.get("accuracy") or not one.get("val_accuracy"):
                    return _Row(claimed=self._claimed(c), verdict="not testable", n_seeds=len(runs),
                                notes=(f"{r.name} saved no training/validation accuracy per epoch.",))
                curves.append((overfitting_onset(one), len(one["epoch"])))
        onsets = [o for o, _ in curves if o is not None]
        never = len(curves) - len(onsets)
        txt = ", ".join(f"{'never' if o is None else f'epoch {o}'} (of {e})" for o, e in curves)
        notes = [f"Onset of overfitting per run: {txt}. {CURVE_RULE}"]
        if c.onset == "never":
            verdict = "reproduced" if never * 2 > len(curves) else "not reproduced"
            ours = "never" if never * 2 > len(curves) else float(np.median(onsets))
        elif never * 2 >= len(curves):
            ours = "never"
            stopped_early = any(o is None and e < c.onset + tol for o, e in curves)
            verdict = "inconclusive" if stopped_early else "not reproduced"
        else:
            ours = float(np.median(onsets))
            verdict = "reproduced" if abs(ours - c.onset) <= tol else "not reproduced"
        return _Row(claimed=self._claimed(c), reproduced=ours, n_seeds=len(runs), verdict=verdict,
                    notes=tuple(notes))


def overfitting_onset(history: dict, gap: float = CURVE_GAP) -> int | None:
    """First epoch from which training accuracy stays more than ``gap`` above validation accuracy
    to the end of the run (:data:`CURVE_RULE`), or None when the run ends without that divergence."""
    tr = np.asarray(history["accuracy"], dtype=float)
    va = np.asarray(history["val_accuracy"], dtype=float)
    epochs = list(history.get("epoch") or range(1, len(tr) + 1))
    above = (tr - va) > gap
    if not len(above) or not above[-1]:
        return None
    below = np.flatnonzero(~above)
    start = int(below[-1]) + 1 if len(below) else 0
    return int(epochs[start])


def anova_pvalues(table: pd.DataFrame, factors: tuple[str, str]) -> dict[str, float]:
    """p of each main effect (named by ``factors``) and of the interaction in an ANOVA table."""
    out = {}
    for idx, p in table["PR(>F)"].items():
        name = str(idx)
        if name == "Residual" or not np.isfinite(p):
            continue
        if ":" in name:
            out["interaction"] = float(p)
        else:
            out[name.removeprefix("C(").removesuffix(")")] = float(p)
    return {k: out[k] for k in (*factors, "interaction") if k in out}


def _ranking_text(best: Sequence[str] | None, worst: Sequence[str] | None) -> str:
    parts = []
    if best:
        parts.append("best: " + ", ".join(best))
    if worst:
        parts.append("worst: " + ", ".join(worst))
    return "; ".join(parts)


def mcnemar_pairs(runs_a: Sequence[_Run], runs_b: Sequence[_Run]) -> list[dict]:
    """McNemar test per seed that A and B share with the same test images."""
    b_by_seed = {r.seed: r for r in runs_b}
    out = []
    for ra in runs_a:
        rb = b_by_seed.get(ra.seed)
        if rb is None or rb.key != ra.key:
            continue
        out.append({"seed": ra.seed, **stats.mcnemar_test(ra.correct.astype(bool), rb.correct.astype(bool))})
    return out


def evaluate_claims(profile: "str | Profile", paper: str | None = None, results: Results | None = None,
                    claims: list[Claim] | None = None) -> pd.DataFrame:
    """One row per claim (of ``paper``, or all) with our number, CI and verdict; see module doc.

    ``results`` ({experiment id: [run, ...]}) defaults to :func:`fer_lib.runner.load_results`;
    ``claims`` to :func:`fer_lib.claims.load_claims`. ``claimed`` and ``reproduced`` are
    fractions for accuracy-like metrics, differences (A − B) for comparisons, the median McNemar
    p for significance claims and text for rankings and confusions.
    """
    all_claims = load_claims() if claims is None else claims
    chosen = [c for c in all_claims if paper is None or c.paper == paper]
    prof = get_profile(profile)
    res = _results(prof.name, paper, results)
    ev = _Evaluator(res, protocol=prof.evidence, claims=all_claims)
    rows = []
    for c in chosen:
        try:
            r = ev.evaluate(c)
        except Exception as e:  # name the claim; a bug here must not pass silently
            raise RuntimeError(f"evaluating claim {c.id!r} ({c.kind}) failed: {e}") from e
        notes = list(r.notes) + ([c.note] if c.note else [])
        rows.append({
            "id": c.id, "paper": c.paper, "section": c.section, "quote": c.quote, "kind": c.kind,
            "metric": c.metric, "claimed": r.claimed, "reproduced": r.reproduced,
            "ci_low": r.ci[0], "ci_high": r.ci[1], "n_seeds": r.n_seeds, "verdict": r.verdict,
            "indicative": r.indicative, "failed_runs": r.failed, "evidence": ", ".join(c.experiments), "note": " ".join(notes), "what": r.what,
            "scale": metric_scale(c.metric) if c.kind != "reference" else "fraction",
            "label": c.label if c.kind == "reference" else None, "rules_version": RULES_VERSION,
        })
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["n_seeds"] = df["n_seeds"].astype(int)
    return df


# ----------------------------------------------------------------------------- baselines

def majority_baseline(run: dict) -> dict:
    """The row a results table shows under its models: always predicting the test set's most
    frequent class. Accuracy equals that class's share; macro recall is 1 / classes."""
    r = _Run(run)
    counts = np.bincount(r.y, minlength=r.k)
    top = int(counts.argmax())
    proba = np.zeros((r.n, r.k))
    proba[:, top] = 1.0
    m = classification_report(r.y, proba, r.class_names)
    return {"experiment": "majority-class baseline", "predicts": r.class_names[top],
            "accuracy": float(counts[top] / max(r.n, 1)), "macro_precision": m.get("macro_precision"),
            "macro_recall": m.get("macro_recall"), "macro_f1": m.get("macro_f1"), "n_test": r.n}


def leakage(run: dict, leaked: Sequence[bool] | np.ndarray | None = None) -> dict:
    """Accuracy on the test images with no exact / near copy in the run's training data, against
    the full test set. ``leaked`` is a mask in the order of ``run['test']['ids']``; by default the
    one the runner recorded (``run['test']['leaked']``, FER2013 runs; see
    :func:`fer_lib.audit.leaked_test_images`)."""
    if leaked is None:
        leaked = run["test"].get("leaked")
        if leaked is None:
            raise ValueError(f"{run.get('experiment')} seed {run.get('seed')}: the result has no test.leaked "
                             "(a CK+ run, or one from before the runner recorded it); pass a mask")
    leaked = np.asarray(leaked, dtype=bool)
    t = run["test"]
    if len(leaked) != len(t["ids"]):
        raise ValueError(f"{run.get('experiment')}: leak mask has {len(leaked)} entries, the run "
                         f"{len(t['ids'])} test images; compute it from the same split")
    correct = np.asarray(t["proba"]).argmax(1) == np.asarray(t["y_true"])
    full = float(correct.mean())
    clean = float(correct[~leaked].mean()) if (~leaked).any() else float("nan")
    return {"accuracy": full, "accuracy_leak_free": clean, "difference": full - clean,
            "n_leaked": int(leaked.sum()), "share_leaked": float(leaked.mean())}


class MissingRuns(ValueError):
    """A measurement needs runs that ``profile`` has not finished (``missing``: their experiment ids)."""

    def __init__(self, profile: str, missing: Sequence[str]):
        self.missing = list(missing)
        super().__init__(f"no {profile} results for {', '.join(self.missing)}; run them first (fer run)")


def split_gap(profile: str, a: str = "emotionnet/ck_full-stratified", b: str = "emotionnet/ck_full",
              results: Results | None = None, metric: str = "accuracy") -> dict:
    """``metric`` of ``a`` minus that of ``b`` with its 95 % hierarchical-bootstrap interval
    (unpaired: different test sets). By default the leakage a subject-mixed split gives on CK+:
    the paper's stratified 70/15/15 split minus the subject-independent 10-fold."""
    res = _results(profile, None, results)
    missing = [e for e in (a, b) if not res.get(e)]
    if missing:
        raise MissingRuns(profile, missing)
    ev = _Evaluator(res, True, [])
    d, ci, how = ev.difference([(1.0, a), (-1.0, b)], metric)
    return {"a": a, "b": b, "metric": metric, "a_value": ev.point(a, metric), "b_value": ev.point(b, metric),
            "difference": d, "ci_low": ci[0], "ci_high": ci[1], "how": how}


def leakage_table(results: Results) -> pd.DataFrame:
    """One row per experiment whose runs recorded ``test.leaked``: accuracy on the full test set
    and on its leak-free part (mean over seeds), their difference and the share of leaked images."""
    rows = []
    for exp, runs in sorted(results.items()):
        per = [leakage(r) for r in runs if r.get("test", {}).get("leaked") is not None]
        if per:
            rows.append({"experiment": exp, "seeds": len(per),
                         **{k: float(np.mean([p[k] for p in per]))
                            for k in ("accuracy", "accuracy_leak_free", "difference", "share_leaked")}})
    return pd.DataFrame(rows, columns=["experiment", "seeds", "accuracy", "accuracy_leak_free", "difference",
                                       "share_leaked"])


# ----------------------------------------------------------------------------- ANOVA

def interaction_anova(results: Results, a: str, b: str, c: str, d: str, metric: str = "accuracy",
                      factors: tuple[str, str] = ("factor1", "factor2")) -> pd.DataFrame:
    """Two-way ANOVA of ``metric`` over seeds for the 2x2 design a=(1,1), b=(1,2), c=(2,1), d=(2,2).

    Raises ``ValueError`` unless every cell has at least two seeds.
    """
    f1, f2 = factors
    cells = {a: ("1", "1"), b: ("1", "2"), c: ("2", "1"), d: ("2", "2")}
    rows = []
    for exp, (l1, l2) in cells.items():
        runs = results.get(exp, [])
        if len(runs) < 2:
            raise ValueError(f"needs >= 2 seeds per cell, {exp} has {len(runs)}")
        for r in runs:
            rows.append({f1: l1, f2: l2, "seed": r.get("seed"), metric: _Run(r).value(metric)})
    return stats.two_way_anova(pd.DataFrame(rows), metric, f1, f2)


OZER_CELLS = {("csv", "cnn_lstm"): "ozer/csv-cnn_lstm", ("csv", "cnn"): "ozer/csv-cnn",
              ("directory", "cnn_lstm"): "ozer/directory-cnn_lstm", ("directory", "cnn"): "ozer/directory-cnn"}


def ozer_anova(profile: str, results: Results | None = None, metric: str = "accuracy") -> pd.DataFrame:
    """Özer & Subaşı's 2x2 design (data format x model): two-way ANOVA of test accuracy over seeds.

    Type II sums of squares with the format x model interaction (:func:`stats.two_way_anova`).
    Raises ``ValueError`` when a cell has fewer than two seeds (e.g. the quick profile).
    """
    res = _results(profile, "ozer", results)
    rows = []
    for (fmt, model), exp in OZER_CELLS.items():
        runs = res.get(exp, [])
        if len(runs) < 2:
            raise ValueError(f"the two-way ANOVA needs >= 2 seeds per cell; {exp} has {len(runs)} "
                             f"in the {profile} profile (the paper profile runs 3)")
        rows += [{"format": fmt, "model": model, "seed": r.get("seed"), metric: _Run(r).value(metric)} for r in runs]
    table = stats.two_way_anova(pd.DataFrame(rows), metric, "format", "model")
    table.index = [str(i).replace("C(format)", "format").replace("C(model)", "model") for i in table.index]
    return table


def ozer_cells(profile: str, results: Results | None = None, metric: str = "accuracy") -> pd.DataFrame:
    """The 2x2 table format x model of ``metric`` (mean over seeds), with the LSTM gain per format."""
    res = _results(profile, "ozer", results)
    ev = _Evaluator(res, True, [])
    t = pd.DataFrame(index=["directory", "csv"], columns=["cnn", "cnn_lstm"], dtype=float)
    for (fmt, model), exp in OZER_CELLS.items():
        if res.get(exp):
            t.loc[fmt, model] = ev.point(exp, metric)
    t["lstm gain"] = t["cnn_lstm"] - t["cnn"]
    return t
