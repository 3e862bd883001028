"""The book's display helpers: tables without index, units, verdict colours, quotes once."""
import json
import shutil

import pandas as pd
import pytest

from fer_lib import verdicts
from fer_lib.book import display, tables
from fer_lib.book.build import best_profile
from fer_lib.book.summary import headline_claims, mark
from fer_lib.book.display import show
from fer_lib.claims import load_claims
from fer_lib.config import REPO
from fer_lib.experiments import load_paper
from fer_lib.results import load_results, shown_profile


def test_show_hides_index_and_right_aligns_numbers():
    df = pd.DataFrame({"experiment": ["a", "b"], "accuracy": [0.5123, 0.6], "verdict": ["reproduced", "missing"]})
    html = display.show(df).html
    assert "row_heading" not in html and ">0<" not in html  # no index column
    assert "51.2 %" in html and "60.0 %" in html  # fraction column shown in percent with its unit
    assert "text-align: right" in html
    assert display.VERDICT_COLOURS["reproduced"] in html and display.VERDICT_COLOURS["missing"] in html


def test_nullable_na_is_an_empty_cell_and_the_figure_draws_no_bar():
    """A class outside a 3-class split is <NA> in the nullable (convert_dtypes) balance table."""
    from fer_lib.book import figures
    df = pd.DataFrame({"split": ["s", "s"], "part": ["train", "test"], "angry": [3, None], "happy": [7, 5]}
                      ).convert_dtypes()
    html = display.show(df).html
    assert "&lt;NA&gt;" not in html and "<NA>" not in html
    assert "text-align: right" in html  # numpy integers of a nullable column are numbers too
    fig = figures.class_balance(df, ["angry", "happy"])
    widths = [p.get_width() for p in fig.axes[0].patches]
    assert sorted(round(w, 2) for w in widths) == [0.0, 0.3, 0.7, 1.0]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["s | train", "s | test (1 of 2 classes)"]


def test_named_index_becomes_a_column():
    df = pd.DataFrame({"x": [1, 2]}, index=pd.Index(["r1", "r2"], name="claim"))
    t = display.show(df)
    assert ">claim<" in t.html and ">r1<" in t.html


def test_unnamed_row_labels_stay_and_a_filtered_integer_index_goes():
    labelled = display.show(pd.DataFrame({"cnn": [52.1, 53.1]}, index=["directory", "csv"]))
    assert ">directory<" in labelled.html and ">index<" not in labelled.html  # labels kept, no "index" header
    filtered = display.show(pd.DataFrame({"x": ["a", "b", "c"]}).iloc[[0, 2]])
    assert filtered.html.count("<th ") == 1 and ">a<" in filtered.html  # only the x header: 0 and 2 dropped


def test_a_column_every_run_shares_is_said_once_above_the_table():
    runs = {"ozer/csv-cnn": [{"seed": s, "epochs_run": [9], "timing": {"wall_s": 60.0},
                              "provenance": {"commit": "a" * 40, "dirty": False, "data_hash": "h" * 16,
                                             "device": "AMD EPYC x2 (tensorflow)", "backend": "tensorflow",
                                             "finished": "2026-12-04T03:16:12+00:00"}} for s in (0, 1)]}
    prov = tables.provenance_table("paper", runs)
    assert prov["finished (UTC)"][0] == "2026-12-04 03:16"
    html = display.show(prov).html
    line = html.split('class="fer-table-common">')[1].split("</p>")[0]
    assert line == "Every row: commit aaaaaaaaaa; dirty no; data hash hhhhhhhhhhhhhhhh; device AMD EPYC x2 (tensorflow)."
    assert ">AMD EPYC x2 (tensorflow)<" not in html and ">wall time<" in html and ">wall_s<" not in html  # readable headers
    runs["ozer/csv-cnn"][1]["provenance"]["device"] = "NVIDIA H100 (jax)"
    html = display.show(tables.provenance_table("paper", runs)).html
    assert ">AMD EPYC x2 (tensorflow)<" in html and "device AMD" not in html  # differing values stay in their rows
    one = display.show(tables.provenance_table("paper", {"ozer/csv-cnn": runs["ozer/csv-cnn"][:1]})).html
    assert "fer-table-common" not in one  # one row: nothing to lift


def test_an_empty_note_displays_nothing_and_the_build_refuses_a_bare_repr(tmp_path, capsys):
    from fer_lib.book.build import check_notebook
    display.note("")  # nothing to show: no "<IPython.core.display.Markdown object>" on the page
    display.note("   ")
    assert capsys.readouterr().out == ""
    cell = {"cell_type": "code", "metadata": {}, "source": "", "outputs": [
        {"output_type": "display_data", "metadata": {},
         "data": {"text/markdown": "", "text/plain": ["<IPython.core.display.Markdown object>"]}}]}
    nb = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "page.ipynb"
    path.write_text(json.dumps(nb))
    assert any("Python object's repr" in p for p in check_notebook(path, "smoke")[1])
    cell["outputs"][0]["data"]["text/markdown"] = "**Collapsed runs:** …"  # readable content: accepted
    path.write_text(json.dumps(nb))
    assert not check_notebook(path, "smoke")[1]


def test_a_table_too_wide_for_the_text_column_gets_the_full_width():
    from fer_lib.book.build import _wide_table

    def output(df):
        return {"data": {"text/html": display.show(df).html}}
    assert not _wide_table(output(pd.DataFrame({"experiment": ["ozer/csv-cnn"], "accuracy": [0.5]})))
    assert _wide_table(output(pd.DataFrame({f"c{i}": [1] for i in range(7)})))  # many columns
    long_words = {"experiment": ["lamichhane/cnn_bilstm_fc-7"], "model": ["lamichhane_cnn_bilstm"],
                  "data": ["FER2013, classes happy/sad/neutral"], "training": ["adam lr 0.0001,"],
                  "description": ["CNN-BiLSTM (fully-connected head), seven emotions."]}
    assert _wide_table(output(pd.DataFrame(long_words)))  # five columns that cannot wrap narrower


def test_indicative_verdicts_name_their_direction():
    assert display.verdict_text("indicative", "not reproduced") == "indicative: not reproduced"
    assert display.verdict_text("reproduced", "") == "reproduced"
    assert display.verdict_text("indicative", None) == "indicative"
    assert mark("indicative", "not reproduced") == "[¬Re, indicative]"
    board = tables.scoreboard("quick", "xu")
    assert "indicative" not in board.columns  # one verdict column, read without a second one
    assert all(v != "indicative" for v in board["verdict"])


def test_the_banner_names_runs_made_with_settings_since_changed():
    """Lamichhane's quick runs were tested on PublicTest before the YAML chose PublicTest + PrivateTest."""
    res = load_results("quick", "lamichhane")
    assert tables.config_drift(res) == ["`split.test` public → now all (" + ", ".join(
        f"lamichhane/{e} seed 0" for e in ("cnn-3", "cnn-7", "cnn_bilstm-3", "cnn_bilstm-7")) + ")"]
    assert "Settings changed in `experiments/*.yaml`" in tables.profile_banner("quick", res)
    assert tables.config_drift(load_results("paper", "ozer")) == []  # made with today's settings


def test_verdict_tally_adds_up_to_the_number_of_claims():
    _, _, claims_df = tables.book_evidence("paper")
    sentence = tables.verdict_tally(claims_df)
    counts = [int(n) for n in __import__("re").findall(r"(?:: |, | and )(\d+) ", sentence)]
    assert sentence.startswith(f"Of {len(claims_df)} claims: ") and sum(counts) == len(claims_df)
    assert len(counts) == claims_df["verdict"].nunique()


def test_verdict_colour_new_and_indicative_verdicts():
    assert display.verdict_colour("not reproduced") != display.verdict_colour("reproduced")
    assert display.verdict_colour("indicative: not reproduced") == display.VERDICT_COLOURS["not reproduced"]
    assert display.verdict_colour("run failed") == display.VERDICT_COLOURS["run failed"]
    assert display.verdict_colour("something new") == display.NEUTRAL


def test_numeric_text_detection():
    assert display._looks_numeric(pd.Series(["54.5 % [52.1, 56.9]", "", "p = 0.03"]))
    assert not display._looks_numeric(pd.Series(["54.5 %", "directory"]))


def test_claims_table_quotes_each_sentence_once():
    df = tables.claims_table("ozer")
    quotes = [q for q in df["quote"] if not q.startswith("(same quote as ")]
    assert len(quotes) == len(set(quotes))
    assert len(df) == len(tables.claims_for("ozer"))  # still one row per claim


def test_release_name_hides_machine_path():
    assert tables.release_name("/home/me/data/fer2013") == "image folders (fer2013/)"
    assert "/home" not in tables.release_name("/home/me/fer2013.csv")


def test_headline_marks():
    df = pd.DataFrame({"id": ["a", "b", "c"], "section": ["Abstract", "Abstract", "Table 1"],
                       "verdict": ["reproduced", "not reproduced", "reproduced"]})
    assert list(headline_claims(df)["id"]) == ["a", "b"]
    assert mark("reproduced") == "[Re]" and mark("not reproduced") == "[¬Re]"


def test_best_profile(tmp_path):
    assert best_profile(tmp_path) == "smoke"
    (tmp_path / "quick" / "x").mkdir(parents=True)
    (tmp_path / "quick" / "x" / "r.json").write_text("{}")
    assert best_profile(tmp_path) == "quick"
    (tmp_path / "paper").mkdir()
    assert best_profile(tmp_path) == "quick"  # an empty folder is no evidence


def test_a_paper_book_shows_a_paper_without_paper_runs_from_its_quick_runs(tmp_path):
    """While the paper profile is run paper by paper, the paper book shows the others' quick runs,
    labelled, and never counts their verdicts."""
    quick = REPO / "results" / "quick"
    for paper in ("ozer", "wasey"):
        shutil.copytree(quick / paper, tmp_path / "quick" / paper)
    for src in (quick / "ozer").rglob("seed*.json"):  # Özer "has" paper runs: its quick runs, relabelled
        run = json.loads(src.read_text())
        run["profile"] = "paper"
        dst = tmp_path / "paper" / src.relative_to(quick)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(json.dumps(run))
    assert shown_profile("paper", "ozer", tmp_path) == "paper"
    assert shown_profile("paper", "wasey", tmp_path) == "quick"
    assert shown_profile("paper", "xu", tmp_path) == "paper"  # nothing to fall back on: its page says missing
    assert shown_profile("quick", "emotionnet", tmp_path) == "quick"  # only the paper book falls back

    shown, results, claims = tables.book_evidence("paper", tmp_path)
    assert shown == {"emotionnet": "paper", "lamichhane": "paper", "ozer": "paper", "wasey": "quick", "xu": "paper"}
    assert {r["profile"] for r in results["wasey/cnn"]} == {"quick"}
    assert {r["profile"] for r in results["ozer/csv-cnn"]} == {"paper"}
    assert list(claims["id"]) == [c.id for c in load_claims()]  # every claim once, in the claims file's order
    judged = {"reproduced", "not reproduced", "inconclusive"}
    wasey, ozer = claims[claims["paper"] == "wasey"], claims[claims["paper"] == "ozer"]
    assert "indicative" in set(wasey["verdict"]) and not judged & set(wasey["verdict"])
    assert judged & set(ozer["verdict"]) and "indicative" not in set(ozer["verdict"])
    assert set(claims[claims["paper"] == "xu"]["verdict"]) <= {"missing", "not testable", "reference", "by construction"}

    banner = tables.profile_banner("paper", results) + tables.fallback_note("paper", shown, results)
    n_wasey = len(list((quick / "wasey").rglob("seed*.json")))
    assert "PAPER PROFILE" in banner and f"`quick`: {n_wasey} finished run(s)" in banner
    assert "Not yet run at this profile:** Wasey (`quick`)." in banner
    assert "No run yet:** Bhardwaj & Singh, Lamichhane & Karn, Xu (" in banner
    page = tables.profile_banner("quick", load_results("quick", "wasey", tmp_path), book_profile="paper")
    assert page.startswith("> **No `paper`-profile run of this paper yet**") and "QUICK PROFILE" in page
    prov = tables.provenance_table("paper", results)
    assert list(prov.columns[:2]) == ["experiment", "profile"] and set(prov["profile"]) == {"paper", "quick"}


def test_a_paper_page_says_when_its_runs_used_different_code():
    """Runs of one comparison should share one commit; where they do not, the page says so."""
    runs = load_results("paper", "ozer")
    assert "These runs name" not in tables.profile_banner("paper", runs)
    changed = {k: [dict(r) for r in v] for k, v in runs.items()}
    r = changed[sorted(changed)[0]][0]
    r["provenance"] = dict(r["provenance"], commit="f" * 40)
    assert "These runs name 2 commits**" in tables.profile_banner("paper", changed)


def test_separate_run_calls_are_counted_from_the_provenance():
    from fer_lib.book.pages import _calls
    assert _calls({"gpu-1 2026-12-04T01:00:00+00:00", "gpu-2 2026-12-05T01:00:00+00:00"}) == "2"
    assert _calls({"vm 2026-12-04T02:40:00+00:00", None}) == "1 + unrecorded"
    assert _calls({None}) == "not recorded"


# ----------------------------------------------------------------------------- the papers' own tables


def test_every_layout_cell_names_a_known_claim_or_experiment():
    ids = {c.id for c in load_claims()}
    for spec in tables.paper_layouts():
        exps = {f"{spec['paper']}/{e}" for e in load_paper(spec["paper"])["experiments"]}
        for row in spec["rows"]:
            assert len(row["label"]) == len(spec["row_header"]), (spec["id"], row["label"])
            assert len(row["cells"]) == len(spec["columns"]), (spec["id"], row["label"])
            for cell in row["cells"]:
                cell = tables._cell_spec(cell)
                if "claim" in cell:
                    assert cell["claim"] in ids, (spec["id"], cell)
                if "experiment" in cell:
                    assert cell["experiment"] in exps, (spec["id"], cell)
        assert set(spec.get("baseline") or []) <= exps, spec["id"]


@pytest.fixture(scope="module")
def ozer():
    from fer_lib.results import load_results

    res = load_results("quick", "ozer")
    if not res:
        pytest.skip("no committed quick results for ozer")
    return verdicts.evaluate_claims("quick", "ozer", res), res


def test_ozer_table_1_in_the_papers_layout(ozer):
    df, res = ozer
    t = tables.paper_table("ozer-table-1", df, res)
    assert list(t.columns.get_level_values(0)[:2]) == ["Data format", "Model architecture"]
    assert [c for c in dict.fromkeys(t.columns.get_level_values(0))][2:] == \
        ["Accuracy", "Precision (macro)", "Recall (macro)", "F1-score (macro)"]
    assert t[("Accuracy", "paper")].iloc[0] == "50.6 %"  # the paper's 50.571 %
    by_id = df.set_index("id")
    ours = by_id.loc["ozer-t1-csv-cnnlstm-f1"]
    assert t[("F1-score (macro)", "ours (95 % CI)")].iloc[3].startswith(f"{ours['reproduced'] * 100:.1f} %")
    assert t[("Accuracy", "verdict")].iloc[0] == "indicative: " + by_id.loc["ozer-t1-dir-cnn-acc", "indicative"]
    # majority-class rows, one per test set, with accuracy = that class's share of the test set
    base = t[t["Data format", ""] == tables.BASELINE_LABEL]
    assert len(base) == 2
    share = verdicts.majority_baseline(res["ozer/csv-cnn"][0])["accuracy"]
    assert base[("Accuracy", "ours (95 % CI)")].iloc[1] == f"{share * 100:.1f} %"
    assert t.attrs["caption"].startswith("Table 1")
    html = show(t).html
    assert "Table 1" in html and "<th" in html and "majority-class baseline" in html


def test_empty_sub_columns_are_dropped_and_unknown_ids_fail(ozer, tmp_path):
    df, res = ozer
    t2 = tables.paper_table("ozer-table-2", df, res)
    assert len(t2) == 7 and t2[("AUC in the text (§3.3)", "paper")].tolist().count("") == 5
    bad = tmp_path / "t.yaml"
    bad.write_text("ozer:\n  - id: x\n    title: t\n    row_header: [a]\n    columns: [b]\n"
                   "    rows:\n      - {label: [r], cells: [no-such-claim]}\n"
                   "  - id: y\n    title: t\n    row_header: [a]\n    columns: [b]\n"
                   "    rows:\n      - {label: [r], cells: [{experiment: ozer/csv-cnn, metric: accuracy}]}\n"
                   "  - id: z\n    title: t\n    row_header: [a]\n    columns: [b]\n"
                   "    rows:\n      - {label: [r], cells: [{experiment: ozer/csv-cnn, metric: 'test_count:happy'}]}\n")
    with pytest.raises(KeyError, match="no-such-claim"):
        tables.paper_table("x", df, res, path=bad)
    measured = tables.paper_table("y", df, res, path=bad)
    assert list(measured.columns) == [("a", ""), ("b", "ours (95 % CI)")]  # no paper figure, no verdict
    assert measured.iloc[0, 1].endswith("]")  # with its 95 % CI
    counts = tables.paper_table("z", df, res, path=bad)
    assert list(counts.columns) == [("a", ""), ("b", "ours")]  # a count has no interval to announce
    with pytest.raises(KeyError, match="known"):
        tables.paper_table("nope", df, res, path=bad)


def test_rules_are_printed_from_the_verdict_engine():
    text = tables.rules_markdown()
    assert f"rules version {verdicts.RULES_VERSION}" in text
    for rule in verdicts.RULES.values():
        assert rule in text


def test_training_curves_mark_the_kept_epoch_of_every_seed():
    from fer_lib.book import figures

    def run(seed, best):
        h = {"epoch": [1, 2, 3, 4], "loss": [1.0, 0.8, 0.7, 0.6], "val_loss": [1.1, 0.9, 0.95, 1.0],
             "accuracy": [0.3, 0.4, 0.5, 0.6], "val_accuracy": [0.3, 0.35, 0.45, 0.4]}
        return {"experiment": "p/x", "seed": seed, "history": h, "best_epoch": [best]}

    fig = figures.training_curves({"p/x": [run(0, 2), run(1, 3)]})
    acc = fig.axes[1]
    dots = [(ln.get_xdata()[0], ln.get_ydata()[0]) for ln in acc.get_lines() if ln.get_marker() == "o"]
    assert sorted(dots) == [(2, 0.35), (3, 0.45)]  # one kept-epoch dot per seed, at its best_epoch
