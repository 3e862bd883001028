"""Experiment configs (``experiments/<paper>.yaml``): what each experiment trains, and how long.

One experiment = (paper, name, model, data variant, training settings). A profile
(smoke / quick / paper) then fixes data size, epochs and seeds. Every detail a paper leaves
out is an ``assumptions`` entry in the YAML, next to the experiment, so the book can list it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fer_lib import preprocess
from fer_lib.config import Profile, get_profile, project_dirs
from fer_lib.train import TrainConfig

EXPERIMENT_KEYS = {"model", "model_kwargs", "dataset", "pool", "split", "classes", "preprocess", "input",
                   "augmentation", "train", "evaluate", "description", "claims"}
#: ``paper_counts``: numbers the paper prints about its data (e.g. per-class test counts), used to
#: decide which data it meant (:func:`fer_lib.audit.matching_test_set`).
#: ``noise_stages``: where evaluation noise is added, ``input`` (after preprocessing) and/or ``raw``
#: (before alignment / CLAHE); see :data:`fer_lib.runner.NOISE_STAGES`.
EVALUATE_KEYS = {"noise_sigmas", "noise_stages", "tta_flip"}
PAPER_KEYS = {"paper", "title", "paper_file", "protocol", "defaults", "experiments", "assumptions", "paper_counts",
              "kind"}
#: ``kind`` of a config: one of the five papers (with a paper file and claims), or a reference
#: model of ours that the book shows beside the papers (no claims; see experiments/reference.yaml).
CONFIG_KINDS = ("paper", "reference")


@dataclass(frozen=True)
class Experiment:
    paper: str
    name: str
    spec: dict[str, Any]
    assumptions: tuple[dict, ...] = field(default=())

    @property
    def id(self) -> str:
        return f"{self.paper}/{self.name}"


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _dir(directory: Path | None) -> Path:
    return Path(directory) if directory else project_dirs().experiments


def load_paper(paper: str, directory: Path | None = None) -> dict:
    """Read and validate ``experiments/<paper>.yaml``; unknown keys fail naming file and key."""
    path = _dir(directory) / f"{paper}.yaml"
    if not path.exists():
        known = list_papers(directory) + list_references(directory)
        raise ValueError(f"no experiment config {path}; known papers: {known}")
    cfg = yaml.safe_load(path.read_text())
    bad = sorted(set(cfg) - PAPER_KEYS)
    if bad:
        raise ValueError(f"{path}: unknown top-level key(s) {bad}; allowed: {sorted(PAPER_KEYS)}")
    for name, spec in cfg["experiments"].items():
        full = _merge(cfg.get("defaults", {}), spec)
        bad = sorted(set(full) - EXPERIMENT_KEYS)
        if bad:
            raise ValueError(f"{path}: experiment {name!r} has unknown key(s) {bad}; allowed: {sorted(EXPERIMENT_KEYS)}")
        TrainConfig.from_dict(full.get("train", {}))  # validates training keys early
        preprocess.augmentation_spec(full.get("augmentation"))  # validates augmentation early
        bad = sorted(set(full.get("evaluate") or {}) - EVALUATE_KEYS)
        if bad:
            raise ValueError(f"{path}: experiment {name!r}: unknown evaluate key(s) {bad}; allowed: {sorted(EVALUATE_KEYS)}")
    cfg["_path"] = str(path)
    return cfg


def _configs(directory: Path | None, kind: str) -> list[str]:
    out = []
    for p in sorted(_dir(directory).glob("*.yaml")):
        k = (yaml.safe_load(p.read_text()) or {}).get("kind", "paper")
        if k not in CONFIG_KINDS:
            raise ValueError(f"{p}: unknown kind {k!r}; use one of {CONFIG_KINDS}")
        if k == kind:
            out.append(p.stem)
    return out


def list_papers(directory: Path | None = None) -> list[str]:
    """The papers replicated (configs of ``kind: paper``, the default)."""
    return _configs(directory, "paper")


def list_references(directory: Path | None = None) -> list[str]:
    """Our own reference models (configs of ``kind: reference``): trained like the papers, no claims."""
    return _configs(directory, "reference")


def experiments_for(paper: str, names: list[str] | None = None, directory: Path | None = None) -> list[Experiment]:
    cfg = load_paper(paper, directory)
    chosen = names or list(cfg["experiments"])
    missing = [n for n in chosen if n not in cfg["experiments"]]
    if missing:
        raise ValueError(f"{cfg['_path']}: no experiment(s) {missing}; known: {list(cfg['experiments'])}")
    assumptions = tuple(cfg.get("assumptions", []))
    return [Experiment(paper, n, _merge(cfg.get("defaults", {}), cfg["experiments"][n]),
                       tuple(a for a in assumptions if _applies(a, n))) for n in chosen]


def _applies(assumption: dict, name: str) -> bool:
    scope = assumption.get("experiments")
    return scope is None or name in scope


def experiment_ids(directory: Path | None = None) -> list[str]:
    """Every ``paper/name`` the configs define: the one list claims and results are checked against."""
    return [e.id for paper in list_papers(directory) + list_references(directory)
            for e in experiments_for(paper, directory=directory)]


def train_config(exp: Experiment, profile: str | Profile) -> TrainConfig:
    cfg = dict(exp.spec.get("train", {}))
    prof = get_profile(profile)
    cfg["epochs"] = prof.epochs_for(cfg.get("epochs", TrainConfig.epochs))
    if prof.max_epoch_repeats is not None:
        cfg["epoch_repeats"] = min(cfg.get("epoch_repeats", 1), prof.max_epoch_repeats)
    return TrainConfig.from_dict(cfg)
