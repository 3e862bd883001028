"""Ship the best run of each architecture: its weights and what the predictor needs to use them.

"Best" is chosen on validation accuracy at the selected epoch, never on the test split; the test
accuracy is recorded for information only.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from fer_lib.config import REPO, project_dirs
from fer_lib.results import load_results, run_file

MAX_BYTES = 10 * 1024 * 1024  # what the repository accepts per shipped model


def selected_val_accuracy(run: dict) -> float:
    """Validation accuracy at the epoch training selected (lowest validation loss)."""
    h = run["history"] if isinstance(run["history"], dict) else run["history"][0]
    loss, acc = np.asarray(h.get("val_loss", []), float), np.asarray(h.get("val_accuracy", []), float)
    return float(acc[int(np.nanargmin(loss))]) if len(loss) and len(acc) == len(loss) else float("nan")


def best_runs(profile: str, results_dir: Path | None = None) -> dict[str, tuple[float, dict, Path]]:
    """Per model, ``(validation accuracy, run, kept weights)`` of its best run whose weights are here.

    CK+ clip models are left out: the predictor reads single images."""
    base = Path(results_dir or project_dirs().results)
    best: dict[str, tuple[float, dict, Path]] = {}
    for exp, runs in load_results(profile, results_dir=base).items():
        for r in runs:
            w = run_file(base, profile, r["paper"], r["name"], r["seed"], ".weights.h5")
            if not w.exists() or r["config"].get("input") == "clip01":
                continue
            score = selected_val_accuracy(r)
            name = r["config"]["model"]
            if name not in best or score > best[name][0]:
                best[name] = (score, r, w)
    return best


def export_best(profile: str, out: Path | None = None, results_dir: Path | None = None) -> list[Path]:
    """Copy the best run's weights of every model (by validation accuracy) to ``out`` (``weights/``).

    A shipped model of the same profile that scored at least as well stays: its run's weights may
    no longer be on this machine (runs of one profile come from several GPU leases)."""
    out = Path(out or REPO / "weights")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (score, r, w) in sorted(best_runs(profile, results_dir).items()):
        if w.stat().st_size > MAX_BYTES:
            print(f"[export] {name}: {w.stat().st_size / 1e6:.1f} MB is over the 10 MB limit; not shipped")
            continue
        shipped = out / f"{name}.json"
        if shipped.exists():
            old = json.loads(shipped.read_text(encoding="utf-8"))
            if (old["profile"] == profile and old["val_accuracy_selected"] >= round(score, 4)
                    and (old["experiment"], old["seed"]) != (r["experiment"], r["seed"])):
                print(f"[export] {name}: the shipped {old['experiment']} seed {old['seed']} ({profile}, validation "
                      f"accuracy {old['val_accuracy_selected']:.3f}) is at least as good; kept")
                continue
        shutil.copyfile(w, out / f"{name}.weights.h5")
        cfg = r["config"]
        meta = {"model": name, "experiment": r["experiment"], "profile": r["profile"], "seed": r["seed"],
                "model_kwargs": cfg.get("model_kwargs") or {}, "class_names": r["class_names"],
                "preprocess": cfg.get("preprocess") or [], "input": cfg.get("input", "gray01"),
                "val_accuracy_selected": round(score, 4), "test_accuracy": round(r["metrics"]["accuracy"], 4),
                "provenance": r["provenance"]}
        shipped.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        written.append(out / f"{name}.weights.h5")
        print(f"[export] {name}: {r['experiment']} seed {r['seed']} ({profile}), validation accuracy {score:.3f}")
    return written
