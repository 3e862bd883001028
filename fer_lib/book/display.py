"""How every table of the book is shown: one helper, so that all pages agree.

:func:`show` turns a DataFrame into HTML without the index column, with numbers formatted with
their unit (from the column name, :data:`COLUMN_SCALES`) and right-aligned, verdicts coloured
(:func:`verdict_colour`, the one place the book's verdict colours come from) and long text
wrapping inside the table; ``book/static/book.css`` makes a too-wide table scroll inside itself.
"""
from __future__ import annotations

import html
import re
from typing import Any, Sequence

import numpy as np
import pandas as pd

from fer_lib.book.format import _fmt
from fer_lib.verdicts import metric_label

#: Background colour per verdict word. Verdicts not named here (new ones, or an ``indicative:``
#: prefix) get the colour of the first word they contain, else :data:`NEUTRAL`.
VERDICT_COLOURS: dict[str, str] = {
    "not reproduced": "#f8d0cc",
    "reproduced": "#cdebd3",
    "run failed": "#f3b7b0",
    "inconclusive": "#fbe9b7",
    "by construction": "#dfe6f0",
    "not testable": "#e6e6e6",
    "missing": "#eeeeee",
    "reference": "#e3ecf7",
}
NEUTRAL = "#f4f4f4"
#: The same hues, strong enough for marks in figures (dots, bars); same keys as VERDICT_COLOURS.
VERDICT_INK: dict[str, str] = {
    "not reproduced": "#c0392b",
    "reproduced": "#1e8449",
    "run failed": "#7b241c",
    "inconclusive": "#d4a017",
    "by construction": "#5d6d7e",
    "not testable": "#999999",
    "missing": "#bbbbbb",
    "reference": "#2e86c1",
}
#: Summary marks of a headline claim (ReScience style).
MARKS = {"reproduced": "[Re]", "not reproduced": "[¬Re]"}

#: Display scale of numeric columns, by column name (see :func:`fer_lib.book.format._fmt`).
COLUMN_SCALES: dict[str, str] = {
    "accuracy": "fraction", "accuracy (leak-free)": "fraction", "ci_low": "fraction", "ci_high": "fraction", "macro_f1": "fraction",
    "precision": "fraction", "recall": "fraction", "f1": "fraction",
    "macro_auc": "auc", "auc": "auc",
    "s/epoch": "seconds", "wall_s": "seconds", "wall (s)": "seconds", "seconds": "seconds",
    "params": "count", "n_train": "count", "n_test": "count", "epochs_run": "count",
    "train img/s": "count", "eval img/s": "count", "batch": "count", "seeds": "count",
}
#: Header text for the library's column names (the DataFrames keep theirs, for code and tests).
HEADER_LABELS: dict[str, str] = {
    **{m: metric_label(m) for m in ("macro_f1", "macro_auc", "n_train", "n_test")},
    "epochs_run": "epochs", "data_hash": "data hash", "wall_s": "wall time",
    "smallest/largest": "smallest / largest class",
}
_NUMERIC_TEXT = re.compile(r"^\s*(p\s*=\s*)?[+\-−]?\d[\d,.]*\s*(%|pts|s|points)?(\s*\[.*\])?\s*$")
VERDICT_COLUMNS = ("verdict", "indicative")


def verdict_colour(verdict: Any) -> str:
    """Background colour of a verdict cell (longest known verdict the text contains)."""
    text = str(verdict or "").lower()
    for name in sorted(VERDICT_COLOURS, key=len, reverse=True):
        if name in text:
            return VERDICT_COLOURS[name]
    return NEUTRAL


def verdict_ink(verdict: Any) -> str:
    """Figure colour of a verdict: the hue of :func:`verdict_colour`, darker."""
    text = str(verdict or "").lower()
    for name in sorted(VERDICT_INK, key=len, reverse=True):
        if name in text:
            return VERDICT_INK[name]
    return "#333333"


def verdict_text(verdict: Any, indicative: Any = None) -> str:
    """The verdict as the book prints it: an indicative verdict (shortened profile) names the way
    it went, "indicative: not reproduced", so a reader never has to look up a second column."""
    if verdict == "indicative" and isinstance(indicative, str) and indicative:
        return f"indicative: {indicative}"
    return "" if _empty(verdict) else str(verdict)


def verdict_badge(verdict: Any) -> str:
    """A verdict as an inline coloured HTML label, for prose and summary boxes."""
    return (f'<span class="fer-verdict" style="background:{verdict_colour(verdict)}">'
            f"{html.escape(str(verdict))}</span>")


def _is_verdict_column(col: Any) -> bool:
    last = col[-1] if isinstance(col, tuple) else col
    return str(last) in VERDICT_COLUMNS


def _scale_of(col: Any) -> str | None:
    last = col[-1] if isinstance(col, tuple) else col
    return COLUMN_SCALES.get(str(last))


def _empty(v: Any) -> bool:
    """None, NaN or pandas' NA (nullable dtypes): shown as an empty cell."""
    return v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v))


def _looks_numeric(values: pd.Series) -> bool:
    """True when every non-empty value is a number or a number as text ("54.5 % [52.1, 56.9]")."""
    seen = False
    for v in values:
        if _empty(v) or v == "":
            continue
        if isinstance(v, (bool, np.bool_)):
            return False
        if isinstance(v, (int, float, np.number)) or (isinstance(v, str) and _NUMERIC_TEXT.match(v)):
            seen = True
            continue
        return False
    return seen


def format_cell(value: Any, scale: str | None) -> str:
    """One cell as display text: numbers with their unit when the column has a scale."""
    if _empty(value):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, float, np.number)):
        if scale:
            return _fmt(value, scale)
        if float(value).is_integer():
            return f"{int(value):,}" if abs(value) >= 10000 else str(int(value))
        return f"{float(value):.4g}"
    return str(value)


def table_html(df: pd.DataFrame, caption: str | None = None, wide: bool = False,
               common: Sequence[str] = ()) -> str:
    """The HTML of :func:`show` (no index; units; right-aligned numbers; coloured verdicts).

    Columns named in ``common`` that hold one value in every row (the device of all runs, say) are
    not repeated per row: they go on one line under the caption, so that the table fits the page.

    ``wide`` tables (a paper's own layout: paper | ours | verdict per column) come in parts of at
    most MAX_GROUPS column groups, each interval under its value; numbers stay on their lines, row
    labels and verdicts wrap, and a part still too wide scrolls sideways inside its box."""
    if wide and isinstance(df.columns, pd.MultiIndex):  # a paper's table too wide for the page: in parts
        parts = _column_parts(df)
        if len(parts) > 1:
            return "".join(table_html(part, caption if i == 0 else (f"{caption} (continued)" if caption else None),
                                      wide) for i, part in enumerate(parts))
    # row labels without a name get an empty header rather than pandas' "index"
    df = (df.rename_axis(index=[n if n is not None else "" for n in df.index.names]).reset_index()
          if _named_index(df) else df.reset_index(drop=True))
    df, same = _lift_common(df, common)
    numeric = {c for c in df.columns if _looks_numeric(df[c])}
    shown = pd.DataFrame({c: [format_cell(v, _scale_of(c)) for v in df[c]] for c in df.columns},
                         columns=df.columns)
    if not isinstance(df.columns, pd.MultiIndex):
        labels = {c: HEADER_LABELS[c] if c in HEADER_LABELS and HEADER_LABELS[c] not in df.columns else c
                  for c in df.columns}
        shown, df = shown.rename(columns=labels), df.rename(columns=labels)
        numeric = {labels[c] for c in numeric}
    styler = shown.style.hide(axis="index").set_table_attributes(
        'class="fer-table fer-wide"' if wide else 'class="fer-table"')
    num_cols = [c for c in df.columns if c in numeric]
    if num_cols:
        styler = styler.set_properties(subset=num_cols, **{"text-align": "right", "white-space": "nowrap"})
    for c in df.columns:
        if _is_verdict_column(c):
            styler = styler.map(lambda v: f"background-color: {verdict_colour(v)}" if v else "", subset=[c])
    if wide:
        labels = [c for c in df.columns if isinstance(c, tuple) and c[-1] == ""]
        if labels:
            styler = styler.set_properties(subset=labels, **{"white-space": "normal", "min-width": "6.5em"})
        # narrower columns, so that a paper's table fits the page: verdicts wrap at their space, and
        # an interval goes on the line below its value
        verdict_cols = [c for c in df.columns if _is_verdict_column(c)]
        if verdict_cols:
            styler = styler.set_properties(subset=verdict_cols, **{"white-space": "normal", "min-width": "5.5em"})
        styler = styler.format(lambda v: v.replace(" [", "<br>[") if isinstance(v, str) else v, subset=num_cols)
    # the caption goes above the scroll box, so that a wide table never cuts it off
    head = f'<p class="fer-table-caption">{html.escape(caption)}</p>' if caption else ""
    if same:
        head += f'<p class="fer-table-common">{html.escape(same)}</p>'
    return f'{head}<div class="fer-table-wrap">{styler.to_html()}</div>'


def _lift_common(df: pd.DataFrame, common: Sequence[str]) -> tuple[pd.DataFrame, str]:
    """``df`` without those ``common`` columns that hold one value in every row (two rows or more),
    and the line that states them once: "Every row: commit 74ff1b2fe0; device AMD EPYC x2 (tensorflow)."."""
    if len(df) < 2:
        return df, ""
    same = [c for c in common if c in df.columns and df[c].astype(str).nunique(dropna=False) == 1
            and format_cell(df[c].iloc[0], _scale_of(c))]  # an empty value is not worth a mention
    if not same:
        return df, ""
    text = "; ".join(f"{HEADER_LABELS.get(c, c)} {format_cell(df[c].iloc[0], _scale_of(c))}" for c in same)
    return df.drop(columns=same), f"Every row: {text}."


#: At most this many column groups (paper | ours | verdict each) of a paper's table side by side:
#: about what fits the page; a wider table is shown in parts, each with the row labels.
MAX_GROUPS = 3


def _column_parts(df: pd.DataFrame) -> list[pd.DataFrame]:
    """``df`` (MultiIndex columns, row labels under an empty last level) cut into balanced parts of
    at most MAX_GROUPS column groups, the row-label columns repeated in each."""
    labels = [c for c in df.columns if c[-1] == ""]
    groups = list(dict.fromkeys(c[0] for c in df.columns if c not in labels))
    if len(groups) <= MAX_GROUPS:
        return [df]
    n = -(-len(groups) // MAX_GROUPS)
    size = -(-len(groups) // n)
    return [df[labels + [c for c in df.columns if c not in labels and c[0] in groups[i:i + size]]]
            for i in range(0, len(groups), size)]


def _named_index(df: pd.DataFrame) -> bool:
    """A meaningful index becomes an ordinary first column: a named one, or row labels (text); an
    unnamed integer index (0..n-1, or what is left of it after filtering rows) is dropped."""
    if any(n is not None for n in df.index.names):
        return True
    return not pd.api.types.is_integer_dtype(df.index)


class Table:
    """A DataFrame as the book shows it; notebooks display it, tests read ``.html`` and ``.df``."""

    def __init__(self, df: pd.DataFrame, caption: str | None = None, wide: bool = False,
                 common: Sequence[str] = ()):
        self.df = df
        self.html = table_html(df, caption, wide, common)

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:  # plain-text fallback without an index column
        return self.df.to_string(index=False)


def note(text: str) -> None:
    """Display ``text`` as markdown, or nothing when it is empty: an empty ``Markdown`` object
    would render as its Python repr ("<IPython.core.display.Markdown object>")."""
    from IPython.display import Markdown, display

    if text and text.strip():
        display(Markdown(text))


def show(df: pd.DataFrame, caption: str | None = None) -> Table:
    """The book's table for ``df``: the last expression of a code cell, or passed to ``display``.
    Without ``caption``, a caption the table carries (``df.attrs["caption"]``) is shown; a table
    marked ``df.attrs["wide"]`` or naming ``df.attrs["common"]`` columns is laid out as
    :func:`table_html` says."""
    return Table(df, caption if caption is not None else df.attrs.get("caption"), bool(df.attrs.get("wide")),
                 df.attrs.get("common", ()))
