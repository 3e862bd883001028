"""The book's tables and generated fragments, built from the committed quick results."""
from __future__ import annotations

import numpy as np
import pandas as pd

from fer_lib import verdicts
from fer_lib.book import pages, tables
from fer_lib.results import load_results


def test_run_summary_has_one_row_per_experiment_with_a_ci():
    res = load_results("quick", "ozer")
    df = tables.run_summary("quick", "ozer")
    assert sorted(df["experiment"]) == sorted(res)
    assert ((df["ci_low"] <= df["accuracy"]) & (df["accuracy"] <= df["ci_high"])).all()


def test_paper_vs_ours_lays_out_ozer_table1():
    df = verdicts.evaluate_claims("quick", "ozer")
    t1 = [i for i in df["id"] if i.startswith("ozer-t1-")]
    wide = tables.paper_vs_ours(df, t1, columns="metric")
    assert len(wide) == 4  # the four cells of the 2 x 2 design
    assert {m for m, _ in wide.columns} == {"accuracy", "macro_precision", "macro_recall", "macro_f1"}


def test_literature_table_adds_our_rows_to_the_papers():
    lit = tables.literature_table("quick", "xu")
    ours = lit[lit["model"].str.startswith("ours:")]
    assert len(ours) == 2 and len(lit) > 2
    assert all(a.endswith("%") for a in lit["accuracy"])


def test_generated_fragments(tmp_path):
    info = pages.write_all("quick", tmp_path / "gen", tmp_path / "no_notebooks")
    written = {p.name for p in (tmp_path / "gen").iterdir()}
    assert {"profile.md", "protocols_table.md", "plausible_table.md", "profiles.md", "timings.md",
            "build_info.json"} <= written
    assert info["profile"] == "quick" and info["runs"] == sum(len(v) for v in load_results("quick").values())
    assert "quick" in (tmp_path / "gen" / "profile.md").read_text()


def test_prediction_examples_one_per_class_when_asked():
    run = {"class_names": ["a", "b", "c"],
           "test": {"y_true": [0, 0, 0, 1, 1, 2], "proba": [[1, 0, 0]] * 3 + [[0, 1, 0], [1, 0, 0], [1, 0, 0]]}}
    filled = tables.prediction_examples(run, n=3)
    assert len(filled["correct"]) == 3  # classes repeat to fill n
    one = tables.prediction_examples(run, n=3, per_class=1)
    y = np.asarray(run["test"]["y_true"])
    assert sorted(y[one["correct"]].tolist()) == [0, 1] and sorted(y[one["wrong"]].tolist()) == [1, 2]


def test_reference_beside_claims_says_why_a_value_is_missing():
    claims = pd.DataFrame([
        {"kind": "value", "metric": "accuracy", "evidence": "ozer/csv-cnn", "paper": "ozer", "section": "Table 1",
         "what": "accuracy of csv-cnn", "id": "a", "claimed": 0.55, "reproduced": 0.52, "verdict": "reproduced"},
        {"kind": "value", "metric": "accuracy", "evidence": "xu/cnn", "paper": "xu", "section": "4",
         "what": "accuracy of cnn", "id": "b", "claimed": 0.6, "reproduced": None, "verdict": "run failed"},
        {"kind": "value", "metric": "accuracy", "evidence": "emotionnet/ck_full", "paper": "emotionnet",
         "section": "5", "what": "ck", "id": "c", "claimed": 0.97, "reproduced": 0.9, "verdict": "reproduced"},
        {"kind": "value", "metric": "accuracy", "evidence": "lamichhane/cnn_bilstm-3", "paper": "lamichhane",
         "section": "Abstract", "what": "3 classes", "id": "d", "claimed": 0.89, "reproduced": 0.8,
         "verdict": "reproduced"}])
    ref = [{"metrics": {"accuracy": 0.70}}, {"metrics": {"accuracy": 0.72}}]
    t = tables.reference_beside_claims(claims, "paper", {"reference/vgg": ref})
    assert t["ours"].tolist() == ["52.0 %", "run failed"]  # CK+ and 3-class claims are another task
    assert t["where"].tolist() == ["Table 1", "4"] and set(t["strong reference"]) == {"71.0 %"}


def test_mcnemar_table_flags_a_run_that_collapsed_to_one_class():
    """Lamichhane's quick cnn-3 answers "happy" everywhere: its McNemar p-value is trivially tiny."""
    res = load_results("quick", "lamichhane")
    t = tables.mcnemar_table("quick", "lamichhane", [("lamichhane/cnn_bilstm-3", "lamichhane/cnn-3"),
                                                    ("lamichhane/cnn_bilstm-7", "lamichhane/cnn-7")], results=res)
    assert t["note"].tolist() == ["B collapsed to one class", ""]
    healthy = tables.mcnemar_table("quick", "lamichhane", [("lamichhane/cnn_bilstm-7", "lamichhane/cnn-7")],
                                   results=res)
    assert "note" not in healthy.columns  # no empty column where nothing collapsed


def test_reference_beside_claims_names_the_profile_of_a_fallback_value():
    claims = pd.DataFrame([
        {"kind": "value", "metric": "accuracy", "evidence": "lamichhane/cnn_bilstm-7", "paper": "lamichhane",
         "section": "Abstract", "what": "7 classes", "id": "a", "claimed": 0.794, "reproduced": 0.549,
         "verdict": "indicative"}])
    t = tables.reference_beside_claims(claims, "paper", {}, {"lamichhane": "quick"})
    assert t["ours"].tolist() == ["54.9 % (quick)"]


def test_data_sources_name_the_release_a_run_trained_on():
    """Özer's committed CSV runs were made without the original fer2013.csv: their data hash is
    that of the image release read into the CSV schema."""
    import copy

    from fer_lib.config import DataPaths
    from fer_lib.experiment_data import pool_identity

    def identify(spec):
        return pool_identity(spec, DataPaths.resolve())

    res = load_results("paper", "ozer")
    t = tables.data_sources("ozer", res, identify).set_index("experiment")["source"]
    assert t["ozer/csv-cnn"] == t["ozer/csv-cnn_lstm"] == "image release in the CSV schema"
    assert t["ozer/directory-cnn"] == "image folders (fer2013/)"
    other = copy.deepcopy(res)
    other["ozer/csv-cnn"][0]["provenance"]["data_hash"] = "0" * 16  # say, the original Kaggle CSV
    t = tables.data_sources("ozer", other, identify).set_index("experiment")["source"]
    assert t["ozer/csv-cnn"] == "not the data given to this page"


def test_with_ci_puts_the_interval_beside_the_value():
    df = tables.run_summary("paper", "ozer")
    shown = tables.with_ci(df)
    assert "ci_low" not in shown.columns and len(shown.columns) == len(df.columns) - 2
    first = df.iloc[0]
    assert shown.iloc[0]["accuracy (95 % CI)"] == (f"{first['accuracy'] * 100:.1f} % "
                                                   f"[{first['ci_low'] * 100:.1f}, {first['ci_high'] * 100:.1f}]")


def test_split_text_says_where_validation_comes_from():
    from fer_lib.book import settings_text
    from fer_lib.experiments import experiments_for
    ref = settings_text.split(experiments_for("reference")[0].spec)  # selects on PublicTest
    assert "validation = PublicTest" in ref and "stratified" not in ref
    assert "stratified 10 % of Training" in settings_text.split(experiments_for("xu")[0].spec)


def test_collapse_warning_names_collapsed_and_barely_trained_runs():
    def run(seed, predicted):  # seven classes, test predictions spread over ``predicted`` of them
        proba = np.eye(7)[[i % predicted for i in range(14)]]
        return {"seed": seed, "class_names": list("abcdefg"), "test": {"proba": proba.tolist()}}
    text = tables.collapse_warning({"p/one": [run(0, 1)], "p/three": [run(1, 3)], "p/four": [run(2, 4)]})
    assert "**Collapsed runs:** p/one (seed 0)" in text
    assert "p/three (seed 1: 3 of 7 classes)" in text and "p/four" not in text
    assert tables.collapse_warning({"p/four": [run(0, 4)]}) == ""


def test_summary_box_lists_the_headline_claims():
    from fer_lib.book import summary
    res = load_results("quick", "xu")
    box = summary.summary_box("quick", "xu", verdicts.evaluate_claims("quick", "xu", res), res)
    assert box.count("<li>") >= 2 and "xu-cnn-gt-rnnlstm" in box
    assert "{" not in box  # no f-string left unformatted
