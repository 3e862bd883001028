"""The facts every layer shares, each written once: profiles, project folders, data paths.

Nothing here is read at import time: folders and data paths are resolved when a command starts
(:func:`project_dirs`, :meth:`DataPaths.resolve`) and then passed down explicitly, so a worker
process, a notebook and a test all see exactly the paths they were given.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

#: The checkout holding this package (its parent holds ``shared/`` in the development layout).
REPO = Path(__file__).resolve().parents[1]

#: Class names in label order, as the datasets' folders and the Kaggle CSV define them.
FER2013_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CKPLUS_CLASSES: tuple[str, ...] = ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")


@dataclass(frozen=True)
class Profile:
    """How much of each paper's protocol a run follows; only ``evidence`` profiles give verdicts."""

    name: str
    summary: str  # one line for tables and --help
    seeds: tuple[int, ...]
    evidence: bool = False  # True only for the papers' own protocol
    epochs: int | None = None  # every run trains exactly this many epochs
    max_epochs: int | None = None  # cap on the configured epochs
    max_epoch_repeats: int | None = None  # cap on the configured passes per epoch (train.epoch_repeats)
    max_train: int | None = None
    max_val: int | None = None
    max_test: int | None = None
    max_folds: int | None = None

    def epochs_for(self, configured: int) -> int:
        if self.epochs is not None:
            return self.epochs
        if self.max_epochs is not None:
            return min(configured, self.max_epochs)
        return configured

    def banner(self) -> str:
        """The bold first sentence every page built from this profile opens with."""
        if self.name == "smoke":
            return (f"**SMOKE PROFILE: tiny data, {self.epochs} epoch — numbers are not evidence.** At most "
                    f"{self.max_train} training and {self.max_test} test images per run; verdicts are "
                    "shown as *indicative* only.")
        if self.name == "quick":
            return (f"**QUICK PROFILE:** full data, at most {self.max_epochs} epochs, seed(s) "
                    f"{list(self.seeds)} — indicative only: the papers train for up to 50–100 epochs and a "
                    "single seed gives no seed-to-seed spread.")
        return (f"**PAPER PROFILE:** each paper's protocol (epochs, early stopping), seeds {list(self.seeds)}"
                " — the evidence the verdicts rest on.")


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("smoke", "every experiment on a few hundred images for one epoch (CI; not evidence)", (0,),
            epochs=1, max_epoch_repeats=1, max_train=400, max_val=100, max_test=200, max_folds=2),
    Profile("quick", "full data, at most 10 epochs, one seed (indicative)", (0,), max_epochs=10),
    Profile("paper", "each paper's protocol, three seeds (evidence)", (0, 1, 2), evidence=True),
)}

#: Best evidence first: what a book shows when it may choose.
PROFILE_PREFERENCE: tuple[str, ...] = ("paper", "quick", "smoke")


def get_profile(name: str | Profile) -> Profile:
    """The profile called ``name``; an unknown name fails with the known ones."""
    if isinstance(name, Profile):
        return name
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
    return PROFILES[name]


# ----------------------------------------------------------------------------- folders

def _packaged(name: str) -> Path:
    """A folder shipped inside the installed wheel (see pyproject's package-dir)."""
    return Path(str(resources.files("fer_lib") / "_data" / name))


@dataclass(frozen=True)
class ProjectDirs:
    """Where configs are read and results written. In a checkout: the checkout's folders; from an
    installed wheel: the configs it ships and ``./results`` of the working directory."""

    experiments: Path
    claims: Path  # the claims YAML file
    results: Path
    work: Path  # resumable per-run state (checkpoints, epoch logs)

    @classmethod
    def resolve(cls, results: str | os.PathLike | None = None, env: dict | None = None) -> "ProjectDirs":
        """Explicit argument, else $FER_EXPERIMENTS / $FER_CLAIMS / $FER_RESULTS / $FER_WORK, else defaults."""
        env = os.environ if env is None else env
        checkout = (REPO / "experiments").is_dir() and (REPO / "claims" / "claims.yaml").is_file()
        base = REPO if checkout else Path.cwd()
        exp_default = REPO / "experiments" if checkout else _packaged("experiments")
        claims_default = REPO / "claims" / "claims.yaml" if checkout else _packaged("claims") / "claims.yaml"
        res = Path(results or env.get("FER_RESULTS") or base / "results").expanduser()
        return cls(experiments=Path(env.get("FER_EXPERIMENTS") or exp_default).expanduser(),
                   claims=Path(env.get("FER_CLAIMS") or claims_default).expanduser(),
                   results=res, work=Path(env.get("FER_WORK") or base / ".work").expanduser())


def project_dirs() -> ProjectDirs:
    return ProjectDirs.resolve()


# ----------------------------------------------------------------------------- data

@dataclass(frozen=True)
class DataPaths:
    """The datasets a run reads. ``fer2013`` is the Kaggle folders, a ``fer2013.csv`` or a bundle."""

    fer2013: Path
    ckplus: Path
    fer2013_csv: Path | None = None  # the original Kaggle CSV, when the user has it

    @classmethod
    def resolve(cls, fer2013: str | os.PathLike | None = None, ckplus: str | os.PathLike | None = None,
                fer2013_csv: str | os.PathLike | None = None, env: dict | None = None) -> "DataPaths":
        """Explicit argument, else $FER2013_PATH / $CKPLUS_PATH / $FER2013_CSV, else ../shared/datasets."""
        env = os.environ if env is None else env
        shared = REPO.parent / "shared" / "datasets"

        def pick(arg, var, default):
            v = arg or env.get(var) or default
            return Path(v).expanduser().resolve() if v else None

        return cls(pick(fer2013, "FER2013_PATH", shared / "fer2013"), pick(ckplus, "CKPLUS_PATH", shared / "ckplus48"),
                   pick(fer2013_csv, "FER2013_CSV", None))
