"""Figures for the book (seaborn / matplotlib). Every function returns a ``Figure``; none shows it.

Inputs are results dicts as written by :mod:`fer_lib.runner` (one run) or ``{label: run}``
mappings, and the DataFrames of :mod:`fer_lib.book.tables` and :mod:`fer_lib.audit`, so a figure
can always be redrawn from the committed results files.
"""
from __future__ import annotations

import textwrap
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from fer_lib.book.display import VERDICT_INK as VERDICT_COLOURS, verdict_ink, verdict_text  # one palette for the book


def _done(fig: Figure) -> Figure:
    """Detach the figure from pyplot (no second copy from the inline backend, no leak);
    ``display(fig)`` or a cell's last expression still renders it."""
    plt.close(fig)
    return fig


def _short(label: str) -> str:
    return label.split("/", 1)[-1]


def _as_runs(runs: Mapping[str, dict] | Sequence[dict] | dict) -> dict[str, dict]:
    """{label: run} from a run, a list of runs or a mapping (labels: experiment [seed n])."""
    if isinstance(runs, dict) and "test" in runs:
        runs = [runs]
    if isinstance(runs, Mapping):
        return dict(runs)
    out = {}
    many_seeds = len({r.get("seed") for r in runs}) > 1
    for r in runs:
        label = r.get("experiment", "run") + (f" [seed {r.get('seed')}]" if many_seeds else "")
        out[label] = r
    return out


def _histories(run: dict) -> list[dict]:
    h = run.get("history") or {}
    return h if isinstance(h, list) else [h]


# ----------------------------------------------------------------------------- training

def _seed_groups(runs) -> dict[str, list[dict]]:
    """{experiment label: [runs of its seeds]} from results ({exp: [runs]}), {label: run} or runs."""
    if isinstance(runs, Mapping) and "test" not in runs:
        return {k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in runs.items()}
    out: dict[str, list[dict]] = {}
    for r in ([runs] if isinstance(runs, dict) else runs):
        out.setdefault(r.get("experiment", "run"), []).append(r)
    return out


def training_curves(runs: Mapping[str, dict | Sequence[dict]] | Sequence[dict] | dict,
                    metrics: Sequence[str] = ("loss", "accuracy"), title: str | None = None) -> Figure:
    """Validation (solid) and training (dashed) curves per epoch of every seed (and k-fold fold),
    one colour per experiment; a filled dot marks the epoch whose weights were kept (the run's
    ``best_epoch``: lowest validation loss). Pass the page's results, ``{experiment: [runs]}``."""
    groups = _seed_groups(runs)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.0 * len(metrics), 3.7), squeeze=False)
    colours = sns.color_palette("tab10", max(len(groups), 1))
    for (label, rs), colour in zip(groups.items(), colours):
        lines = [(r, k, h) for r in rs for k, h in enumerate(_histories(r))]
        lw, alpha = (1.6, 1.0) if len(lines) == 1 else (1.0, 0.7)
        for n, (r, k, h) in enumerate(lines):
            ep = list(h.get("epoch", []))
            best = r.get("best_epoch")
            best = best[k] if isinstance(best, list) and k < len(best) else best
            if best is None and h.get("val_loss"):
                best = ep[int(np.nanargmin(np.asarray(h["val_loss"], float)))]
            for ax, m in zip(axes[0], metrics):
                if h.get(m):
                    ax.plot(ep, h[m], ls="--", color=colour, lw=lw * 0.8, alpha=alpha * 0.6)
                if h.get(f"val_{m}"):
                    ax.plot(ep, h[f"val_{m}"], ls="-", color=colour, lw=lw, alpha=alpha,
                            label=f"{_short(label)} ({len(rs)} seed{'s' if len(rs) > 1 else ''})" if n == 0 else None)
                    if best in ep:
                        ax.plot(best, h[f"val_{m}"][ep.index(best)], "o", color=colour, ms=6, mec="k", mew=0.6,
                                zorder=5)
    for ax, m in zip(axes[0], metrics):
        ax.set_xlabel("epoch")
        ax.set_ylabel(m)
        ax.grid(alpha=0.3)
    key = [plt.Line2D([], [], color="0.3", ls="-", label="validation"),
           plt.Line2D([], [], color="0.3", ls="--", label="training"),
           plt.Line2D([], [], color="0.3", ls="", marker="o", mec="k", label="kept epoch (lowest val. loss)")]
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles + key, labels + [k.get_label() for k in key], fontsize=7.5, loc="lower center",
               ncols=min(4, len(handles) + 3), frameon=False, bbox_to_anchor=(0.5, 0.0))
    rows = int(np.ceil((len(handles) + 3) / 4))
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.06 * rows + 0.02, 1, 1))
    return _done(fig)


# ----------------------------------------------------------------------------- confusion / ROC

def _draw_confusion(ax, cm: np.ndarray, class_names: Sequence[str], title: str, cbar: bool = True) -> None:
    cm = np.asarray(cm, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.nan_to_num(cm / cm.sum(1, keepdims=True))
    sns.heatmap(norm, annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, cbar=cbar, square=True, ax=ax,
                xticklabels=class_names, yticklabels=class_names, annot_kws={"fontsize": 7})
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", rotation=45, labelsize=8)
    ax.tick_params(axis="y", rotation=0, labelsize=8)


def confusion_matrix(run: dict | np.ndarray, class_names: Sequence[str] | None = None, title: str | None = None
                     ) -> Figure:
    """Confusion matrix heatmap normalised by row (true class): the diagonal is per-class recall.

    ``run`` is a results dict (matrices of several seeds are summed by passing a list to
    :func:`confusion_matrices`) or a raw count matrix with ``class_names``.
    """
    if isinstance(run, dict):
        cm, class_names = run["metrics"]["confusion_matrix"], run["class_names"]
        title = title or f"{run.get('experiment', '')} (seed {run.get('seed')})"
    fig, ax = plt.subplots(figsize=(5, 4.4))
    _draw_confusion(ax, np.asarray(cm if isinstance(run, dict) else run), class_names, title or "")
    fig.tight_layout()
    return _done(fig)


def confusion_matrices(runs: Mapping[str, dict | Sequence[dict]], ncols: int = 2) -> Figure:
    """One row-normalised confusion matrix per experiment (counts summed over its seeds)."""
    items = list(runs.items())
    nrows = int(np.ceil(len(items) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 4.2 * nrows), squeeze=False)
    for ax, (label, rs) in zip(axes.ravel(), items):
        rs = rs if isinstance(rs, (list, tuple)) else [rs]
        cm = sum(np.asarray(r["metrics"]["confusion_matrix"]) for r in rs)
        seeds = f" ({len(rs)} seeds)" if len(rs) > 1 else ""
        _draw_confusion(ax, cm, rs[0]["class_names"], _short(label) + seeds, cbar=False)
    for ax in axes.ravel()[len(items):]:
        ax.axis("off")
    fig.tight_layout()
    return _done(fig)


def roc_curves(run: dict, title: str | None = None, claimed_auc: Mapping[str, float] | None = None) -> Figure:
    """One-vs-rest ROC curve per class from the stored test probabilities, AUC in the legend
    (with the paper's AUC beside ours when ``claimed_auc`` is given)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.asarray(run["test"]["y_true"])
    proba = np.asarray(run["test"]["proba"], dtype=float)
    fig, ax = plt.subplots(figsize=(5.2, 4.8))
    colours = sns.color_palette("tab10", len(run["class_names"]))
    for c, (name, colour) in enumerate(zip(run["class_names"], colours)):
        pos = y == c
        if not pos.any() or pos.all():
            continue
        fpr, tpr, _ = roc_curve(pos, proba[:, c])
        auc = roc_auc_score(pos, proba[:, c])
        lab = f"{name}: {auc:.3f}" + (f" (paper {claimed_auc[name]:.3f})" if claimed_auc and name in claimed_auc else "")
        ax.plot(fpr, tpr, color=colour, lw=1.4, label=lab)
    ax.plot([0, 1], [0, 1], ls=":", color="0.5")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title or f"One-vs-rest ROC, {run.get('experiment', '')}, seed {run.get('seed', '?')}", fontsize=10)
    ax.legend(fontsize=7, title="AUC of this run", title_fontsize=8, loc="lower right")
    ax.set_aspect("equal")
    fig.tight_layout()
    return _done(fig)


# ----------------------------------------------------------------------------- per class / claims

def per_class_metric(runs: Mapping[str, dict | Sequence[dict]], metric: str = "recall",
                     title: str | None = None) -> Figure:
    """Per-class ``metric`` (recall, precision, f1 or auc) as grouped bars, one bar per experiment
    (mean over its seeds, black ticks: the individual seeds)."""
    rows = []
    for label, rs in runs.items():
        rs = rs if isinstance(rs, (list, tuple)) else [rs]
        for r in rs:
            for cls, v in r["metrics"]["per_class"].items():
                if v.get(metric) is not None:
                    rows.append({"experiment": _short(label), "class": cls, metric: v[metric], "seed": r.get("seed")})
    df = pd.DataFrame(rows)
    width = 0.9 * (df["class"].nunique() if len(df) else 7) * max(1, len(runs)) ** 0.5
    fig, ax = plt.subplots(figsize=(min(9.0, max(6.0, width)), 3.8))  # wider would be shrunk to the page
    if len(df):
        sns.barplot(df, x="class", y=metric, hue="experiment", errorbar=None, ax=ax, palette="tab10")
        if df.groupby(["experiment", "class"]).size().max() > 1:
            sns.stripplot(df, x="class", y=metric, hue="experiment", dodge=True, color="k", size=2.5, ax=ax,
                          legend=False)
    ax.set_ylim(0, 1)
    ax.set_ylabel(metric)
    ax.grid(axis="y", alpha=0.3)
    if len(runs) > 3:  # beside the bars, not over them
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    else:
        ax.legend(fontsize=8, ncols=2)
    ax.set_title(title or f"Per-class {metric} on the test set", fontsize=10)
    fig.tight_layout()
    return _done(fig)


def per_class_recall(runs: Mapping[str, dict | Sequence[dict]], title: str | None = None) -> Figure:
    """Per-class recall bars across experiments (see :func:`per_class_metric`)."""
    return per_class_metric(runs, "recall", title)


def claimed_vs_reproduced(df: pd.DataFrame, scales: Sequence[str] = ("fraction", "auc"),
                          kinds: Sequence[str] = ("value",), title: str | None = None) -> Figure:
    """Dot plot of claimed (cross) and reproduced (dot, 95 % CI bar) values, one line per claim,
    coloured by verdict. Takes :func:`fer_lib.verdicts.evaluate_claims` output; by default the
    value claims on a 0-1 scale (accuracy-like metrics and AUCs) that have a number of ours."""
    sel = df[df["kind"].isin(kinds) & df["scale"].isin(scales)].copy()
    sel = sel[pd.to_numeric(sel["reproduced"], errors="coerce").notna()]
    n = len(sel)
    fig, ax = plt.subplots(figsize=(7.5, max(2.4, 0.22 * n + 1.8)))
    if not n:
        ax.text(0.5, 0.5, "no claim of a 0–1 value has a number of ours yet", ha="center", va="center", transform=ax.transAxes)
        ax.axis("off")
        return _done(fig)
    y = np.arange(n)[::-1]
    rep = sel["reproduced"].astype(float).to_numpy()
    lo, hi = sel["ci_low"].astype(float).to_numpy(), sel["ci_high"].astype(float).to_numpy()
    shown = [verdict_text(v, i)
             for v, i in zip(sel["verdict"], sel.get("indicative", pd.Series([None] * n, index=sel.index)))]

    def style(v: str) -> dict:  # an indicative verdict (shortened profile): hollow dot, thin dashed bar
        hollow = v.startswith("indicative")
        return {"color": verdict_ink(v), "mfc": "white" if hollow else verdict_ink(v), "ls": "--" if hollow else "-"}

    for yi, r, l, h, v in zip(y, rep, lo, hi, shown):
        st = style(v)
        ax.plot([l, h], [yi, yi], color=st["color"], ls=st["ls"], lw=1.2 if st["ls"] == "--" else 2, alpha=0.7)
        ax.plot(r, yi, "o", color=st["color"], mfc=st["mfc"], ms=5)
    ax.plot(sel["claimed"].astype(float), y, "x", color="k", ms=6, mew=1.5, label="claimed")
    ax.set_yticks(y)
    ax.set_yticklabels(sel["id"], fontsize=7)
    ax.set_xlabel("value (fraction)")
    ax.grid(axis="x", alpha=0.3)
    handles = [plt.Line2D([], [], marker="x", ls="", color="k", label="claimed")]
    handles += [plt.Line2D([], [], marker="o", color=style(v)["color"], mfc=style(v)["mfc"], ls=style(v)["ls"],
                           label=f"ours: {v}") for v in dict.fromkeys(shown)]
    fig.legend(handles=handles, fontsize=7, loc="lower center", ncols=min(4, len(handles)), frameon=False)
    ax.set_title(title or "Claimed vs reproduced (dot: ours, bar: 95 % CI, cross: paper)", fontsize=10)
    rows = int(np.ceil(len(handles) / 4))
    fig.tight_layout(rect=(0, (0.25 * rows + 0.1) / fig.get_figheight(), 1, 1))
    return _done(fig)


def verdict_bars(counts: pd.DataFrame, title: str | None = None) -> Figure:
    """Stacked horizontal bars of verdict counts per paper (:func:`fer_lib.book.tables.verdict_counts`)."""
    counts = counts.drop(index="all", errors="ignore")
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(counts) + 1.6))
    left = np.zeros(len(counts))
    for v in counts.columns:
        ax.barh(counts.index, counts[v], left=left, color=verdict_ink(v) if v != "indicative" else "#b4a7d6", label=v)
        left += counts[v].to_numpy()
    ax.invert_yaxis()
    ax.set_xlabel("claims")
    ax.legend(fontsize=7, ncols=6, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    ax.set_title(title or "Verdicts per paper", fontsize=10)
    fig.tight_layout()
    return _done(fig)


# ----------------------------------------------------------------------------- other results

def noise_robustness(table: pd.DataFrame, max_drop: float | None = 0.05, title: str | None = None) -> Figure:
    """Change of test accuracy from clean (points) vs Gaussian-noise sigma, a line per experiment and
    a panel per noise stage (:func:`fer_lib.book.tables.noise_table`); shaded: the drop the robustness
    rule allows (``max_drop``). Plotting the change, not the accuracy, puts every model on one scale."""
    if not len(table):
        fig, ax = plt.subplots(figsize=(5.5, 1.5))
        ax.text(0.5, 0.5, "no noise evaluation in these results", ha="center", va="center", transform=ax.transAxes)
        ax.axis("off")
        return _done(fig)
    t = table.assign(experiment=table["experiment"].map(_short))
    clean = t[t["sigma"] == 0].groupby(["experiment", "stage", "seed"])["accuracy"].mean()
    t["change"] = 100 * (t["accuracy"] - clean.reindex(pd.MultiIndex.from_frame(t[["experiment", "stage", "seed"]])).values)
    stages = list(dict.fromkeys(t["stage"]))
    order = list(dict.fromkeys(t["experiment"]))
    fig, axes = plt.subplots(1, len(stages), figsize=(3.6 * len(stages) + 1.9, 3.6), sharey=True, squeeze=False)
    for k, (ax, stage) in enumerate(zip(axes[0], stages)):
        if max_drop is not None:
            ax.axhspan(-100 * max_drop, 0, color="#c7e9c0", alpha=0.6, lw=0,
                       label=f"allowed drop ({100 * max_drop:.0f} points)")
        sns.lineplot(t[t["stage"] == stage], x="sigma", y="change", hue="experiment", hue_order=order, marker="o",
                     errorbar=("ci", 95), ax=ax, legend=k == len(stages) - 1)
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_title(f"noise on the {stage}", fontsize=9)
        ax.set_xlabel("noise σ (inputs in [0, 1])")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("change of test accuracy (points)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    fig.suptitle(title or "Accuracy under additive Gaussian noise", fontsize=10)
    fig.tight_layout()
    return _done(fig)


def time_per_epoch(table: pd.DataFrame, claimed: Mapping[str, float] | None = None, title: str | None = None
                   ) -> Figure:
    """Seconds per epoch per experiment (:func:`fer_lib.book.tables.timing_table`), with the paper's
    figures as hollow markers on a second axis when ``claimed`` ({experiment: seconds}) is given."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    t = table.assign(experiment=table["experiment"].map(_short))
    sns.barplot(t, x="experiment", y="s/epoch", errorbar=None, ax=ax, color="#4c72b0")
    devices = ", ".join(sorted(map(str, table["device"].dropna().unique())))
    ax.set_ylabel(f"seconds per epoch (ours)\n{devices}", fontsize=8)
    if claimed:
        ax2 = ax.twinx()
        xs = {lab.get_text(): i for i, lab in enumerate(ax.get_xticklabels())}
        for exp, s in claimed.items():
            if _short(exp) in xs:
                ax2.plot(xs[_short(exp)], s, "D", mfc="none", mec="#d95f02", ms=9)
        ax2.set_ylabel("paper's seconds (hardware unknown)", color="#d95f02", fontsize=8)
        ax2.set_ylim(0, max(claimed.values()) * 1.15)
    ax.tick_params(axis="x", rotation=20)
    ax.set_title(title or "Time per epoch", fontsize=10)
    fig.tight_layout()
    return _done(fig)


def accuracy_vs_reference(summary: pd.DataFrame, reference: float = 0.65, spread: float | None = 0.05,
                          label: str = "human", others: Mapping[str, float] | None = None,
                          title: str | None = None) -> Figure:
    """Horizontal bars, best first: our test accuracies (blue, 95 % CI from
    :func:`fer_lib.book.tables.run_summary`) among literature values (grey, ``others``), with the
    reference (e.g. human 65 ± 5 %) as a line and band."""
    rows = [(f"ours: {_short(e)}", a, lo, hi, True) for e, a, lo, hi in
            zip(summary["experiment"], summary["accuracy"], summary["ci_low"], summary["ci_high"])]
    rows += [(k, v, np.nan, np.nan, False) for k, v in (others or {}).items()]
    rows.sort(key=lambda r: r[1])
    fig, ax = plt.subplots(figsize=(6.8, 0.32 * len(rows) + 1.4))
    y = np.arange(len(rows))
    for yi, (name, a, lo, hi, ours) in zip(y, rows):
        ax.barh(yi, a, color="#4c72b0" if ours else "0.75", height=0.7)
        if ours and np.isfinite(lo):
            ax.errorbar(a, yi, xerr=[[a - lo], [hi - a]], color="k", capsize=3, lw=1)
        ax.text((hi if ours and np.isfinite(hi) else a) + 0.008, yi, f"{a * 100:.1f}", va="center", fontsize=7)
    ax.axvline(reference, color="#d95f02", lw=1.5, label=f"{label} {reference * 100:.0f} %"
               + (f" ± {spread * 100:.0f}" if spread else ""))
    if spread:
        ax.axvspan(reference - spread, reference + spread, color="#d95f02", alpha=0.12, lw=0)
    ax.set_yticks(y)
    ax.set_yticklabels([r[0] for r in rows], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("test accuracy on FER2013")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "Test accuracy against the reference", fontsize=10)
    fig.tight_layout()
    return _done(fig)


def class_balance(table: pd.DataFrame, class_names: Sequence[str], title: str | None = None) -> Figure:
    """Share of each class per split part (:func:`fer_lib.audit.class_balance` rows). A class
    outside a split's task (the 3-class subsets) is empty (NA) there and drawn as no bar."""
    t = table.copy()
    cols = [c for c in class_names if c in t.columns]
    counts = t[cols].astype(float).fillna(0.0).to_numpy()
    n_classes = (t[cols].notna()).sum(axis=1).to_numpy()
    pools = t["pool"] if "pool" in t.columns else [None] * len(t)  # one split on two pools: two rows
    labels = [textwrap.fill(" | ".join(str(v) for v in (s, pool, part) if v is not None)
                            + (f" ({k} of {len(cols)} classes)" if k < len(cols) else ""), 48)
              for s, pool, part, k in zip(t["split"], pools, t["part"], n_classes)]
    shares = counts / counts.sum(axis=1, keepdims=True)
    y = np.arange(len(t))  # positions, not labels: two splits may share a (shortened) label
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(t) + 1.4))
    left = np.zeros(len(t))
    for k, (c, colour) in enumerate(zip(cols, sns.color_palette("tab10", len(cols)))):
        ax.barh(y, shares[:, k], left=left, color=colour, label=c)
        left += shares[:, k]
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of images")
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=7, ncols=len(cols), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    if title:
        ax.set_title(title, fontsize=10, pad=24)
    fig.tight_layout()
    return _done(fig)


# ----------------------------------------------------------------------------- images

def image_grid(images: np.ndarray, titles: Sequence[str] | None = None, ncols: int = 8,
               title: str | None = None, colours: Sequence[str] | None = None, size: float = 1.25) -> Figure:
    """Grayscale images in a grid with small titles (``colours`` per title, e.g. green/red)."""
    n = len(images)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * 1.2 * nrows + (0.3 if title else 0)),
                             squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < n:
            ax.imshow(np.asarray(images[k]).squeeze(), cmap="gray", vmin=0, vmax=255)
            if titles is not None:
                ax.set_title(titles[k], fontsize=6.5, color=colours[k] if colours else "k")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _done(fig)


def prediction_examples(images: np.ndarray, run: dict, picks: Mapping[str, np.ndarray], ncols: int = 8) -> Figure:
    """Correct (green) and wrong (red) test predictions: true → predicted (confidence).

    ``images`` are the run's test images in its test order (:func:`fer_lib.experiment_data.test_images`) and
    ``picks`` the indices per group (:func:`fer_lib.book.tables.prediction_examples`).
    """
    names = run["class_names"]
    y = np.asarray(run["test"]["y_true"])
    proba = np.asarray(run["test"]["proba"], dtype=float)
    groups = [(g, np.asarray(idx, int)) for g, idx in picks.items() if len(idx)]
    nrows = sum(int(np.ceil(len(idx) / ncols)) for _, idx in groups) or 1
    fig = plt.figure(figsize=(1.3 * ncols, 1.65 * nrows + 0.4))
    sub = fig.subfigures(len(groups) or 1, 1, height_ratios=[int(np.ceil(len(i) / ncols)) for _, i in groups] or [1])
    sub = np.atleast_1d(sub)
    for sf, (g, idx) in zip(sub, groups):
        rows = int(np.ceil(len(idx) / ncols))
        axes = sf.subplots(rows, ncols, squeeze=False)
        for k, ax in enumerate(axes.ravel()):
            ax.axis("off")
            if k < len(idx):
                i = idx[k]
                p = proba[i].argmax()
                ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
                ax.set_title(f"{names[y[i]]} → {names[p]}\n({proba[i, p]:.2f})", fontsize=6.5,
                             color="#1b7837" if p == y[i] else "#b2182b")
        sf.suptitle(f"{g} predictions ({run.get('experiment', '')})", fontsize=9)
    return _done(fig)


def alignment_gallery(before: np.ndarray, after: np.ndarray, captions: Sequence[str] | None = None) -> Figure:
    """Pairs of images before (top row) and after (bottom row) eye alignment."""
    n = len(before)
    fig, axes = plt.subplots(2, n, figsize=(1.35 * n, 3.2), squeeze=False)
    for k in range(n):
        for row, imgs in enumerate((before, after)):
            ax = axes[row][k]
            ax.imshow(imgs[k], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
        if captions is not None:
            axes[1][k].set_xlabel(captions[k], fontsize=6.5)
    axes[0][0].set_ylabel("before", fontsize=8)
    axes[1][0].set_ylabel("after", fontsize=8)
    fig.tight_layout()
    return _done(fig)


def images_per_class(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], n: int = 6,
                     seed: int = 0, title: str | None = None) -> Figure:
    """``n`` random images of each class, one row per class."""
    rng = np.random.default_rng(seed)
    k = len(class_names)
    fig, axes = plt.subplots(k, n, figsize=(1.1 * n + 0.8, 1.15 * k), squeeze=False)
    for c, name in enumerate(class_names):
        pool = np.flatnonzero(labels == c)
        pick = rng.choice(pool, size=min(n, len(pool)), replace=False) if len(pool) else []
        for j, ax in enumerate(axes[c]):
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if j < len(pick):
                ax.imshow(images[pick[j]], cmap="gray", vmin=0, vmax=255)
        axes[c][0].set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _done(fig)
