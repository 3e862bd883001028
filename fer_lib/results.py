"""Finished runs on disk: where each result file lives, reading them back, and the provenance
helpers that need no training stack (the book reads results through here, never a model)."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from fer_lib.config import REPO, project_dirs

PACKAGES = ("keras", "tensorflow", "jax", "torch", "numpy", "scikit-learn", "opencv-python-headless",
            "dlib-bin", "statsmodels", "pandas")


def git_commit(paths: tuple[str, ...] = ("fer_lib", "experiments"), root: Path = REPO) -> tuple[str, bool]:
    """(commit, dirty) of the code and configs under ``paths``, or FER_COMMIT where git is
    unavailable (a GPU machine, see :func:`code_digest`).

    The commit is the last one that changed ``paths`` (HEAD for ``()``), not HEAD: runs of
    unchanged code then share one commit however many results, pages or GPU leases were committed
    between them. ``dirty`` says whether ``paths`` have uncommitted changes.
    """
    if os.environ.get("FER_COMMIT"):
        return os.environ["FER_COMMIT"], False

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()

    try:
        sha = (git("log", "-1", "--format=%H", "HEAD", "--", *paths) if paths else "") or git("rev-parse", "HEAD")
        return sha, bool(git("status", "--porcelain", "--", *paths))
    except (OSError, subprocess.CalledProcessError):
        return "unknown", True


def code_digest(paths: tuple[str, ...] = ("fer_lib", "experiments"), root: Path = REPO) -> str:
    """Digest of the files under ``paths`` (names and bytes; Python caches left out).

    Why: a GPU machine gets a copy of the working tree without ``.git``. ``scripts/gpu_carry.sh``
    stamps the clean code commit (:func:`git_commit`) with this digest here, and ``scripts/gpu_run.sh``
    recomputes it there: equal digests mean the runs there use exactly that commit's code and
    configs (``FER_COMMIT``)."""
    h = hashlib.sha256()
    files = sorted(f for d in paths for f in (root / d).rglob("*")
                   if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc")
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return out


def run_file(results_dir: Path, profile: str, paper: str, name: str, seed: int, suffix: str = ".json") -> Path:
    """Where a run's result (``.json``) or selected weights (``.weights.h5``) live: one layout for
    the runner that writes them and the explainer, exporter and loader that read them."""
    return Path(results_dir) / profile / paper / name / f"seed{seed}{suffix}"


def _result_files(profile: str, paper: str | None, results_dir: Path | None) -> list[Path]:
    base = Path(results_dir or project_dirs().results) / profile
    return sorted(base.glob(f"{paper}/*/seed*.json" if paper else "*/*/seed*.json"))


def load_results(profile: str, paper: str | None = None, results_dir: Path | None = None) -> dict[str, list[dict]]:
    """All finished runs of ``profile`` as {experiment id: [run, ...]} (runs sorted by seed)."""
    out: dict[str, list[dict]] = {}
    for p in _result_files(profile, paper, results_dir):
        r = json.loads(p.read_text())
        out.setdefault(r["experiment"], []).append(r)
    for runs in out.values():
        runs.sort(key=lambda r: r["seed"])
    return out


#: Where a ``paper`` book shows a paper that has no paper-profile run yet.
FALLBACK_PROFILE = {"paper": "quick"}


def shown_profile(profile: str, paper: str, results_dir: Path | None = None) -> str:
    """The profile whose runs a page of ``profile``'s book shows for ``paper``: ``profile`` itself
    when it has runs of the paper, else its fallback (``paper`` -> ``quick``) when that has some.

    The paper profile is run paper by paper on borrowed GPUs; until every paper has its runs, a
    page showing the indicative quick runs under their own banner says more than an empty one.
    """
    fallback = FALLBACK_PROFILE.get(profile)
    if fallback and not _result_files(profile, paper, results_dir) and _result_files(fallback, paper, results_dir):
        return fallback
    return profile
