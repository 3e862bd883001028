"""claims/claims.yaml is valid and traceable: every quote is verbatim text of its paper."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from fer_lib import claims as C
from fer_lib.config import FER2013_CLASSES

PAPERS = Path(__file__).resolve().parents[1].parent / "shared" / "papers"


@pytest.fixture(scope="module")
def all_claims() -> list[C.Claim]:
    return C.load_claims()


@pytest.fixture(scope="module")
def paper_texts() -> dict[str, str]:
    if not PAPERS.is_dir():
        pytest.skip(f"paper texts not found at {PAPERS} (expected ../shared/papers beside the repo)")
    return {k: C.searchable((PAPERS / f).read_text(encoding="utf-8"))
            for k, f in C.paper_files().items()}


def _write(tmp_path: Path, entries: list[dict]) -> Path:
    p = tmp_path / "claims.yaml"
    p.write_text(yaml.safe_dump({"claims": entries}, allow_unicode=True), encoding="utf-8")
    return p


_GOOD = {"id": "x-acc", "paper": "ozer", "section": "3.1", "quote": "q", "kind": "value",
         "metric": "accuracy", "value": 0.5, "experiment": "ozer/csv-cnn"}


def test_loads_and_covers_every_paper(all_claims):
    assert all_claims
    assert {c.paper for c in all_claims} == set(C.paper_files())


# The next three checks read the YAML as written, not through load_claims (which would raise
# before an assertion could run), so each can fail; test_file_checks_fail_on_broken_input shows it.

def _raw_entries(path: Path | None = None) -> list[dict]:
    return yaml.safe_load((path or C.default_path()).read_text(encoding="utf-8"))["claims"]


def _duplicate_ids(entries: list[dict]) -> list[str]:
    return [i for i, n in Counter(e.get("id") for e in entries).items() if n > 1]


def _missing_required(entries: list[dict]) -> list[tuple[str, str]]:
    out = []
    for e in entries:
        required = C.KINDS.get(e.get("kind"), ((), ()))[0]
        out += [(e.get("id"), f) for f in ("id", "paper", "section", "quote", "kind", *required)
                if e.get(f) in (None, "")]
    return out


def _unknown_kinds(entries: list[dict]) -> set:
    return {e.get("kind") for e in entries} - set(C.KINDS)


def test_ids_unique():
    assert not _duplicate_ids(_raw_entries())


def test_required_fields_present():
    assert not _missing_required(_raw_entries())


def test_every_kind_known():
    assert not _unknown_kinds(_raw_entries())


def test_file_checks_fail_on_broken_input():
    broken = [dict(_GOOD), dict(_GOOD), {**_GOOD, "id": "y", "kind": "guess"}, {**_GOOD, "id": "z", "metric": None}]
    assert _duplicate_ids(broken) == ["x-acc"]
    assert _unknown_kinds(broken) == {"guess"}
    assert _missing_required(broken) == [("z", "metric")]


def test_duplicate_id_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"'x-acc'.*'id'"):
        C.load_claims(_write(tmp_path, [_GOOD, _GOOD]))


def test_quotes_verbatim(all_claims, paper_texts):
    missing = [c.id for c in all_claims if C.searchable(c.quote) not in paper_texts[c.paper]]
    assert not missing, f"quotes not found verbatim in their paper: {missing}"


def test_searchable_repairs_extraction_only():
    assert C.searchable("CNN\u00e2\u20ac\u201cLSTM, AlexNet+VG G") == "CNN\u2013LSTM,AlexNet+VGG"
    assert C.searchable("a \u2014 \u201cb\u201d") == "a\u2014\u201cb\u201d"  # real punctuation is kept
    assert C.searchable("x\u00e2\u20ac\u009d") == "x\u00e2\u20ac\u009d"  # not decodable: left as it is


@pytest.mark.parametrize("bad, field", [
    ({k: v for k, v in _GOOD.items() if k != "metric"}, "metric"),
    ({**_GOOD, "colour": "red"}, "colour"),
    ({**_GOOD, "reason": "x"}, "reason"),                 # a field of another kind
    ({**_GOOD, "metric": "accuracyy"}, "metric"),
    ({**_GOOD, "experiment": "ozer/csv-cnnlstm"}, "experiment"),
    ({**_GOOD, "experiment": "xu/cnn"}, "experiment"),     # another paper's experiment
    ({**_GOOD, "value": "0.5"}, "value"),
    ({**_GOOD, "paper": "ozr"}, "paper"),
    ({**_GOOD, "kind": "valu"}, "kind"),
    ({**_GOOD, "kind": "comparison", "a": "ozer/csv-cnn", "b": "ozer/directory-cnn",
      "relation": "bigger", "value": None, "experiment": None}, "relation"),
])
def test_malformed_entry_names_id_field_and_file(tmp_path, bad, field):
    bad = {k: v for k, v in bad.items() if v is not None}
    p = _write(tmp_path, [bad])
    with pytest.raises(ValueError) as e:
        C.load_claims(p)
    msg = str(e.value)
    assert "'x-acc'" in msg and f"'{field}'" in msg and str(p) in msg, msg


def test_env_var_selects_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_CLAIMS", str(_write(tmp_path, [_GOOD])))
    assert [c.id for c in C.load_claims()] == ["x-acc"]


def test_ozer_table1_has_16_values(all_claims):
    t1 = [c for c in all_claims if c.paper == "ozer" and c.kind == "value" and "Table 1" in c.section]
    assert len(t1) == 16
    assert {(c.experiment, c.metric) for c in t1} == {
        (f"ozer/{e}", m)
        for e in ("directory-cnn", "directory-cnn_lstm", "csv-cnn", "csv-cnn_lstm")
        for m in ("accuracy", "macro_precision", "macro_recall", "macro_f1")}


def test_ozer_table2_auc(all_claims):
    t2 = [c for c in all_claims if c.paper == "ozer" and "Table 2" in c.section]
    assert sorted(c.metric for c in t2) == sorted(f"auc:{k}" for k in FER2013_CLASSES)
    assert all(c.experiment == "ozer/csv-cnn_lstm" for c in t2)


def test_claims_for_filters(all_claims):
    assert all(c.paper == "xu" for c in C.claims_for("xu", all_claims))
    with pytest.raises(ValueError):
        C.claims_for("nobody", all_claims)


def test_values_are_fractions(all_claims):
    """Percent typed as 57.8 instead of 0.578 is the likeliest data-entry slip."""
    frac_metrics = {"accuracy", "macro_precision", "macro_recall", "macro_f1"}
    for c in all_claims:
        if (c.kind == "value" and (c.metric in frac_metrics or c.metric.startswith("auc:"))) \
                or c.kind == "reference":
            assert 0 <= c.value <= 1, c.id
