"""Verdict logic of fer_lib.verdicts on small synthetic results, and a pass over the committed results."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fer_lib import verdicts
from fer_lib.book import tables
from fer_lib.claims import Claim, load_claims
from fer_lib.config import FER2013_CLASSES as FER_CLASSES
from fer_lib.metrics import classification_report

REPO = Path(__file__).resolve().parents[1]


def make_run(exp: str, acc: float, *, seed: int = 0, n: int = 1400, ids: list[str] | None = None,
             recall: dict[str, float] | None = None, noise: dict[str, float] | None = None,
             rng_seed: int | None = None, seconds: float = 2.0, device: str = "test-device") -> dict:
    """A results dict as the runner writes it, with exactly ``acc`` accuracy (or per-class ``recall``)."""
    k = len(FER_CLASSES)
    rng = np.random.default_rng(seed if rng_seed is None else rng_seed)
    y = np.arange(n) % k
    correct = np.zeros(n, bool)
    for c, name in enumerate(FER_CLASSES):
        idx = np.flatnonzero(y == c)
        share = recall.get(name, acc) if recall else acc
        correct[rng.choice(idx, int(round(share * len(idx))), replace=False)] = True
    pred = np.where(correct, y, (y + 1 + rng.integers(0, k - 1, n)) % k)
    proba = np.full((n, k), 0.05 / (k - 1))
    proba[np.arange(n), pred] = 0.95
    proba += rng.uniform(0, 1e-3, proba.shape)  # distinct scores for AUC
    proba /= proba.sum(1, keepdims=True)
    paper, name = exp.split("/")
    return {
        "experiment": exp, "paper": paper, "name": name, "profile": "quick", "seed": seed,
        "config": {"model": "none"}, "class_names": list(FER_CLASSES),
        "metrics": classification_report(y, proba, FER_CLASSES), "params": 1000,
        "history": {"epoch": [1, 2, 3], "seconds": [seconds * 3, seconds, seconds], "loss": [1, 0.9, 0.8],
                    "val_loss": [1, 0.95, 0.9], "accuracy": [0.3, 0.4, 0.5], "val_accuracy": [0.3, 0.35, 0.4]},
        "epochs_run": [3], "best_epoch": [3],
        "timing": {"wall_s": 10.0, "seconds_per_epoch": seconds},
        "noise_robustness": noise or {},
        "test": {"ids": ids or [f"img{i:05d}" for i in range(n)], "y_true": y.tolist(), "proba": proba.tolist()},
        "provenance": {"commit": "abc", "data_hash": "h", "device": device, "backend": "jax"},
    }


def claim(**kw) -> Claim:
    base = {"id": "t", "paper": "ozer", "section": "s", "quote": "q"}
    return Claim(**{**base, **kw})


def verdict(results: dict, c: Claim, profile: str = "paper") -> pd.Series:
    df = verdicts.evaluate_claims(profile, results=results, claims=[c])
    assert len(df) == 1
    return df.iloc[0]


ACC = claim(kind="value", metric="accuracy", value=0.60, experiment="ozer/csv-cnn")


def test_value_inside_tolerance_is_reproduced():
    row = verdict({"ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.60)]}, ACC)
    assert row["verdict"] == "reproduced"
    assert row["reproduced"] == pytest.approx(0.60, abs=0.002)
    assert row["ci_low"] < 0.60 < row["ci_high"]
    assert row["n_seeds"] == 1


def test_value_just_outside_ci_but_within_tolerance_is_reproduced():
    row = verdict({"ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.615, n=7000)]}, ACC)
    assert row["ci_low"] > 0.60  # the CI alone excludes the claim, the 2-point tolerance admits it
    assert row["verdict"] == "reproduced"


def test_value_outside_tolerance_is_not_reproduced():
    row = verdict({"ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.45)]}, ACC)
    assert row["verdict"] == "not reproduced"


@pytest.mark.parametrize("profile", ["smoke", "quick"])
def test_only_the_paper_profile_gives_verdicts(profile):
    good = verdict({"ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.60)]}, ACC, profile=profile)
    bad = verdict({"ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.45)]}, ACC, profile=profile)
    assert good["verdict"] == bad["verdict"] == "indicative"
    assert good["indicative"] == "reproduced" and bad["indicative"] == "not reproduced"
    paper = verdict({"ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.60)]}, ACC, profile="paper")
    assert paper["verdict"] == "reproduced" and paper["indicative"] == ""


def test_missing_results_are_missing():
    row = verdict({}, ACC)
    assert row["verdict"] == "missing"
    assert "ozer/csv-cnn" in row["note"]


def test_wide_interval_is_inconclusive():
    row = verdict({"ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.60, n=70)]}, ACC)
    assert row["ci_high"] - row["ci_low"] > 0.10
    assert row["verdict"] == "inconclusive"


def test_multi_seed_value_uses_mean_and_seed_spread():
    runs = [make_run("ozer/csv-cnn", a, seed=s) for s, a in enumerate((0.58, 0.60, 0.62))]
    row = verdict({"ozer/csv-cnn": runs}, ACC)
    assert row["n_seeds"] == 3
    assert row["reproduced"] == pytest.approx(0.60, abs=0.002)
    assert row["verdict"] == "reproduced"


GREATER = claim(kind="comparison", metric="accuracy", a="ozer/csv-cnn_lstm", b="ozer/csv-cnn", relation="greater")


def test_greater_comparison_reproduced_with_paired_bootstrap():
    res = {"ozer/csv-cnn_lstm": [make_run("ozer/csv-cnn_lstm", 0.70, rng_seed=1)],
           "ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.55, rng_seed=2)]}
    row = verdict(res, GREATER)
    assert row["verdict"] == "reproduced"
    assert row["reproduced"] == pytest.approx(0.15, abs=0.005)
    assert row["ci_low"] > 0
    assert "paired" in row["note"]


def test_greater_comparison_not_reproduced_when_reversed():
    res = {"ozer/csv-cnn_lstm": [make_run("ozer/csv-cnn_lstm", 0.50, rng_seed=1)],
           "ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.60, rng_seed=2)]}
    row = verdict(res, GREATER)
    assert row["verdict"] == "not reproduced"
    assert row["ci_high"] < 0


def test_greater_comparison_unpaired_when_test_sets_differ():
    res = {"ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.70, rng_seed=1)],
           "ozer/directory-cnn": [make_run("ozer/directory-cnn", 0.55, n=1000, rng_seed=2,
                                           ids=[f"other{i}" for i in range(1000)])]}
    c = claim(kind="comparison", metric="accuracy", a="ozer/csv-cnn", b="ozer/directory-cnn", relation="greater")
    row = verdict(res, c)
    assert row["verdict"] == "reproduced"
    assert "unpaired" in row["note"]


def test_similar_comparison():
    res = {"ozer/csv-cnn_lstm": [make_run("ozer/csv-cnn_lstm", 0.60, rng_seed=1, n=7000)],
           "ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.60, rng_seed=2, n=7000)]}
    c = claim(kind="comparison", metric="accuracy", a="ozer/csv-cnn_lstm", b="ozer/csv-cnn", relation="similar")
    assert verdict(res, c)["verdict"] == "reproduced"


def test_comparison_of_bootstrapped_metric():
    res = {"ozer/csv-cnn_lstm": [make_run("ozer/csv-cnn_lstm", 0.70, rng_seed=1)],
           "ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.50, rng_seed=2)]}
    c = claim(kind="comparison", metric="macro_f1", a="ozer/csv-cnn_lstm", b="ozer/csv-cnn", relation="greater")
    row = verdict(res, c)
    assert row["verdict"] == "reproduced" and row["ci_low"] > 0


def test_comparison_against_reference():
    ref = Claim(id="xu-ref-human", paper="xu", section="s", quote="q", kind="reference", value=0.65, spread=0.05,
                label="human")
    c = Claim(id="t", paper="xu", section="s", quote="q", kind="comparison", metric="accuracy", a="xu/cnn",
              b="reference:human", relation="greater")
    low = verdicts.evaluate_claims("paper", results={"xu/cnn": [make_run("xu/cnn", 0.55)]}, claims=[c, ref])
    high = verdicts.evaluate_claims("paper", results={"xu/cnn": [make_run("xu/cnn", 0.75)]}, claims=[c, ref])
    assert low.iloc[0]["verdict"] == "not reproduced"
    assert high.iloc[0]["verdict"] == "reproduced"
    assert low.iloc[1]["verdict"] == "reference" and low.iloc[1]["claimed"] == 0.65


def test_significance_majority_of_seeds():
    c = claim(kind="significance", a="ozer/csv-cnn_lstm", b="ozer/csv-cnn", test="mcnemar", alpha=0.01)
    better = {"ozer/csv-cnn_lstm": [make_run("ozer/csv-cnn_lstm", 0.70, seed=s, rng_seed=10 + s) for s in range(3)],
              "ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.55, seed=s, rng_seed=20 + s) for s in range(3)]}
    row = verdict(better, c)
    assert row["verdict"] == "reproduced" and row["n_seeds"] == 3 and row["reproduced"] < 0.01
    swapped = {"ozer/csv-cnn_lstm": [dict(r, experiment="ozer/csv-cnn_lstm") for r in better["ozer/csv-cnn"]],
               "ozer/csv-cnn": [dict(r, experiment="ozer/csv-cnn") for r in better["ozer/csv-cnn_lstm"]]}
    assert verdict(swapped, c)["verdict"] == "not reproduced"  # significant, but the wrong way round


def test_ranking():
    recall = {"angry": 0.5, "disgust": 0.2, "fear": 0.3, "happy": 0.9, "sad": 0.45, "surprise": 0.8, "neutral": 0.55}
    res = {"wasey/cnn_lstm": [make_run("wasey/cnn_lstm", 0.6, recall=recall, n=3500)]}
    good = Claim(id="t", paper="wasey", section="s", quote="q", kind="ranking", experiment="wasey/cnn_lstm",
                 metric="recall", best=("happy", "surprise"), worst=("fear", "disgust"))
    bad = Claim(id="t", paper="wasey", section="s", quote="q", kind="ranking", experiment="wasey/cnn_lstm",
                metric="recall", best=("happy", "neutral"), worst=())
    assert verdict(res, good)["verdict"] == "reproduced"
    assert verdict(res, bad)["verdict"] == "not reproduced"


def test_robustness_rule():
    c = Claim(id="t", paper="emotionnet", section="s", quote="q", kind="robustness", experiment="emotionnet/full")
    ok = {"emotionnet/full": [make_run("emotionnet/full", 0.6, noise={"0.05": 0.59, "0.1": 0.57, "0.2": 0.4})]}
    bad = {"emotionnet/full": [make_run("emotionnet/full", 0.6, noise={"0.05": 0.5, "0.1": 0.4, "0.2": 0.3})]}
    none = {"emotionnet/full": [make_run("emotionnet/full", 0.6)]}
    assert verdict(ok, c)["verdict"] == "reproduced"
    assert verdict(bad, c)["verdict"] == "not reproduced"
    assert verdict(none, c)["verdict"] == "missing"


def test_untestable_and_reference_rows():
    u = claim(kind="untestable", reason="no number")
    r = claim(kind="reference", value=0.65, label="human")
    df = verdicts.evaluate_claims("quick", results={}, claims=[u, r])
    assert df["verdict"].tolist() == ["not testable", "reference"]
    shown = tables.scoreboard("quick", df=df)
    assert "65.0 %" in shown.iloc[1]["claimed"]


def test_ozer_anova_needs_two_seeds_per_cell():
    one = {e: [make_run(e, 0.5 + 0.01 * k)] for k, e in enumerate(verdicts.OZER_CELLS.values())}
    with pytest.raises(ValueError, match="2 seeds"):
        verdicts.ozer_anova("quick", results=one)
    two = {e: [make_run(e, 0.5 + 0.02 * k + 0.005 * s, seed=s) for s in range(2)]
           for k, e in enumerate(verdicts.OZER_CELLS.values())}
    table = verdicts.ozer_anova("quick", results=two)
    assert "format:model" in table.index and "PR(>F)" in table.columns


def test_scoreboard_banner_and_provenance():
    res = {"ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.60)]}
    df = verdicts.evaluate_claims("quick", results=res, claims=[ACC])
    board = tables.scoreboard("quick", df=df)
    assert board.iloc[0]["reproduced [95 % CI]"].startswith("60.0 % [")
    assert board.iloc[0]["verdict"] == "indicative: reproduced" and "indicative" not in board.columns
    assert "SMOKE PROFILE: tiny data, 1 epoch — numbers are not evidence" in tables.profile_banner("smoke", res)
    prov = tables.provenance_table("quick", res)
    assert prov.iloc[0]["experiment"] == "ozer/csv-cnn" and prov.iloc[0]["device"] == "test-device"


@pytest.mark.skipif(not (REPO / "results" / "quick").is_dir(), reason="no committed quick results")
def test_evaluate_claims_over_committed_quick_results():
    df = verdicts.evaluate_claims("quick")
    claims = load_claims()
    assert df["id"].tolist() == [c.id for c in claims]
    assert set(df["verdict"]) <= set(verdicts.VERDICTS)
    ozer = df[df["paper"] == "ozer"]
    assert (ozer["verdict"] != "missing").all()
    assert df.set_index("id").loc["ozer-params-cnn", "verdict"] == "by construction"
    assert not df["verdict"].isin(["reproduced", "not reproduced", "inconclusive"]).any()  # quick: indicative
    assert len(tables.scoreboard("quick", df=df)) == len(claims)


def test_predicted_classes_flags_a_collapsed_run():
    from fer_lib.book.tables import predicted_classes

    collapsed = {"test": {"proba": [[0.9, 0.05, 0.05]] * 4}}
    healthy = {"test": {"proba": [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]}}
    assert predicted_classes(collapsed) == 1 and predicted_classes(healthy) == 3


# ----------------------------------------------------------------------------- rules (issue 9)

SIZED = claim(kind="comparison", metric="accuracy", a="ozer/csv-cnn_lstm", b="ozer/csv-cnn", relation="greater",
              claimed_difference=(0.04, 0.06))


def test_sized_comparison_reproduced_only_when_the_claimed_gap_is_inside():
    near = {"ozer/csv-cnn_lstm": [make_run("ozer/csv-cnn_lstm", 0.65, rng_seed=1)],
            "ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.60, rng_seed=2)]}
    far = {"ozer/csv-cnn_lstm": [make_run("ozer/csv-cnn_lstm", 0.75, rng_seed=1)],
           "ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.55, rng_seed=2)]}
    assert verdict(near, SIZED)["verdict"] == "reproduced"
    row = verdict(far, SIZED)  # direction holds (+0.20) but the claimed 4-6 points are outside
    assert row["ci_low"] > 0.06 and row["verdict"] == "not reproduced"
    assert "outside" in row["note"]
    unsized = claim(kind="comparison", metric="accuracy", a="ozer/csv-cnn_lstm", b="ozer/csv-cnn", relation="greater")
    assert verdict(far, unsized)["verdict"] == "reproduced"


def _collapsed(exp: str, n: int = 700) -> dict:
    run = make_run(exp, 0.60, n=n)
    proba = np.full((n, len(FER_CLASSES)), 0.01)
    proba[:, 3] = 0.94
    run["test"]["proba"] = proba.tolist()
    return run


def test_failed_runs_give_no_verdict_and_are_named():
    row = verdict({"ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.60), _collapsed("ozer/csv-cnn") | {"seed": 1}]}, ACC)
    assert row["verdict"] == "run failed"
    assert "ozer/csv-cnn seed 1" in row["failed_runs"] and "one class" in row["failed_runs"]
    # accuracy at the majority share (1/7 on balanced classes) and NaN loss fail too
    chance = make_run("ozer/csv-cnn", 0.14)  # just below 1/7
    assert verdict({"ozer/csv-cnn": [chance]}, ACC)["verdict"] == "run failed"
    nan = make_run("ozer/csv-cnn", 0.60)
    nan["history"]["loss"] = [1.0, float("nan"), float("nan")]
    assert "NaN loss" in verdict({"ozer/csv-cnn": [nan]}, ACC)["failed_runs"]
    assert verdict({"ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.60)]}, ACC)["failed_runs"] == ""


def test_by_construction_is_not_a_verdict():
    c = claim(kind="value", metric="params", value=1000, tolerance=0, experiment="ozer/csv-cnn",
              by_construction="the builder matches the summary")
    row = verdict({"ozer/csv-cnn": [make_run("ozer/csv-cnn", 0.60)]}, c)
    assert row["verdict"] == "by construction" and "builder" in row["note"]
    assert row["reproduced"] == 1000


def test_majority_baseline_row():
    run = make_run("ozer/csv-cnn", 0.60)
    run["test"]["y_true"] = [3] * 500 + list(run["test"]["y_true"][500:])
    base = verdicts.majority_baseline(run)
    y = np.asarray(run["test"]["y_true"])
    assert base["predicts"] == "happy" and base["accuracy"] == pytest.approx((y == 3).mean())


def _ckplus_run(exp: str, acc_by_subject: np.ndarray, per_subject: int = 20) -> dict:
    """Subjects whose images are all right or all wrong: the cluster, not the image, is the unit."""
    n = len(acc_by_subject) * per_subject
    ids = [f"S{s:03d}_{k:03d}" for s in range(len(acc_by_subject)) for k in range(per_subject)]
    run = make_run(exp, 0.5, n=n, ids=ids)
    y = np.asarray(run["test"]["y_true"])
    right = np.repeat(acc_by_subject, per_subject).astype(bool)
    k = len(FER_CLASSES)
    pred = np.where(right, y, (y + 1) % k)
    proba = np.full((n, k), 0.01)
    proba[np.arange(n), pred] = 0.94
    run["test"]["proba"] = proba.tolist()
    run["metrics"] = classification_report(y, proba, FER_CLASSES)
    return run


def test_clustered_ci_resamples_subjects():
    rng = np.random.default_rng(0)
    subjects = rng.random(60) < 0.6
    run = _ckplus_run("ozer/csv-cnn", subjects)
    clustered = verdict({"ozer/csv-cnn": [run]}, ACC)
    flat = dict(run, test={**run["test"], "ids": [f"img{i:05d}" for i in range(len(run["test"]["ids"]))]})
    independent = verdict({"ozer/csv-cnn": [flat]}, ACC)
    p = subjects.mean()
    # the known answer: 60 independent subjects, not 1,200 independent images
    half_cluster = (clustered["ci_high"] - clustered["ci_low"]) / 2
    assert half_cluster == pytest.approx(1.96 * np.sqrt(p * (1 - p) / 60), rel=0.15)
    assert half_cluster > 3 * (independent["ci_high"] - independent["ci_low"]) / 2
    # an explicit group array (FER2013 duplicate groups from the audit) is used the same way
    grouped = dict(flat, test={**flat["test"], "groups": np.repeat(np.arange(60), 20).tolist()})
    g = verdict({"ozer/csv-cnn": [grouped]}, ACC)
    assert g["ci_low"] == pytest.approx(clustered["ci_low"], abs=0.02)


def test_seed_spread_enters_the_interval_once():
    runs = [make_run("ozer/csv-cnn", a, seed=s, rng_seed=s) for s, a in enumerate((0.50, 0.60, 0.70))]
    row = verdict({"ozer/csv-cnn": runs}, ACC)
    one = verdict({"ozer/csv-cnn": runs[1:2]}, ACC)
    assert (row["ci_high"] - row["ci_low"]) > 2 * (one["ci_high"] - one["ci_low"])


def test_rules_are_versioned_and_recorded():
    assert set(verdicts.RULES) >= {"evidence", "sized comparison", "run failed", "by construction", "intervals"}
    v = verdicts.versions()
    assert v["rules"] == verdicts.RULES_VERSION and v["claims"]
    df = verdicts.evaluate_claims("paper", results={}, claims=[ACC])
    assert df.iloc[0]["rules_version"] == verdicts.RULES_VERSION


def test_leakage_from_audit_pairs():
    from fer_lib import audit

    # images 0-3 train, 4-7 test; 5 copies 1 (exact), 6 copies 2 (near), 7 copies test image 4 only
    pairs = pd.DataFrame({"kind": ["exact", "near", "exact"], "i": [1, 2, 4], "j": [5, 6, 7]})
    mask = audit.leaked_test_images(pairs, np.arange(4), np.arange(4, 8))
    assert mask.tolist() == [False, True, True, False]
    assert audit.duplicate_groups(pairs, 8).tolist() == [0, 1, 2, 3, 4, 1, 2, 4]
    run = make_run("ozer/csv-cnn", 0.60, n=700)
    leaked = np.zeros(700, bool)
    y = np.asarray(run["test"]["y_true"])
    pred = np.asarray(run["test"]["proba"]).argmax(1)
    leaked[np.flatnonzero(pred == y)[:70]] = True  # leaked images all right: full accuracy inflated
    out = verdicts.leakage(run, leaked)
    assert out["difference"] > 0 and out["n_leaked"] == 70
    assert out["accuracy_leak_free"] == pytest.approx((pred == y)[~leaked].mean())


def test_leakage_reads_the_mask_the_runner_recorded():
    run = make_run("ozer/csv-cnn", 0.60, n=700)
    with pytest.raises(ValueError, match="no test.leaked"):
        verdicts.leakage(run)
    correct = np.asarray(run["test"]["proba"]).argmax(1) == np.asarray(run["test"]["y_true"])
    run["test"]["leaked"] = (correct & (np.arange(700) % 3 == 0)).tolist()
    out = verdicts.leakage(run)
    assert out["accuracy_leak_free"] < out["accuracy"] and out["share_leaked"] > 0
    table = verdicts.leakage_table({"ozer/csv-cnn": [run], "ozer/csv-cnn_lstm": [make_run("ozer/csv-cnn_lstm", 0.5)]})
    assert table["experiment"].tolist() == ["ozer/csv-cnn"]  # runs without a mask have no row
    assert table.iloc[0]["difference"] == pytest.approx(out["difference"])


def _cells(effect_format: float, effect_model: float, seeds: int) -> dict:
    """Özer's 2x2 cells with chosen main effects (accuracy points) and a small seed jitter."""
    out = {}
    for (fmt, model), exp in verdicts.OZER_CELLS.items():
        base = 0.5 + effect_format * (fmt == "csv") + effect_model * (model == "cnn_lstm")
        out[exp] = [make_run(exp, base + 0.004 * (s - 1) * (1 if fmt == "csv" else -1), seed=s, n=700)
                    for s in range(seeds)]
    return out


ANOVA = Claim(id="t", paper="ozer", section="s", quote="q", kind="anova", metric="accuracy",
              a="ozer/csv-cnn_lstm", b="ozer/csv-cnn", c="ozer/directory-cnn_lstm", d="ozer/directory-cnn",
              factors=("format", "model"), effects=("format", "model"), alpha=0.05)


def test_anova_claim_needs_seeds_and_both_effects():
    assert verdict(_cells(0.05, 0.05, 1), ANOVA)["verdict"] == "not testable"  # one seed per cell
    both = verdict(_cells(0.05, 0.05, 3), ANOVA)
    assert both["verdict"] == "reproduced" and "format p = " in both["reproduced"]
    assert verdict(_cells(0.05, 0.0, 3), ANOVA)["verdict"] == "not reproduced"  # no model effect
    assert verdict(_cells(0.05, 0.05, 3), ANOVA, profile="quick")["indicative"] == "reproduced"


def test_overfitting_onset():
    h = {"epoch": [1, 2, 3, 4, 5, 6], "accuracy": [.3, .4, .5, .6, .7, .8], "val_accuracy": [.3, .4, .44, .5, .5, .5]}
    assert verdicts.overfitting_onset(h) == 3  # gap 0.06 from epoch 3 to the end
    h["val_accuracy"] = [.3, .4, .5, .58, .66, .78]
    assert verdicts.overfitting_onset(h) is None  # never more than 5 points apart
    h["val_accuracy"] = [.3, .3, .5, .6, .6, .6]
    assert verdicts.overfitting_onset(h) == 5  # the early gap closed again


def _curve_run(exp: str, onset: int | None, epochs: int, seed: int = 0) -> dict:
    run = make_run(exp, 0.6, seed=seed, n=140)
    tr = np.linspace(0.3, 0.8, epochs)
    va = tr - np.where(np.arange(1, epochs + 1) >= (onset or epochs + 1), 0.1, 0.0)
    run["history"] = {"epoch": list(range(1, epochs + 1)), "accuracy": tr.tolist(), "val_accuracy": va.tolist(),
                      "loss": [1.0] * epochs, "val_loss": [1.0] * epochs, "seconds": [1.0] * epochs}
    return run


def test_training_curve_claims():
    e = "ozer/directory-cnn"
    c = Claim(id="t", paper="ozer", section="s", quote="q", kind="training_curve", experiment=e, onset=25)
    assert verdict({e: [_curve_run(e, 24, 40, s) for s in range(3)]}, c)["verdict"] == "reproduced"
    assert verdict({e: [_curve_run(e, 8, 40, s) for s in range(3)]}, c)["verdict"] == "not reproduced"
    assert verdict({e: [_curve_run(e, None, 45)]}, c)["verdict"] == "not reproduced"  # trained past 30, no divergence
    assert verdict({e: [_curve_run(e, None, 12)]}, c)["verdict"] == "inconclusive"  # stopped before it could show
    never = Claim(id="t", paper="ozer", section="s", quote="q", kind="training_curve", experiment=e, onset="never")
    assert verdict({e: [_curve_run(e, None, 20)]}, never)["verdict"] == "reproduced"
    row = verdict({e: [_curve_run(e, 10, 20)]}, never)
    assert row["verdict"] == "not reproduced" and row["reproduced"] == 10
    assert "training curve" in verdicts.RULES and verdicts.RULES_VERSION == "3"


def test_robustness_before_preprocessing_reads_the_raw_stage():
    c = Claim(id="t", paper="emotionnet", section="s", quote="q", kind="robustness", experiment="emotionnet/full",
              stage="raw")
    run = make_run("emotionnet/full", 0.6, noise={"0.05": 0.6, "0.1": 0.59, "0.2": 0.58})
    assert verdict({"emotionnet/full": [run]}, c)["verdict"] == "missing"  # only the input stage recorded
    run["noise_robustness_raw"] = {"0.05": 0.5, "0.1": 0.4, "0.2": 0.3}
    row = verdict({"emotionnet/full": [run]}, c)
    assert row["verdict"] == "not reproduced" and row["reproduced"] == pytest.approx(0.4)
    assert "raw image before preprocessing" in row["note"] and "model input after preprocessing" in row["note"]


def test_split_gap_is_the_difference_of_two_experiments():
    a, b = "emotionnet/ck_full-stratified", "emotionnet/ck_full"
    res = {a: [make_run(a, 0.9, n=350, ids=[f"s{i}" for i in range(350)])], b: [make_run(b, 0.7, n=350)]}
    gap = verdicts.split_gap("paper", results=res)
    assert gap["difference"] == pytest.approx(0.2, abs=0.01) and gap["ci_low"] < 0.2 < gap["ci_high"]
    assert "unpaired" in gap["how"]
    with pytest.raises(ValueError, match="no paper results"):
        verdicts.split_gap("paper", results={a: res[a]})


def test_a_claimed_range_is_written_in_points():
    """EmotionNet's "reduces accuracy by 4-6 %" is read in the tables' unit, not as 0.04 to 0.06."""
    df = verdicts.evaluate_claims("paper", "emotionnet", results={})
    sized = df[df["kind"].isin(["comparison", "interaction"])]
    ranges = sized[sized["claimed"].astype(str).str.contains(" to ")]["claimed"]
    assert len(ranges) and set(ranges) == {"+4 to +6 pts"}
