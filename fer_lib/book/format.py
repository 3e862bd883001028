"""Numbers as a reader sees them: one formatting rule per scale (percent, AUC, loss, seconds, count)."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

def _fmt(v: Any, scale: str, diff: bool = False, unit: bool = True) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, str):
        return v
    v = float(v)
    sign = "+" if diff else ""
    if scale == "fraction":
        return f"{v * 100:{sign}.1f}" + ((" pts" if diff else " %") if unit else "")
    if scale == "auc":
        return f"{v:{sign}.3f}"
    if scale == "loss":
        return f"{v:{sign}.3f}"
    if scale == "seconds":
        return f"{v:{sign}.2f}" + (" s" if unit else "")
    if scale == "count":
        return f"{v:{sign},.0f}"
    return f"{v:{sign}.4g}"


def minute(stamp: Any) -> str | None:
    """A time stamp of the runner (ISO, UTC) to the minute: "2026-12-04 03:16"."""
    return str(stamp).replace("T", " ")[:16] if stamp else None


def fmt_pct(value: Any, digits: int = 1, points: bool = False) -> str:
    """A fraction as display text for prose ("54.5 %", or "+1.5 points" with ``points``);
    "n/a (no results yet)" when the value is missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "n/a (no results yet)"
    v = float(value) * 100
    return f"{v:+.{digits}f} points" if points else f"{v:.{digits}f} %"


def with_interval(text: str, lo: Any, hi: Any, scale: str, diff: bool = False) -> str:
    """A formatted value followed by its 95 % interval in brackets, without units: "54.5 % [52.1, 56.9]"."""
    return f"{text} [{_fmt(lo, scale, diff, unit=False)}, {_fmt(hi, scale, diff, unit=False)}]"


def format_row(row: pd.Series) -> tuple[str, str]:
    """(claimed, reproduced) of one evaluate_claims row as display text, CI in brackets."""
    kind, scale = row["kind"], row["scale"]
    diff = kind in ("comparison", "interaction")
    claimed = row["claimed"]
    if kind == "reference":
        c = f"{_fmt(claimed, 'fraction')} ({row['label']})"
        return c, ""
    if kind == "significance":
        r = "" if row["reproduced"] is None or pd.isna(row["reproduced"]) else f"p = {row['reproduced']:.3g}"
        return str(claimed), r
    c = claimed if isinstance(claimed, str) or claimed is None else _fmt(claimed, scale, diff)
    rep = row["reproduced"]
    r = _fmt(rep, scale, diff)
    lo, hi = row["ci_low"], row["ci_high"]
    if r and not isinstance(rep, str) and lo is not None and not pd.isna(lo) and scale != "count":
        r = with_interval(r, lo, hi, scale, diff)
    return ("" if c is None else str(c)), r
