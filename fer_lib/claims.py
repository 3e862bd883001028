"""The papers' claims as validated data (claims/claims.yaml).

Every number the project checks comes from this file, each with the verbatim sentence and
section it came from. Loading is strict so a typo fails at load time, not later as a silently
skipped check. An unknown or misplaced field, a missing required field, a bad metric, class or
experiment id all raise ``ValueError`` naming the file, the claim id and the field.
"""
from __future__ import annotations

import os
import re
from functools import lru_cache
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from fer_lib.config import CKPLUS_CLASSES, FER2013_CLASSES, project_dirs
from fer_lib.experiments import experiment_ids, list_papers, load_paper
from fer_lib.stats import TOLERANCE

_CLASSES = frozenset(FER2013_CLASSES + CKPLUS_CLASSES)

#: Whole-run metrics; per-class ones are ``auc:<class>`` and ``recall:<class>``.
SCALAR_METRICS = frozenset({
    "accuracy", "macro_precision", "macro_recall", "macro_f1", "loss",
    "seconds_per_epoch", "params", "n_test", "seq_len",
})
_PER_CLASS_PREFIXES = ("auc", "recall")
RANKING_METRICS = frozenset({"recall", "auc"})

_COMMON_REQUIRED = ("id", "paper", "section", "quote", "kind")
#: ``by_construction``: why our own configuration settles the claim (it then cannot fail and is not
#: counted as a verdict).
_COMMON_OPTIONAL = ("note", "by_construction")

#: kind -> (required fields, optional fields), beyond the common ones.
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "value": (("metric", "value", "experiment"), ("tolerance",)),
    "comparison": (("metric", "a", "b", "relation"), ("claimed_difference",)),
    # (a - b) - (c - d) compared with 0, e.g. the LSTM gain on CSV minus that on directory data.
    "interaction": (("metric", "a", "b", "c", "d", "relation"), ("claimed_difference",)),
    "ranking": (("experiment", "metric", "best", "worst"), ()),
    # Unordered class pairs said to be among the most frequent confusions.
    "confusion": (("experiment", "pairs"), ()),
    "significance": (("a", "b", "test", "alpha"), ()),
    "reference": (("value",), ("spread", "label")),
    # stage: where the noise goes, "input" (after preprocessing, the default) or "raw" (before it).
    "robustness": (("experiment",), ("stage",)),
    # Two-way ANOVA over seeds of the 2x2 design a=(1,1), b=(1,2), c=(2,1), d=(2,2); ``factors``
    # names factor 1 and factor 2, ``effects`` lists those claimed significant (or "interaction").
    "anova": (("metric", "a", "b", "c", "d", "factors", "effects", "alpha"), ()),
    # Overfitting onset read from the saved training curves: an epoch, or "never".
    "training_curve": (("experiment", "onset"), ("tolerance",)),
    "untestable": (("reason",), ()),
}
RELATIONS = frozenset({"greater", "similar"})
TESTS = frozenset({"mcnemar"})
STAGES = frozenset({"input", "raw"})


@dataclass(frozen=True)
class Claim:
    """One checkable (or explicitly uncheckable) statement of a paper, with its source."""

    id: str
    paper: str
    section: str
    quote: str
    kind: str
    note: str | None = None
    metric: str | None = None
    value: float | None = None
    experiment: str | None = None
    tolerance: float | None = None
    a: str | None = None
    b: str | None = None
    c: str | None = None
    d: str | None = None
    relation: str | None = None
    #: A single difference, or a (low, high) range such as (0.04, 0.06).
    claimed_difference: float | tuple[float, float] | None = None
    best: tuple[str, ...] | None = None
    worst: tuple[str, ...] | None = None
    pairs: tuple[tuple[str, str], ...] | None = None
    test: str | None = None
    alpha: float | None = None
    spread: float | None = None
    label: str | None = None
    reason: str | None = None
    by_construction: str | None = None
    stage: str | None = None
    factors: tuple[str, str] | None = None
    effects: tuple[str, ...] | None = None
    onset: int | str | None = None

    @property
    def tol(self) -> float:
        """The absolute tolerance to use for a ``value`` claim (its own, else the default)."""
        return TOLERANCE if self.tolerance is None else self.tolerance

    @property
    def experiments(self) -> tuple[str, ...]:
        """Experiment ids this claim needs (references such as ``reference:human`` excluded)."""
        ids = (self.experiment, self.a, self.b, self.c, self.d)
        return tuple(dict.fromkeys(e for e in ids if e and not e.startswith("reference:")))


_FIELD_NAMES = frozenset(f.name for f in fields(Claim))


def default_path() -> Path:
    """``$FER_CLAIMS`` if set, else the project's ``claims/claims.yaml`` (see :mod:`fer_lib.config`)."""
    return project_dirs().claims


@lru_cache(maxsize=8)
def _known(experiments_dir: Path) -> tuple[dict[str, str], frozenset[str]]:
    """Paper key -> paper file, and every experiment id: read from the experiment configs only."""
    files = {p: load_paper(p, experiments_dir).get("paper_file", "") for p in list_papers(experiments_dir)}
    return files, frozenset(experiment_ids(experiments_dir))


def paper_files(experiments_dir: Path | None = None) -> dict[str, str]:
    """Paper key -> paper file name (under ``../shared/papers``), from ``experiments/<paper>.yaml``."""
    return dict(_known(Path(experiments_dir or project_dirs().experiments))[0])


def known_experiments(experiments_dir: Path | None = None) -> frozenset[str]:
    """The experiment ids the runner can produce; a claim naming another id is a typo."""
    return _known(Path(experiments_dir or project_dirs().experiments))[1]


#: UTF-8 punctuation that one paper's PDF extraction read as cp1252 ("â€“" for "–").
_MOJIBAKE = re.compile("\u00e2\u20ac.")


def _unmangle(m: re.Match) -> str:
    try:
        return m.group().encode("cp1252").decode("utf-8")
    except UnicodeError:
        return m.group()


def searchable(text: str) -> str:
    """``text`` as a quote is matched against its paper: the extraction's mis-decoded punctuation
    repaired and every whitespace dropped, since extraction both breaks lines and splits words
    ("VG G"). So claims.yaml quotes the paper as printed, and the book shows it that way."""
    return re.sub(r"\s+", "", _MOJIBAKE.sub(_unmangle, text))


def load_claims(path: str | os.PathLike[str] | None = None, experiments_dir: Path | None = None) -> list[Claim]:
    """Read and validate every claim against the experiment configs; raises ``ValueError`` on the
    first malformed entry."""
    p = Path(path) if path is not None else default_path()
    papers, experiments = _known(Path(experiments_dir or project_dirs().experiments))
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise ValueError(f"{p}: expected a mapping with a list under 'claims'")
    out: list[Claim] = []
    seen: set[str] = set()
    for i, raw in enumerate(data["claims"]):
        claim = _parse(raw, p, i, papers, experiments)
        if claim.id in seen:
            raise ValueError(f"{p}: claim {claim.id!r}: field 'id' is not unique")
        seen.add(claim.id)
        out.append(claim)
    return out


def claims_version(path: str | os.PathLike[str] | None = None) -> str:
    """The ``version`` at the top of the claims file (bumped when a claim changes), as a string."""
    p = Path(path) if path is not None else default_path()
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    v = data.get("version") if isinstance(data, dict) else None
    if v is None:
        raise ValueError(f"{p}: no top-level 'version' (add e.g. 'version: 1' above 'claims:')")
    return str(v)


def claims_for(paper: str, claims: list[Claim] | None = None) -> list[Claim]:
    """The claims of one paper (from ``claims``, or the default file)."""
    if paper not in paper_files():
        raise ValueError(f"unknown paper {paper!r}; expected one of {sorted(paper_files())}")
    return [c for c in (load_claims() if claims is None else claims) if c.paper == paper]


def _parse(raw: Any, path: Path, index: int, papers: dict[str, str], experiments: frozenset[str]) -> Claim:
    cid = raw.get("id") if isinstance(raw, dict) else None
    name = cid if isinstance(cid, str) and cid else f"#{index}"

    def fail(field: str, why: str) -> ValueError:
        return ValueError(f"{path}: claim {name!r}: field {field!r}: {why}")

    if not isinstance(raw, dict):
        raise fail("id", "entry is not a mapping")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise fail("kind", f"{kind!r} is not one of {sorted(KINDS)}")
    required, optional = KINDS[kind]
    allowed = set(_COMMON_REQUIRED) | set(_COMMON_OPTIONAL) | set(required) | set(optional)
    for key in raw:
        if key not in allowed:
            where = "unknown field" if key not in _FIELD_NAMES else f"not allowed for kind {kind!r}"
            raise fail(str(key), where)
    for key in _COMMON_REQUIRED + required:
        if raw.get(key) is None or raw.get(key) == "":
            raise fail(key, f"missing (required for kind {kind!r})")

    for key in ("id", "section", "quote", "note", "reason", "label", "by_construction"):
        if key in raw and not isinstance(raw[key], str):
            raise fail(key, "must be a string")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", raw["id"]):
        raise fail("id", "must be a lower-case slug (a-z, 0-9, '-', '.', '+')")
    paper = raw["paper"]
    if paper not in papers:
        raise fail("paper", f"{paper!r} is not one of {sorted(papers)}")

    vals: dict[str, Any] = dict(raw)
    if "metric" in raw:
        _check_metric(raw["metric"], kind, fail)
    for key in ("experiment", "a", "b", "c", "d"):
        if key in raw:
            _check_experiment(raw[key], paper, key, fail, experiments)
    for key in ("value", "tolerance", "alpha", "spread"):
        if key in raw:
            if isinstance(raw[key], bool) or not isinstance(raw[key], (int, float)):
                raise fail(key, "must be a number")
            if key != "value" and raw[key] < 0:
                raise fail(key, "must not be negative")
            vals[key] = raw[key] if key == "value" else float(raw[key])
    if "relation" in raw and raw["relation"] not in RELATIONS:
        raise fail("relation", f"{raw['relation']!r} is not one of {sorted(RELATIONS)}")
    if "test" in raw and raw["test"] not in TESTS:
        raise fail("test", f"{raw['test']!r} is not one of {sorted(TESTS)}")
    if "claimed_difference" in raw:
        vals["claimed_difference"] = _difference(raw["claimed_difference"], fail)
    for key in ("best", "worst"):
        if key in raw:
            vals[key] = _classes(raw[key], key, fail)
    if kind == "ranking" and not (vals["best"] or vals["worst"]):
        raise fail("best", "a ranking needs at least one best or worst class")
    if "stage" in raw and raw["stage"] not in STAGES:
        raise fail("stage", f"{raw['stage']!r} is not one of {sorted(STAGES)}")
    if "factors" in raw:
        f = raw["factors"]
        if not isinstance(f, list) or len(f) != 2 or not all(isinstance(x, str) and x for x in f) or f[0] == f[1]:
            raise fail("factors", "must be a list of two different factor names")
        vals["factors"] = tuple(f)
    if "effects" in raw:
        e = raw["effects"]
        known = set(vals.get("factors") or ()) | {"interaction"}
        if not isinstance(e, list) or not e or any(x not in known for x in e):
            raise fail("effects", f"must be a non-empty list drawn from {sorted(known)}")
        vals["effects"] = tuple(e)
    if "onset" in raw:
        o = raw["onset"]
        if not (o == "never" or (isinstance(o, int) and not isinstance(o, bool) and o >= 1)):
            raise fail("onset", "must be an epoch number (>= 1) or 'never'")
    if "pairs" in raw:
        pairs = raw["pairs"]
        if not isinstance(pairs, list) or not pairs or any(
                not isinstance(q, list) or len(q) != 2 for q in pairs):
            raise fail("pairs", "must be a non-empty list of [class, class] pairs")
        vals["pairs"] = tuple(_classes(q, "pairs", fail) for q in pairs)
    return Claim(**vals)


def _check_metric(metric: Any, kind: str, fail: Any) -> None:
    if not isinstance(metric, str):
        raise fail("metric", "must be a string")
    if kind == "ranking":
        if metric not in RANKING_METRICS:
            raise fail("metric", f"{metric!r}: a ranking uses one of {sorted(RANKING_METRICS)}")
        return
    if metric in SCALAR_METRICS:
        return
    prefix, _, cls = metric.partition(":")
    if prefix in _PER_CLASS_PREFIXES and cls in _CLASSES:
        return
    raise fail("metric", f"{metric!r} is not one of {sorted(SCALAR_METRICS)} "
                         f"or <{'|'.join(_PER_CLASS_PREFIXES)}>:<class>")


def _check_experiment(exp: Any, paper: str, key: str, fail: Any, experiments: frozenset[str]) -> None:
    if not isinstance(exp, str):
        raise fail(key, "must be a string")
    if key in ("a", "b", "c", "d") and re.fullmatch(r"reference:[a-z0-9_-]+", exp):
        return
    if exp not in experiments:
        raise fail(key, f"{exp!r} is not a known experiment id (or reference:<label>)")
    if exp.split("/", 1)[0] != paper:
        raise fail(key, f"{exp!r} belongs to another paper than {paper!r}")


def _difference(x: Any, fail: Any) -> float | tuple[float, float]:
    def num(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if num(x):
        return float(x)
    if isinstance(x, list) and len(x) == 2 and all(num(v) for v in x) and x[0] <= x[1]:
        return (float(x[0]), float(x[1]))
    raise fail("claimed_difference", "must be a number or a [low, high] range with low <= high")


def _classes(xs: Any, key: str, fail: Any) -> tuple[str, ...]:
    if not isinstance(xs, list) or any(x not in _CLASSES for x in xs):
        raise fail(key, f"must be a list of class names from {sorted(_CLASSES)}")
    return tuple(xs)
