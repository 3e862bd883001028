"""The tables a paper page shows, from verdicts, configs and result files (never from a model or
a dataset): scoreboard, paper-vs-ours, runs, provenance, McNemar, noise, timing."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import yaml

from fer_lib.book import settings_text
from fer_lib.book.display import verdict_text
from fer_lib.book.format import _fmt, format_row, minute, with_interval
from fer_lib.claims import claims_for
from fer_lib.config import get_profile
from fer_lib.experiments import experiments_for, load_paper
from fer_lib.verdicts import (Results, VERDICTS, _Evaluator, _results, evaluate_claims, majority_baseline,
                              mcnemar_pairs, metric_scale)

def scoreboard(profile: str, paper: str | None = None, df: pd.DataFrame | None = None) -> pd.DataFrame:
    """evaluate_claims formatted for display: claimed and reproduced as text (percent, 95 % CI)."""
    df = evaluate_claims(profile, paper) if df is None else df
    shown = [format_row(r) for _, r in df.iterrows()]
    out = pd.DataFrame({
        "claim": df["id"], "paper": df["paper"], "kind": df["kind"], "what": df["what"],
        "claimed": [s[0] for s in shown], "reproduced [95 % CI]": [s[1] for s in shown],
        "seeds": df["n_seeds"], "verdict": [verdict_text(v, i) for v, i in zip(df["verdict"], df["indicative"])],
        "note": df["note"],
    })
    return out.drop(columns=["paper"]) if paper is not None else out  # a paper's page names its paper


#: How the tally sentence words each verdict (in VERDICTS order).
TALLY_WORDS = {"reproduced": "reproduced", "not reproduced": "not reproduced", "inconclusive": "inconclusive",
               "indicative": "judged only on a shortened profile (*indicative*, counted as neither)",
               "run failed": "resting on a failed run", "by construction": "settled by our own configuration "
               "(*by construction*)", "not testable": "not testable", "missing": "still without results",
               "reference": "reference values"}


def verdict_tally(claims_df: pd.DataFrame) -> str:
    """One sentence naming every verdict that occurs with its count, so the parts add up to the total."""
    counts = claims_df["verdict"].value_counts()
    parts = [f"{int(counts[v])} {TALLY_WORDS[v]}" for v in VERDICTS if counts.get(v, 0)]
    parts += [f"{int(n)} {v}" for v, n in counts.items() if v not in TALLY_WORDS]
    if not parts:
        return "No claims."
    body = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Of {len(claims_df)} claims: {body}."


def verdict_counts(df: pd.DataFrame, by: str | None = "paper") -> pd.DataFrame:
    """Counts of each verdict (columns in VERDICTS order), per paper or overall."""
    if by is None:
        counts = df["verdict"].value_counts().reindex(VERDICTS, fill_value=0).to_frame("claims").T
    else:
        counts = pd.crosstab(df[by], df["verdict"]).reindex(columns=VERDICTS, fill_value=0)
        counts.loc["all"] = counts.sum()
    counts.columns.name = None
    return counts


def profile_banner(profile: str, results: Results | None = None, book_profile: str | None = None) -> str:
    """A short markdown note saying which profile produced the page, with its runs and commits;
    when that is not the book's own profile (see :func:`fer_lib.results.shown_profile`), it says so first."""
    res = _results(profile, None, results)
    runs = [r for rs in res.values() for r in rs]
    by_profile: dict[str, list[dict]] = {}
    for r in runs:
        by_profile.setdefault(r.get("profile", profile), []).append(r)
    details = []
    for prof, rs in sorted(by_profile.items(), key=lambda kv: kv[0] != profile) or [(profile, [])]:
        commits = sorted({(r.get("provenance") or {}).get("commit", "unknown")[:10] for r in rs})
        devices = sorted({(r.get("provenance") or {}).get("device", "unknown") for r in rs})
        details.append((f"`{prof}`: " if len(by_profile) > 1 else "")
                       + f"{len(rs)} finished run(s) shown here, of {len({r['experiment'] for r in rs})} experiment(s); "
                       f"commit(s) {', '.join(commits) or '–'}; device(s) {', '.join(devices) or '–'}.")
        if len(commits) > 1 and len({k.split("/")[0] for k in res}) == 1:  # one paper's comparison
            details[-1] += (f" **These runs name {len(commits)} commits**, so the code or configs may differ between "
                            "them: the provenance table below says which run used which.")
    drift = config_drift(res)
    if drift:
        details.append("**Settings changed in `experiments/*.yaml` since these runs were made:** "
                       + "; ".join(drift) + ". Their numbers are what the old settings gave.")
    head = get_profile(profile).banner()
    if book_profile and book_profile != profile:
        head = (f"**No `{book_profile}`-profile run of this paper yet** (this book shows the `{book_profile}` "
                f"profile): this page shows the paper's `{profile}` runs instead.\n>\n> {head}")
    return f"> {head}\n>\n> " + "\n>\n> ".join(details)


#: The settings of an experiment that decide its data and model (training length differs by profile).
SETTING_KEYS = ("dataset", "pool", "split", "classes", "input", "preprocess", "augmentation", "model", "model_kwargs")


def config_drift(results: Results) -> list[str]:
    """The recorded settings (SETTING_KEYS) of runs that differ from what their experiment's YAML says
    now, one line per difference with the runs it concerns: results made before a protocol choice
    changed, shown as what they are."""
    specs = _specs({exp.split("/")[0] for exp in results})
    found: dict[str, list[str]] = {}
    for exp, runs in sorted(results.items()):
        spec = specs.get(exp)
        for r in runs:
            diffs = (["no longer an experiment"] if spec is None else
                     [d for k in SETTING_KEYS for d in _differences(k, (r.get("config") or {}).get(k), spec.get(k))])
            for d in diffs:
                found.setdefault(d, []).append(f"{exp} seed {r.get('seed')}")
    return [f"{d} ({', '.join(runs)})" for d, runs in found.items()]


def _specs(studies) -> dict[str, dict]:
    """The current spec of every experiment of ``studies``, by experiment id."""
    return {e.id: e.spec for study in sorted(studies) for e in experiments_for(study)}


def _differences(key: str, was, now) -> list[str]:
    """``key.sub was → now`` for each setting that changed (dicts compared key by key)."""
    if isinstance(was, dict) and isinstance(now, dict):
        return [d for k in sorted(set(was) | set(now), key=str) for d in _differences(f"{key}.{k}", was.get(k), now.get(k))]
    return [] if was == now else [f"`{key}` {'–' if was is None else was} → now {'–' if now is None else now}"]


def book_evidence(profile: str, results_dir: Path | None = None) -> tuple[dict[str, str], Results, pd.DataFrame]:
    """(profile shown per paper, runs, claims): what the scoreboard of ``profile``'s book judges.

    Each paper's claims are judged on the runs its page shows (:func:`fer_lib.results.shown_profile`):
    a paper without paper runs yet on its quick runs, whose verdicts are indicative only, like any
    quick verdict. Other studies (the reference) come from ``profile`` itself.
    """
    from fer_lib.claims import load_claims
    from fer_lib.experiments import list_papers, list_references
    from fer_lib.results import load_results, shown_profile

    shown = {p: shown_profile(profile, p, results_dir) for p in list_papers()}
    results = {k: v for ref in list_references() for k, v in load_results(profile, ref, results_dir).items()}
    judged = []
    for paper, prof in shown.items():
        res = load_results(prof, paper, results_dir)
        results.update(res)
        judged.append(evaluate_claims(prof, paper, res))
    order = {c.id: i for i, c in enumerate(load_claims())}
    claims_df = pd.concat(judged, ignore_index=True)
    claims_df = claims_df.iloc[claims_df["id"].map(order).argsort(kind="stable")].reset_index(drop=True)
    return shown, results, claims_df


def fallback_note(profile: str, shown: dict[str, str], results: Results) -> str:
    """The scoreboard's lines naming the papers shown from another profile than the book's, and
    those without any run to show."""
    def authors(paper: str) -> str:
        return paper_info(paper)["authors"]

    other = {p: prof for p, prof in shown.items() if prof != profile}
    none = [p for p in shown if not any(k.startswith(f"{p}/") for k in results)]
    text = ""
    if other:
        text += ("\n>\n> **Not yet run at this profile:** " + ", ".join(f"{authors(p)} (`{prof}`)" for p, prof in
                                                                      other.items())
                 + ". Their claims are judged on those runs, so their verdicts are *indicative* and not counted.")
    if none:
        text += "\n>\n> **No run yet:** " + ", ".join(authors(p) for p in none) + " (their claims read *missing*)."
    return text


def provenance_table(profile: str, results: Results | None = None) -> pd.DataFrame:
    """One row per run: experiment, seed, commit, data hash, device (as the runner names it, with the
    backend), epochs, wall time and when it finished."""
    res = _results(profile, None, results)
    rows = []
    for exp, runs in sorted(res.items()):
        for r in runs:
            p = r.get("provenance") or {}
            ep = r.get("epochs_run")
            rows.append({"experiment": exp, "seed": r.get("seed"), "commit": str(p.get("commit", ""))[:10],
                         "dirty": p.get("dirty"), "data_hash": p.get("data_hash"),
                         "device": p.get("device"),
                         "epochs_run": int(sum(ep)) if isinstance(ep, list) else ep,
                         "wall_s": round(float((r.get("timing") or {}).get("wall_s", float("nan"))), 1),
                         "finished (UTC)": minute(p.get("finished"))})
    df = pd.DataFrame(rows, columns=["experiment", "seed", "commit", "dirty", "data_hash", "device",
                                     "epochs_run", "wall_s", "finished (UTC)"])
    profiles = [r.get("profile", profile) for _, runs in sorted(res.items()) for r in runs]
    if len(set(profiles)) > 1:  # a book showing some papers from their fallback profile
        df.insert(1, "profile", profiles)
    df.attrs["common"] = ("profile", "commit", "dirty", "data_hash", "device")
    return df



# ----------------------------------------------------------------------------- paper pages

def paper_info(paper: str) -> dict:
    """Title, authors (the title before its " — "), protocol text and paper file of
    ``experiments/<paper>.yaml``."""
    cfg = load_paper(paper)
    return {"title": cfg.get("title", paper), "authors": str(cfg.get("title", paper)).split(" — ")[0].strip(),
            "protocol": " ".join(str(cfg.get("protocol", "")).split()),
            "paper_file": cfg.get("paper_file")}


def claims_table(paper: str) -> pd.DataFrame:
    """The paper's claims as extracted into claims/claims.yaml (id, section, kind, quote, note)."""
    rows, seen = [], {}
    for c in claims_for(paper):  # several claims often quote one sentence or table row: show it once
        quote = c.quote if c.quote not in seen else f"(same quote as {seen[c.quote]})"
        seen.setdefault(c.quote, c.id)
        rows.append({"id": c.id, "section": c.section, "kind": c.kind, "quote": quote,
                     "note": c.reason if c.kind == "untestable" else (c.note or "")})
    return pd.DataFrame(rows, columns=["id", "section", "kind", "quote", "note"])


def assumptions_table(paper: str) -> pd.DataFrame:
    """Every detail the paper leaves out and the choice made (experiments/<paper>.yaml)."""
    cfg = load_paper(paper)
    rows = [{"what": a.get("what"), "our choice": a.get("choice"), "why": a.get("why"),
             "applies to": ", ".join(a["experiments"]) if a.get("experiments") else "all"}
            for a in cfg.get("assumptions", [])]
    return pd.DataFrame(rows, columns=["what", "our choice", "why", "applies to"])


def experiments_table(paper: str) -> pd.DataFrame:
    """The experiments of one paper: model, data, split, preprocessing, augmentation recipe and
    training settings, worded as on the protocols page (:mod:`fer_lib.book.settings_text`)."""
    rows = []
    for e in experiments_for(paper):
        s = e.spec
        t = s.get("train", {})
        rows.append({"experiment": e.id, "model": s.get("model"), "data": settings_text.data_pool(s),
                     "split": settings_text.split(s) + (f"; test on {settings_text.test_set(s)}"
                                                        if s.get("split", {}).get("kind") == "official" else ""),
                     "preprocess": settings_text.preprocessing(s),
                     "augmentation": s.get("augmentation") or "none",  # the recipe: protocols page
                     "training": f"{t.get('optimizer', 'adam')} lr {t.get('learning_rate')}, batch {t.get('batch_size')}, "
                                 f"≤ {t.get('epochs')} epochs"
                                 + (f" of {t['epoch_repeats']} passes" if t.get("epoch_repeats", 1) > 1 else ""),
                     "description": s.get("description", "")})
    df = pd.DataFrame(rows)
    df.attrs["common"] = ("model", "data", "split", "preprocess", "augmentation", "training")
    return df


def run_summary(profile: str, paper: str | None = None, results: Results | None = None) -> pd.DataFrame:
    """Per experiment (mean over seeds): accuracy with CI, macro F1, params, epochs, time, data sizes
    (the split of each experiment is in :func:`experiments_table`, on the same page)."""
    res = _results(profile, paper, results)
    ev = _Evaluator(res, True, [])
    rows = []
    for exp in sorted(res):
        runs = ev.runs(exp)
        lo, hi = ev.value_ci(exp, "accuracy")
        raw = [r.raw for r in runs]
        rows.append({"experiment": exp, "seeds": len(runs), "accuracy": ev.point(exp, "accuracy"),
                     "ci_low": lo, "ci_high": hi, "macro_f1": ev.point(exp, "macro_f1"),
                     "macro_auc": ev.point(exp, "macro_auc"), "params": raw[0].get("params"),
                     "epochs_run": float(np.mean([sum(r["epochs_run"]) if isinstance(r.get("epochs_run"), list)
                                                  else (r.get("epochs_run") or 0) for r in raw])),
                     "s/epoch": ev.point(exp, "seconds_per_epoch"), "n_train": raw[0].get("sizes", {}).get("train"),
                     "n_test": runs[0].n,
                     "classes predicted": "/".join(str(predicted_classes(r)) for r in raw) + f" of {len(raw[0]['class_names'])}"})
    df = pd.DataFrame(rows)
    df.attrs["common"] = ("seeds", "n_train", "n_test", "classes predicted")
    return df


def with_ci(df: pd.DataFrame, column: str = "accuracy") -> pd.DataFrame:
    """``column`` and its ``ci_low`` / ``ci_high`` as one text column "accuracy (95 % CI)" (one
    column instead of three, so that a run summary fits the page)."""
    if df.empty or not {column, "ci_low", "ci_high"} <= set(df.columns):
        return df
    text = [with_interval(_fmt(v, "fraction"), lo, hi, "fraction")
            for v, lo, hi in zip(df[column], df["ci_low"], df["ci_high"])]
    out = df.drop(columns=["ci_low", "ci_high"])
    out[column] = text
    out.attrs = dict(df.attrs)
    return out.rename(columns={column: f"{column} (95 % CI)"})


def collapse_warning(results: Results) -> str:
    """A markdown warning naming runs that predict one class only, and runs that predict at most half
    of their classes (empty when there are none)."""
    runs = [(exp, r, predicted_classes(r), len(r["class_names"])) for exp, rs in sorted(results.items()) for r in rs]
    bad = [f"{exp} (seed {r['seed']})" for exp, r, k, _ in runs if k == 1]
    few = [f"{exp} (seed {r['seed']}: {k} of {n} classes)" for exp, r, k, n in runs if 1 < k <= n // 2]
    text = []
    if bad:
        text.append("**Collapsed runs:** " + ", ".join(bad) + " predict a single class on the whole test set "
                    "(training diverged or learned nothing). Their numbers are reported as measured; read them "
                    "as a failure of that run, not as the model's capacity.")
    if few:
        text.append("**Runs that predict only a few classes on the test set:** " + ", ".join(few) + ". Such a "
                    "run is barely trained; a comparison against it says more about that run than about its "
                    "architecture.")
    return "\n\n".join(text)


def predicted_classes(run: dict) -> int:
    """How many distinct classes a run predicts on its test set: 1 means the model collapsed to a
    constant answer (e.g. a diverged run), which no accuracy figure alone reveals."""
    return int(len(np.unique(np.asarray(run["test"]["proba"]).argmax(1))))


def paper_vs_ours(df: pd.DataFrame, ids: Sequence[str] | str, index: str = "what", columns: str | None = None
                  ) -> pd.DataFrame:
    """Claimed beside reproduced for a set of value claims (ids, or an id prefix), as display text.

    With ``columns="metric"`` rows are the evidence experiment and columns (metric, paper/ours),
    which lays out a results table such as Özer's Table 1.
    """
    sel = df[df["id"].str.startswith(ids)] if isinstance(ids, str) else df[df["id"].isin(list(ids))]
    shown = [format_row(r) for _, r in sel.iterrows()]
    flat = pd.DataFrame({"claim": sel["id"].values, "experiment": sel["evidence"].values,
                         "metric": sel["metric"].values, "what": sel["what"].values,
                         "paper": [s[0] for s in shown], "ours (95 % CI)": [s[1] for s in shown],
                         "verdict": sel["verdict"].values})
    if columns is None:
        return flat.set_index(index)
    wide = flat.pivot(index="experiment", columns=columns, values=["paper", "ours (95 % CI)", "verdict"])
    order = list(dict.fromkeys(flat[columns]))
    wide = wide.swaplevel(0, 1, axis=1)
    wide = wide.reindex(columns=pd.MultiIndex.from_product([order, ["paper", "ours (95 % CI)", "verdict"]]))
    return wide.reindex(list(dict.fromkeys(flat["experiment"])))


def literature_table(profile: str, paper: str = "xu", experiments: Sequence[str] | None = None,
                     results: Results | None = None, section_contains: str | None = "Table") -> pd.DataFrame:
    """The paper's reference rows (those whose section names a table, e.g. Xu's Table 1) with our
    runs' accuracy added, sorted best first."""
    refs = [c for c in claims_for(paper) if c.kind == "reference"
            and (section_contains is None or section_contains in c.section)]
    rows = [{"model": c.label, "source": f"paper ({c.section})", "accuracy": c.value, "95 % CI": "",
             "claim": c.id} for c in refs]
    rs = run_summary(profile, paper, results)
    for _, r in rs.iterrows():
        if experiments is None or r["experiment"] in experiments:
            rows.append({"model": f"ours: {r['experiment']}", "source": f"this replication ({profile})",
                         "accuracy": r["accuracy"],
                         "95 % CI": f"[{r['ci_low'] * 100:.1f}, {r['ci_high'] * 100:.1f}]", "claim": ""})
    out = pd.DataFrame(rows).sort_values("accuracy", ascending=False, kind="stable").reset_index(drop=True)
    out["accuracy"] = [f"{v * 100:.2f} %" for v in out["accuracy"]]
    return out


def mcnemar_table(profile: str, paper: str, pairs: Sequence[tuple[str, str]] | None = None,
                  results: Results | None = None) -> pd.DataFrame:
    """McNemar's test per seed for ``pairs`` (default: the paper's significance and comparison claims)."""
    res = _results(profile, paper, results)
    if pairs is None:
            pairs = list(dict.fromkeys((c.a, c.b) for c in claims_for(paper)
                                   if c.kind in ("significance", "comparison") and c.metric in (None, "accuracy")
                                   and not c.b.startswith("reference:")))
    ev = _Evaluator(res, True, [])
    rows = []
    for a, b in pairs:
        if not res.get(a) or not res.get(b):
            continue
        for t in mcnemar_pairs(ev.runs(a), ev.runs(b)):
            # a run that answers one class everywhere makes any difference trivially significant: say so
            collapsed = [side for side, exp in (("A", a), ("B", b))
                         if any(predicted_classes(r.raw) == 1 for r in ev.runs(exp) if r.seed == t["seed"])]
            rows.append({"A": a, "B": b, "seed": t["seed"], "both correct": t["table"][0][0],
                         "A only": t["a_only_correct"], "B only": t["b_only_correct"],
                         "both wrong": t["table"][1][1], "statistic": t["statistic"], "p": t["pvalue"],
                         "test": "exact binomial" if t["exact"] else "chi² (continuity corrected)",
                         "note": " and ".join(collapsed) + " collapsed to one class" if collapsed else ""})
    df = pd.DataFrame(rows, columns=["A", "B", "seed", "both correct", "A only", "B only", "both wrong",
                                     "statistic", "p", "test", "note"])
    return df if df["note"].astype(bool).any() else df.drop(columns="note")  # a note only where one applies


def anova_table(anova: pd.DataFrame) -> pd.DataFrame:
    """A statsmodels ANOVA table (:func:`fer_lib.stats.two_way_anova`) with readable headers, one
    row per source of variation; the residual row has no F or p."""
    t = anova.rename(columns={"sum_sq": "sum of squares", "df": "df", "F": "F", "PR(>F)": "p"})
    t.index = [str(i).replace("Residual", "residual (seed to seed)") for i in t.index]
    return t.rename_axis("source").round({"sum of squares": 6, "F": 3})


NOISE_STAGES = {"noise_robustness": "model input (after preprocessing)",
                "noise_robustness_raw": "raw image (before preprocessing)"}


def noise_table(profile: str, paper: str = "emotionnet", results: Results | None = None) -> pd.DataFrame:
    """Test accuracy per noise level (sigma 0 = clean) and stage (noise added to the model's input
    after preprocessing, or to the raw image before alignment and CLAHE) for every run that has one."""
    res = _results(profile, paper, results)
    rows = []
    for exp, runs in sorted(res.items()):
        for r in runs:
            for key, stage in NOISE_STAGES.items():
                nz = r.get(key) or {}
                if not nz:
                    continue
                base = {"experiment": exp, "stage": stage, "seed": r.get("seed")}
                rows.append({**base, "sigma": 0.0, "accuracy": r["metrics"]["accuracy"]})
                rows += [{**base, "sigma": float(s), "accuracy": float(a)} for s, a in nz.items()]
    return pd.DataFrame(rows, columns=["experiment", "stage", "seed", "sigma", "accuracy"])


def timing_table(profile: str, paper: str, results: Results | None = None) -> pd.DataFrame:
    """Seconds per epoch and throughput per run, with the device it was timed on."""
    res = _results(profile, paper, results)
    rows = []
    for exp, runs in sorted(res.items()):
        for r in runs:
            t = r.get("timing") or {}
            rows.append({"experiment": exp, "seed": r.get("seed"), "device": (r.get("provenance") or {}).get("device"),
                         "n_train": (r.get("sizes") or {}).get("train"), "n_test": (r.get("sizes") or {}).get("test"),
                         "batch": ((r.get("config") or {}).get("train") or {}).get("batch_size"),
                         "s/epoch": t.get("seconds_per_epoch"), "train img/s": t.get("train_images_per_s"),
                         "eval img/s": t.get("eval_images_per_s"), "wall_s": t.get("wall_s")})
    return pd.DataFrame(rows)


def cross_dataset_table(profile: str, results: Results | None = None) -> pd.DataFrame:
    """FER2013 models on CK+48 (the six shared emotions, ``fer_lib.cross_dataset``): accuracy on
    each dataset and the drop, mean over the seeds that recorded it, one row per experiment."""
    rows = []
    for exp, runs in sorted(_results(profile, None, results).items()):
        cd = [r["cross_dataset"] for r in runs if (r.get("cross_dataset") or {}).get("ckplus_accuracy") is not None]
        if not cd:
            continue
        mean = {k: float(np.mean([c[k] for c in cd])) for k in ("fer2013_accuracy", "ckplus_accuracy", "drop")}
        rows.append({"experiment": exp, "model": runs[0]["config"]["model"],
                     "profile": runs[0].get("profile", profile), "seeds": len(cd),
                     "FER2013 test (6 classes)": _fmt(mean["fer2013_accuracy"], "fraction"),
                     "CK+48 (6 classes)": _fmt(mean["ckplus_accuracy"], "fraction"),
                     "drop": _fmt(mean["drop"], "fraction", diff=True), "CK+48 images": cd[0]["ckplus_images"]})
    df = pd.DataFrame(rows, columns=["experiment", "model", "profile", "seeds", "FER2013 test (6 classes)",
                                     "CK+48 (6 classes)", "drop", "CK+48 images"])
    df.attrs["common"] = ("profile", "seeds", "CK+48 images")
    return df


def reference_runs(profile: str, results: Results | None = None, exp: str = "reference/vgg") -> pd.DataFrame:
    """Our strong reference per seed: the PublicTest accuracy it was selected on, its PrivateTest
    accuracy (touched once) and that accuracy on the test images with no copy in the training data."""
    from fer_lib.export import selected_val_accuracy
    from fer_lib.verdicts import leakage

    rows = []
    for r in sorted(_results(profile, None, results).get(exp, []), key=lambda r: r["seed"]):
        lk = leakage(r) if r["test"].get("leaked") is not None else {}
        rows.append({"seed": r["seed"], "epochs run": r["epochs_run"][0], "kept epoch": r["best_epoch"][0],
                     "PublicTest (selection)": _fmt(selected_val_accuracy(r), "fraction"),
                     "PrivateTest": _fmt(r["metrics"]["accuracy"], "fraction"),
                     "PrivateTest without copies": _fmt(lk.get("accuracy_leak_free"), "fraction"),
                     "device": (r.get("provenance") or {}).get("device")})
    return pd.DataFrame(rows, columns=["seed", "epochs run", "kept epoch", "PublicTest (selection)", "PrivateTest",
                                       "PrivateTest without copies", "device"])


def _seven_class_fer2013(experiment_id: str) -> bool:
    """The task the strong reference solves: all seven FER2013 classes (no CK+, no class subset)."""
    paper, name = experiment_id.split("/")
    spec = experiments_for(paper, [name])[0].spec
    return spec.get("dataset", "fer2013") == "fer2013" and not spec.get("classes")


def reference_beside_claims(claims_df: pd.DataFrame, profile: str, results: Results | None = None,
                            shown: dict[str, str] | None = None, exp: str = "reference/vgg") -> pd.DataFrame:
    """Every seven-class FER2013 test-accuracy claim of the papers, our reproduction, and the strong
    reference (mean over its seeds) on its own test split: how far each claim is from what a strong
    honest model gets. ``shown`` (from :func:`book_evidence`) names the profile each paper's value
    comes from; one other than ``profile`` is written beside the value."""
    runs = _results(profile, None, results).get(exp, [])
    ref = float(np.mean([r["metrics"]["accuracy"] for r in runs])) if runs else float("nan")
    rows = []
    for _, c in claims_df.iterrows():
        if c["kind"] != "value" or c["metric"] != "accuracy" or not _seven_class_fer2013(c["evidence"]):
            continue
        ours = c["reproduced"]  # no value when the verdict engine set the run aside: say why
        other = (shown or {}).get(c["paper"], profile)
        value = _fmt(ours, "fraction") + (f" ({other})" if other != profile else "")
        rows.append({"paper": c["paper"], "where": c["section"], "claim": c["what"] or c["id"],
                     "claimed": _fmt(c["claimed"], "fraction"),
                     "ours": value if ours is not None and not pd.isna(ours) else c["verdict"],
                     "strong reference": _fmt(ref, "fraction")})
    return pd.DataFrame(rows, columns=["paper", "where", "claim", "claimed", "ours", "strong reference"])


def prediction_examples(run: dict, n: int = 8, seed: int = 0, per_class: int | None = None
                        ) -> dict[str, np.ndarray]:
    """Indices (into the run's test order) of ``n`` correct and ``n`` wrong predictions, seeded,
    one class after another so that every class appears; at most ``per_class`` of one true class
    (fewer than ``n`` then, when a model gets few classes right)."""
    y = np.asarray(run["test"]["y_true"])
    pred = np.asarray(run["test"]["proba"]).argmax(1)
    rng = np.random.default_rng(seed)
    out = {}
    for name, mask in (("correct", pred == y), ("wrong", pred != y)):
        picks: list[int] = []
        pools = [rng.permutation(np.flatnonzero(mask & (y == c))).tolist()[:per_class]
                 for c in range(len(run["class_names"]))]
        while len(picks) < n and any(pools):
            for p in pools:
                if p and len(picks) < n:
                    picks.append(p.pop())
        out[name] = np.asarray(picks, dtype=int)
    return out


def data_sources(paper: str, results: Results, pool_identity) -> pd.DataFrame:
    """Which data each experiment's runs trained on: the content hash they recorded beside the pool
    given to the page now (``pool_identity(spec) -> (source, hash)``, e.g.
    :func:`fer_lib.experiment_data.pool_identity`); a match names that release (e.g. the image
    release read into the CSV schema, when no original ``fer2013.csv`` was given)."""
    specs = _specs([paper])
    rows = []
    for exp, runs in sorted(results.items()):
        spec = specs.get(exp)
        hashes = sorted({(r.get("provenance") or {}).get("data_hash", "unknown") for r in runs})
        try:
            source, content = pool_identity(spec) if spec else (None, None)
        except (OSError, ValueError):
            source, content = None, None
        rows.append({"experiment": exp, "pool": (spec or {}).get("pool", "?"), "data hash": ", ".join(hashes),
                     "source": release_name(source) if source and hashes == [content]
                     else "not the data given to this page"})
    return pd.DataFrame(rows, columns=["experiment", "pool", "data hash", "source"])


def release_name(source: str) -> str:
    """What a dataset source is, without the machine's path: "Kaggle image folders", "CSV" or a bundle."""
    from pathlib import PurePath

    name = PurePath(source.replace(" (CSV schema)", "")).name
    if source.endswith("(CSV schema)"):
        return "image release in the CSV schema"
    if name.endswith(".csv"):
        return f"Kaggle CSV ({name})"
    if name.endswith((".npz", ".bundle")) or "." in name:
        return f"bundle ({name})"
    return f"image folders ({name}/)"


def datasets_table(datasets: dict) -> pd.DataFrame:
    """One row per loaded dataset, named by release and content hash (never by its path on disk)."""
    rows = [{"dataset": name, "release": release_name(d.source), "images": len(d),
             "classes": ", ".join(d.class_names), "content hash": d.source_hash}
            for name, d in datasets.items() if d is not None]
    return pd.DataFrame(rows, columns=["dataset", "release", "images", "classes", "content hash"])


# ----------------------------------------------------------------------------- the papers' own tables

SUB_COLUMNS = ("paper", "ours (95 % CI)", "verdict")
BASELINE_LABEL = "majority-class baseline"


def layouts_path() -> Path:
    """``claims/paper_tables.yaml`` of the checkout (or the copy an installed wheel ships)."""
    from fer_lib.config import REPO, _packaged

    here = REPO / "claims" / "paper_tables.yaml"
    return here if here.is_file() else _packaged("claims") / "paper_tables.yaml"


def paper_layouts(paper: str | None = None, path: Path | None = None) -> list[dict]:
    """The layout specs of the papers' result tables (all, or one paper's), in the file's order."""
    p = Path(path) if path is not None else layouts_path()
    data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    out = []
    for name, specs in data.items():
        if paper is None or name == paper:
            out += [dict(s, paper=name) for s in specs]
    return out


def paper_layout(table_id: str, path: Path | None = None) -> dict:
    """One layout spec by id; a clear error naming the file when there is none."""
    specs = paper_layouts(path=path)
    for s in specs:
        if s["id"] == table_id:
            return s
    raise KeyError(f"no table {table_id!r} in {path or layouts_path()}; known: {[s['id'] for s in specs]}")


def _cell_spec(cell) -> dict:
    """A layout cell as a dict: {claim} or {experiment, metric, paper}; {} for an empty cell."""
    if cell is None:
        return {}
    if isinstance(cell, str):
        return {"claim": cell}
    if isinstance(cell, dict) and set(cell) <= {"claim", "experiment", "metric", "paper"}:
        return dict(cell)
    raise ValueError(f"bad cell {cell!r} in {layouts_path()}: a claim id, null, or a mapping with "
                     "claim / experiment / metric / paper")


def _measure(ev: _Evaluator, exp: str, metric: str) -> tuple[float | None, tuple[float, float] | None]:
    """Our value (mean over seeds) and 95 % CI of one metric of one experiment; counts have no CI.
    Besides the verdict metrics: ``n_train_pool`` and ``test_count:<class>``."""
    runs = ev.runs(exp)
    if not runs:
        return None, None
    if metric == "n_train_pool":
        sizes = [(r.raw.get("sizes") or {}) for r in runs]
        return float(np.mean([s.get("train", 0) + s.get("val", 0) for s in sizes])), None
    if metric.startswith("test_count:"):
        cls = metric.split(":", 1)[1]
        return float(np.mean([(r.y == r.class_names.index(cls)).sum() for r in runs])), None
    point = ev.point(exp, metric)
    if point is None or metric_scale(metric) == "count":
        return point, None
    return point, ev.value_ci(exp, metric)


def _ours_text(value, ci, metric: str) -> str:
    scale = metric_scale(metric) if not metric.startswith("test_count:") and metric != "n_train_pool" else "count"
    text = _fmt(value, scale)
    if text and ci is not None and np.all(np.isfinite(ci)):
        text += f" [{_fmt(ci[0], scale, unit=False)}, {_fmt(ci[1], scale, unit=False)}]"
    return text


def _claim_cell(row: pd.Series) -> tuple[str, str, str]:
    """(paper, ours, verdict) of one evaluate_claims row; indicative judgements say so."""
    if row["kind"] == "reference":
        return _fmt(row["claimed"], "fraction"), "", ""
    paper, ours = format_row(row)
    return paper, ours, verdict_text(row["verdict"], row.get("indicative"))


def paper_table(table_id: str, claims_df: pd.DataFrame, results: Results, path: Path | None = None
                ) -> pd.DataFrame:
    """A paper's result table in its own layout, every cell ``paper | ours (95 % CI) | verdict``.

    ``claims_df`` is :func:`fer_lib.verdicts.evaluate_claims` output for the page's profile and
    ``results`` its runs. The layout comes from ``claims/paper_tables.yaml`` (rows x columns -> claim
    ids or measured metrics); ``baseline`` experiments add a majority-class row each. Sub-columns
    that stay empty in a column (no claim there: no paper figure, no verdict) are left out. The
    title is in ``df.attrs["caption"]``, which :func:`fer_lib.book.display.show` prints.
    """
    spec = paper_layout(table_id, path)
    heads, cols = list(spec["row_header"]), list(spec["columns"])
    by_id = claims_df.set_index("id")
    ev = _Evaluator(results, True, [])
    body: list[tuple[list[str], list[tuple[str, str, str]]]] = []
    col_metric: dict[int, str] = {}
    for row in spec["rows"]:
        label = [str(x) for x in row["label"]]
        if len(label) != len(heads) or len(row["cells"]) != len(cols):
            raise ValueError(f"{table_id} in {path or layouts_path()}: row {label} needs {len(heads)} label(s) "
                             f"and {len(cols)} cell(s)")
        cells = []
        for j, raw in enumerate(row["cells"]):
            cell = _cell_spec(raw)
            if "claim" in cell:
                if cell["claim"] not in by_id.index:
                    raise KeyError(f"{table_id}: claim {cell['claim']!r} is not in claims/claims.yaml "
                                   f"(fix {path or layouts_path()})")
                r = by_id.loc[cell["claim"]]
                r = r.iloc[0] if isinstance(r, pd.DataFrame) else r
                cells.append(_claim_cell(r))
                if r["kind"] == "value" and isinstance(r["metric"], str):  # baseline rows: values only
                    col_metric.setdefault(j, r["metric"])
            elif cell:
                paper = cell.get("paper")
                paper = "" if paper is None else (f"{paper:,}" if isinstance(paper, int) else str(paper))
                ours = ""
                if cell.get("experiment"):
                    ours = _ours_text(*_measure(ev, cell["experiment"], cell["metric"]), cell["metric"])
                    col_metric.setdefault(j, cell["metric"])
                cells.append((paper, ours, ""))
            else:
                cells.append(("", "", ""))
        body.append((label, cells))
    for exp in spec.get("baseline") or []:
        runs = results.get(exp)
        if not runs:
            continue
        base = majority_baseline(runs[0])
        label = [BASELINE_LABEL] + [""] * (len(heads) - 1)
        if len(heads) > 1:
            label[1] = f"always “{base['predicts']}” (test set of {exp.split('/', 1)[-1]})"
        else:
            label[0] = f"{BASELINE_LABEL}: always “{base['predicts']}” (test set of {exp.split('/', 1)[-1]})"
        cells = []
        for j in range(len(cols)):
            m = col_metric.get(j)
            v = base.get(m) if m else None
            cells.append(("", _fmt(v, metric_scale(m)) if v is not None else "", ""))
        body.append((label, cells))
    data: dict[tuple[str, str], list[str]] = {(h, ""): [lab[i] for lab, _ in body] for i, h in enumerate(heads)}
    for j, c in enumerate(cols):
        for k, sub in enumerate(SUB_COLUMNS):
            values = [cells[j][k] for _, cells in body]
            if sub == "ours (95 % CI)" or any(values):
                if sub == "ours (95 % CI)" and any(values) and not any("[" in v for v in values):
                    sub = "ours"  # p-values, counts: no interval in this column
                data[(c, sub)] = values
    out = pd.DataFrame(data)
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    out.attrs["caption"] = spec.get("title")
    out.attrs["wide"] = True
    return out


def rules_markdown() -> str:
    """The verdict rules as the book prints them: :data:`fer_lib.verdicts.RULES` in order, with the
    rules' and the claims file's versions (the ones every result records)."""
    from fer_lib.verdicts import RULES, versions

    v = versions()
    lines = [f"*Verdict rules version {v['rules']}, claims version {v['claims']}* "
             "(`fer_lib.verdicts.RULES`, `claims/claims.yaml`).", ""]
    lines += [f"- **{name[0].upper() + name[1:]}.** {text}" for name, text in RULES.items()]
    lines += ["- **Not testable.** The paper gives nothing an experiment can check (the reason is in the note).",
              "- **Missing.** The experiments the claim needs have no results in this profile yet.",
              "- **Reference.** A number the paper quotes for context (e.g. human accuracy), not a result."]
    return "\n".join(lines)
