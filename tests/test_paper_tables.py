"""The papers' own tables (claims/paper_tables.yaml laid out by fer_lib.book.tables.paper_table)."""
import pandas as pd
import pytest

from fer_lib import verdicts
from fer_lib.book import tables
from fer_lib.book.display import show
from fer_lib.claims import load_claims
from fer_lib.experiments import load_paper


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
    assert t[("Accuracy", "verdict")].iloc[0].endswith(by_id.loc["ozer-t1-dir-cnn-acc", "indicative"])
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
                   "    rows:\n      - {label: [r], cells: [{experiment: ozer/csv-cnn, metric: accuracy}]}\n")
    with pytest.raises(KeyError, match="no-such-claim"):
        tables.paper_table("x", df, res, path=bad)
    measured = tables.paper_table("y", df, res, path=bad)
    assert list(measured.columns) == [("a", ""), ("b", "ours (95 % CI)")]  # no paper figure, no verdict
    assert measured.iloc[0, 1].endswith("]")  # with its 95 % CI
    with pytest.raises(KeyError, match="known"):
        tables.paper_table("nope", df, res, path=bad)
