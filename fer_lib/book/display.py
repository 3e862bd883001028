"""How every table of the book is shown: one helper, so that all pages agree.

:func:`show` turns a DataFrame into HTML without the index column, with numbers formatted with
their unit (from the column name, :data:`COLUMN_SCALES`) and right-aligned, verdicts coloured
(:func:`verdict_colour`, the one place the book's verdict colours come from) and long text
wrapping inside the table; ``book/static/book.css`` makes a too-wide table scroll inside itself.
"""
from __future__ import annotations

import html
import re
from typing import Any

import pandas as pd

from fer_lib.book.format import _fmt

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
    "accuracy": "fraction", "ci_low": "fraction", "ci_high": "fraction", "macro_f1": "fraction",
    "precision": "fraction", "recall": "fraction", "f1": "fraction",
    "macro_auc": "auc", "auc": "auc",
    "s/epoch": "seconds", "wall_s": "seconds", "wall (s)": "seconds", "seconds": "seconds",
    "params": "count", "n_train": "count", "n_test": "count", "epochs_run": "count",
    "train img/s": "count", "eval img/s": "count", "batch": "count", "seeds": "count",
}
_NUMERIC_TEXT = re.compile(r"^\s*(p\s*=\s*)?[+\-−]?\d[\d,.]*\s*(%|pts|s|points)?(\s*\[.*\])?\s*$")
VERDICT_COLUMNS = ("verdict", "indicative verdict", "indicative")


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
        if isinstance(v, bool):
            return False
        if isinstance(v, (int, float)) or (isinstance(v, str) and _NUMERIC_TEXT.match(v)):
            seen = True
            continue
        return False
    return seen


def format_cell(value: Any, scale: str | None) -> str:
    """One cell as display text: numbers with their unit when the column has a scale."""
    if _empty(value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) and not isinstance(value, str):
        if scale:
            return _fmt(value, scale)
        if float(value).is_integer():
            return f"{int(value):,}" if abs(value) >= 10000 else str(int(value))
        return f"{float(value):.4g}"
    return str(value)


def table_html(df: pd.DataFrame, caption: str | None = None, wide: bool = False) -> str:
    """The HTML of :func:`show` (no index; units; right-aligned numbers; coloured verdicts).

    ``wide`` tables (a paper's own layout: paper | ours | verdict per column) keep numbers and
    verdicts on one line and scroll sideways inside their box; only the row labels wrap."""
    df = df.reset_index(drop=not _named_index(df)) if _named_index(df) else df.reset_index(drop=True)
    numeric = {c for c in df.columns if _looks_numeric(df[c])}
    shown = pd.DataFrame({c: [format_cell(v, _scale_of(c)) for v in df[c]] for c in df.columns},
                         columns=df.columns)
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
    # the caption goes above the scroll box, so that a wide table never cuts it off
    head = f'<p class="fer-table-caption">{html.escape(caption)}</p>' if caption else ""
    return f'{head}<div class="fer-table-wrap">{styler.to_html()}</div>'


def _named_index(df: pd.DataFrame) -> bool:
    """A meaningful index (named, or not a plain 0..n-1 range) becomes an ordinary first column."""
    if isinstance(df.index, pd.RangeIndex) and df.index.name is None:
        return False
    return any(n is not None for n in df.index.names)


class Table:
    """A DataFrame as the book shows it; notebooks display it, tests read ``.html`` and ``.df``."""

    def __init__(self, df: pd.DataFrame, caption: str | None = None, wide: bool = False):
        self.df = df
        self.html = table_html(df, caption, wide)

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:  # plain-text fallback without an index column
        return self.df.to_string(index=False)


def show(df: pd.DataFrame, caption: str | None = None) -> Table:
    """The book's table for ``df``: the last expression of a code cell, or passed to ``display``.
    Without ``caption``, a caption the table carries (``df.attrs["caption"]``) is shown; a table
    marked ``df.attrs["wide"]`` is laid out as :func:`table_html` says."""
    return Table(df, caption if caption is not None else df.attrs.get("caption"), bool(df.attrs.get("wide")))
