"""The book's display helpers: tables without index, units, verdict colours, quotes once."""
import pandas as pd

from fer_lib.book import display, tables
from fer_lib.book.build import best_profile
from fer_lib.book.summary import headline_claims, mark


def test_show_hides_index_and_right_aligns_numbers():
    df = pd.DataFrame({"experiment": ["a", "b"], "accuracy": [0.5123, 0.6], "verdict": ["reproduced", "missing"]})
    html = display.show(df).html
    assert "row_heading" not in html and ">0<" not in html  # no index column
    assert "51.2 %" in html and "60.0 %" in html  # fraction column shown in percent with its unit
    assert "text-align: right" in html
    assert display.VERDICT_COLOURS["reproduced"] in html and display.VERDICT_COLOURS["missing"] in html


def test_named_index_becomes_a_column():
    df = pd.DataFrame({"x": [1, 2]}, index=pd.Index(["r1", "r2"], name="claim"))
    t = display.show(df)
    assert ">claim<" in t.html and ">r1<" in t.html


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
    quotes = [q for q in df["quote"] if not q.startswith("〃")]
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
