"""Write the generated parts of the book's static pages into ``book/generated/``.

Called by :func:`fer_lib.book.build.build_book` before ``jupyter-book build``. Trains and executes
nothing: it reads the experiment configs (``experiments/*.yaml``), the claims
(``claims/claims.yaml``), the finished results (``results/<profile>/``) and the executed
notebooks (``build/notebooks/<profile>/``), and writes Markdown fragments that the pages in
``book/`` pull in with MyST ``{include}``, plus one figure:

==============================  =================================================
``profile.md``                  banner naming the profile (every static page)
``protocols_table.md``          the five protocols side by side (book/protocols.md)
``protocols_epochs.md``         epochs each experiment gets per profile
``plausible_table.md``          each FER2013 accuracy claim against the anchors
``plausible_anchors.md``        the literature anchors with their sources
``profiles.md``                 what each profile runs (book/reproduce.md)
``plausible_accuracy.png``      the same as a figure
``timings.md``                  hardware and run time per profile (book/status.md)
``notebooks_table.md``          papermill record of each executed notebook (book/status.md)
``packages.md``                 package versions: runs, notebooks, book build (book/status.md)
``build_info.json``             profile, commit and time of this build (for check_book.py)
==============================  =================================================

"""
from __future__ import annotations

import json
import platform
import re
from collections import defaultdict
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import yaml

from fer_lib import claims as fclaims
from fer_lib import experiments as fexp
from fer_lib import verdicts
from fer_lib.book.display import verdict_text
from fer_lib.book.format import minute
from fer_lib.book.tables import book_evidence, paper_info
from fer_lib.book.settings_text import ROWS
from fer_lib.config import PROFILES, REPO, get_profile, project_dirs
from fer_lib.results import git_commit, load_results

PAPER_ORDER = ("wasey", "emotionnet", "lamichhane", "ozer", "xu")


def toc_notebooks() -> tuple[str, ...]:
    """Names of the generated notebooks the book's _toc.yml lists, in order."""
    toc = (REPO / "_toc.yml").read_text(encoding="utf-8")
    return tuple(re.findall(r"book/generated/([A-Za-z0-9_.-]+?)(?:\.ipynb)?\s*$", toc, flags=re.M))


def load_anchors() -> list[tuple[str, float, float, str]]:
    """Published FER2013 accuracies of other work (``claims/literature.yaml``), cited on the page."""
    raw = yaml.safe_load((project_dirs().claims.parent / "literature.yaml").read_text(encoding="utf-8"))
    return [(a["label"], float(a["low"]), float(a["high"]), a["source"]) for a in raw["anchors"]]





def pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.{digits}f} %"


def md_cell(text: object) -> str:
    """Text safe inside a pipe-table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(header: list[str], rows: list[list[object]]) -> str:
    out = ["| " + " | ".join(md_cell(h) for h in header) + " |",
           "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(md_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def _rel(p: Path) -> str:
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        return str(p)


def profile_description(profile: str) -> str:
    return get_profile(profile).summary


# ----------------------------------------------------------------------------- inputs

def load_papers() -> dict[str, dict]:
    papers = fexp.list_papers()
    order = [p for p in PAPER_ORDER if p in papers] + [p for p in papers if p not in PAPER_ORDER]
    return {p: fexp.load_paper(p) for p in order}


def result_profiles() -> list[str]:
    base = project_dirs().results
    found = {p.name for p in base.glob("*") if p.is_dir() and any(p.glob("*/*/seed*.json"))}
    return [p for p in PROFILES if p in found] + sorted(found - set(PROFILES))


def load_notebooks(nb_dir: Path) -> dict[str, dict]:
    out = {}
    for p in sorted(nb_dir.glob("*.ipynb")):
        out[p.stem] = json.loads(p.read_text(encoding="utf-8"))
    return out


# ----------------------------------------------------------------------------- profile banner

def write_profile(out: Path, profile: str, nb_dir: Path, commit: str, dirty: bool, built: str) -> None:
    kind = "note" if get_profile(profile).evidence else "warning"
    text = (f"```{{admonition}} Profile: {profile}\n:class: {kind} profile-banner\n"
            f"This page was built from the **{profile}** profile ({profile_description(profile)}): results in "
            f"`results/{profile}/`, executed notebooks in `{_rel(nb_dir)}/`. Book built {built} "
            f"from commit `{commit}`{' with uncommitted changes' if dirty else ''}.\n```\n")
    (out / "profile.md").write_text(text, encoding="utf-8")


# ----------------------------------------------------------------------------- protocols

def _names(names: list[str], all_names: list[str]) -> str:
    """Experiment names, with a run of names sharing a prefix ('ck_full', 'ck_cnn3d', ...) as 'ck_*'
    when the run holds every experiment with that prefix."""
    out, rest = [], list(names)
    for pre in sorted({n.split("_", 1)[0] + "_" for n in names if "_" in n}):
        members = [n for n in all_names if n.startswith(pre)]
        if len(members) > 2 and all(m in rest for m in members):
            out.append(f"`{pre}*`")
            rest = [n for n in rest if n not in members]
    return ", ".join(out + [f"`{n}`" for n in rest])


def _grouped(exps: list, fn) -> str:
    """One value when every experiment agrees; else the most common value, then 'for <experiments>:
    <value>' for each exception."""
    groups: dict[str, list[str]] = {}
    for e in exps:
        groups.setdefault(fn(e.spec), []).append(e.name)
    if len(groups) == 1:
        return next(iter(groups))
    ordered = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    all_names = [e.name for e in exps]
    return ordered[0][0] + "".join(f"; for {_names(names, all_names)}: {v}" for v, names in ordered[1:])


def write_protocols(out: Path, papers: dict[str, dict]) -> None:
    exps = {p: fexp.experiments_for(p) for p in papers}
    chapters = set(toc_notebooks())

    def head(p: str) -> str:
        short = paper_info(p)["authors"]
        return f"{{doc}}`{short} </book/generated/{p}>`" if p in chapters else short

    header = ["Setting"] + [head(p) for p in papers]
    rows = [[label] + [_grouped(exps[p], fn) for p in papers] for label, fn in ROWS]
    rows.append(["Experiments"] + [", ".join(f"`{e.name}`" for e in exps[p]) for p in papers])
    rows.append(["Assumptions (details the paper leaves out)"] + [str(len(cfg.get("assumptions", [])))
                                                                 for cfg in papers.values()])
    text = md_table(header, rows)
    text += "\n" + "".join(f"- **{p}** — {cfg['title']}, `experiments/{p}.yaml`\n" for p, cfg in papers.items())
    (out / "protocols_table.md").write_text(text, encoding="utf-8")

    prof_names = list(PROFILES)
    header = ["Experiment", "Model", "Description"] + [f"epochs ({p})" for p in prof_names] + \
             [f"seeds ({p})" for p in prof_names]
    rows = []
    for p in papers:
        for e in exps[p]:
            rows.append([f"`{e.id}`", f"`{e.spec['model']}`", e.spec.get("description", "")]
                        + [fexp.train_config(e, pr).epochs for pr in prof_names]
                        + [len(PROFILES[pr].seeds) for pr in prof_names])
    smoke = PROFILES["smoke"]
    caps = {k: getattr(smoke, f"max_{k}") for k in ("train", "val", "test", "folds") if getattr(smoke, f"max_{k}")}
    note = ("\nThe smoke profile also caps the data: " + ", ".join(f"{k} ≤ {v}"
                                                                    for k, v in caps.items()) + ".\n") if caps else ""
    (out / "protocols_epochs.md").write_text(md_table(header, rows) + note, encoding="utf-8")


# ----------------------------------------------------------------------------- plausible accuracy

def _zone(acc: float) -> str:
    if acc < 0.60:
        return "below the human range"
    if acc <= 0.70:
        return "within the human range (65 ± 5 %)"
    if acc <= 0.733:
        return "at the level of the Kaggle winner and single VGG-type models"
    best = max(hi for _, _, hi, _ in load_anchors())
    if acc <= best:
        return "at the level of published ensembles"
    return f"above the best published FER2013 results (ensembles, ≈ {100 * best:.0f} %)"


def _section_short(section: str) -> str:
    """'4.4 Comparison and evaluation of result' -> '§4.4', 'Results and Evaluation, …' -> 'Results'."""
    first = section.split()[0].rstrip(".,")
    return f"§{first}" if first[:1].isdigit() else first


def write_plausible(out: Path, profile: str, papers: dict[str, dict]) -> None:
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after choosing the backend

    anchors_ = load_anchors()
    claims = fclaims.load_claims()
    specs = {e.id: e.spec for p in papers for e in fexp.experiments_for(p)}
    shown, results, evaluated = book_evidence(profile)  # the scoreboard's runs and verdicts
    evaluated = evaluated.set_index("id")
    rows, points, other = [], [], []
    for c in claims:
        if c.kind != "value" or c.metric != "accuracy":
            continue
        spec = specs[c.experiment]
        comparable = spec.get("dataset", "fer2013") == "fer2013" and not spec.get("classes")
        if not comparable:
            other.append(c)
            continue
        ev = evaluated.loc[c.id]
        m = None
        if results.get(c.experiment) and ev["reproduced"] is not None and not pd.isna(ev["reproduced"]):
            m = (float(ev["reproduced"]), (float(ev["ci_low"]), float(ev["ci_high"])))
        other_profile = f" ({shown[c.paper]})" if shown.get(c.paper, profile) != profile else ""
        rows.append([c.paper, f"`{c.id}`", c.section, pct(c.value), _zone(c.value), f"`{c.experiment}`",
                     "not run yet" if m is None else f"{pct(m[0])} [{pct(m[1][0])}, {pct(m[1][1])}]{other_profile}",
                     verdict_text(ev["verdict"], ev["indicative"])])
        points.append((c, m))
    refs = [c for c in claims if c.kind == "reference"]
    bare = [c for c in claims if c.kind == "comparison" and any((x or "").startswith("reference:") for x in (c.a, c.b))]

    text = md_table(["Paper", "Claim", "Section", "Claimed accuracy", "Where it falls",
                     "Our experiment", "Measured, 95 % CI", "Verdict"], rows)
    if other:
        text += ("\nNot on this scale (another data set or fewer classes): "
                 + "; ".join(f"`{c.id}` {pct(c.value)} on `{c.experiment}`"
                             f"{' (classes ' + '/'.join(specs[c.experiment]['classes']) + ')' if specs[c.experiment].get('classes') else ''}"
                             for c in other) + ".\n")
    if bare:
        text += ("\nClaims measured against an anchor rather than a number: "
                 + "; ".join(f"`{c.id}` ({c.a} better than {c.b})" for c in bare) + ".\n")
    papers_without = [p for p in papers if p not in {c.paper for c, _ in points}]
    if papers_without:
        text += ("\nPapers that state no FER2013 accuracy figure: " + ", ".join(papers_without)
                 + " — their claims are comparisons or directions only.\n")
    if refs:
        text += "\n" + md_table(["Quoted by", "Claim", "Result quoted", "Accuracy"],
                                [[c.paper, f"`{c.id}`", c.label or "", pct(c.value, 2)
                                  + (f" ± {pct(c.spread, 0)}" if c.spread else "")] for c in refs])
    (out / "plausible_table.md").write_text(text, encoding="utf-8")

    # figure: anchors as bands / lines, claims as diamonds, our measurements as dots with CI
    fig, ax = plt.subplots(figsize=(8.5, 0.3 * (len(points) + len(refs)) + 2.0))
    colors = ["#c7e9c0", "#6baed6", "#fdae6b", "#9e9ac8"]
    for (label, lo, hi, _), col in zip(anchors_, colors):
        if hi > lo:
            ax.axvspan(100 * lo, 100 * hi, color=col, alpha=0.45, label=label)
        else:
            ax.axvline(100 * lo, color=col, lw=2.5, label=label)
    ylabels = []
    labelled = set()
    for i, (c, m) in enumerate(points):
        ax.plot(100 * c.value, i, "D", color="crimson", ms=7, label="claimed" if i == 0 else None)
        if m is not None:
            lo, hi = m[1]
            prof = shown.get(c.paper, profile)
            label = f"measured, {prof} profile" + ("" if prof == profile else " (indicative)")
            ax.errorbar(100 * m[0], i, xerr=None if np.isnan(lo) else [[100 * (m[0] - lo)], [100 * (hi - m[0])]],
                        fmt="o", color="black", mfc="black" if prof == profile else "white", ms=5, capsize=3,
                        label=None if label in labelled else label)
            labelled.add(label)
        ylabels.append(f"{paper_info(c.paper)['authors']} {_section_short(c.section)}: "
                       f"{c.experiment.split('/')[1]}")
    for j, c in enumerate(refs):
        y = len(points) + j
        ax.plot(100 * c.value, y, "s", color="grey", ms=5, label="quoted by Xu (literature table)" if j == 0 else None)
        ylabels.append(f"{c.label or c.id}")
    if points and refs:
        ax.axhline(len(points) - 0.5, color="grey", lw=0.8, ls=":")
    ax.set_yticks(range(len(ylabels)), ylabels, fontsize=8)
    ax.invert_yaxis()
    allx = [100 * c.value for c, _ in points] + [100 * c.value for c in refs] + [55, 80]
    allx += [100 * m[0] for _, m in points if m is not None]
    ax.set_xlim(min(allx) - 3, max(allx) + 3)
    ax.set_xlabel("FER2013 7-class test accuracy (%)")
    ax.set_title("Claimed and measured FER2013 accuracies against the literature", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.6 / fig.get_figheight()), ncol=3)
    fig.savefig(out / "plausible_accuracy.png", dpi=110, bbox_inches="tight")  # the legend below the axes
    plt.close(fig)

    anchors = md_table(["Anchor", "Accuracy", "Source"],
                       [[a[0].split(" (")[0], pct(a[1]) if a[1] == a[2] else f"{pct(a[1])} – {pct(a[2])}", a[3]]
                        for a in load_anchors()])
    (out / "plausible_anchors.md").write_text(anchors, encoding="utf-8")


# ----------------------------------------------------------------------------- timings and status

def write_profiles(out: Path) -> None:
    rows = []
    for name, prof in PROFILES.items():
        if prof.epochs is not None:
            ep = f"{prof.epochs} for every experiment"
        elif prof.max_epochs is not None:
            ep = f"the paper's, capped at {prof.max_epochs}"
        else:
            ep = "the paper's"
        if prof.max_epoch_repeats is not None:
            ep += f", at most {prof.max_epoch_repeats} pass(es) over the training set each"
        caps = ", ".join(f"{k} ≤ {getattr(prof, f'max_{k}')}" for k in ("train", "val", "test", "folds")
                         if getattr(prof, f"max_{k}")) or "full data"
        rows.append([f"`{name}`", prof.summary, ", ".join(map(str, prof.seeds)), ep, caps])
    (out / "profiles.md").write_text(md_table(["Profile", "Purpose", "Seeds", "Epochs", "Data"], rows),
                                     encoding="utf-8")


def _hms(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _calls(invocations: set[str | None]) -> str:
    """How many separate `fer run` calls (on a GPU: leases) made these runs; runs from before the
    runner recorded its call have none."""
    n = len(invocations - {None})
    if None not in invocations:
        return str(n)
    return f"{n} + unrecorded" if n else "not recorded"


def write_timings(out: Path, papers: dict[str, dict]) -> None:
    profiles = result_profiles()
    rows, per_paper = [], []
    for prof in profiles:
        res = load_results(prof)
        runs = [r for rs in res.values() for r in rs]
        devices = sorted({r["provenance"].get("device", "?") for r in runs})
        wall = sum(r["timing"]["wall_s"] for r in runs)
        finished = sorted(r["provenance"].get("finished", "") for r in runs)
        # every experiment of the five papers and of the references (the runs counted include theirs)
        expected = len(PROFILES[prof].seeds) * len(fexp.experiment_ids()) if prof in PROFILES else None
        rows.append([prof, f"{len(runs)}" + (f" of {expected}" if expected else ""), len(res),
                     "; ".join(devices), _hms(wall), f"{minute(finished[0])} … {minute(finished[-1])}" if finished else "–"])
        by_paper: dict[str, list[dict]] = defaultdict(list)
        for r in runs:
            by_paper[r["paper"]].append(r)
        for p in papers:
            if rs := by_paper[p]:
                per_paper.append([prof, p, len(rs), "; ".join(sorted({r["provenance"].get("device", "?") for r in rs})),
                                  _calls({r["provenance"].get("invocation") for r in rs}),
                                  _hms(sum(r["timing"]["wall_s"] for r in rs))])
    if not rows:
        text = ("No finished runs yet under `results/`: after a run, this table gives the hardware and the "
                "time each profile took.\n")
    else:
        text = md_table(["Profile", "Runs finished", "Experiments", "Device(s)", "Training + evaluation time "
                         "(sum over runs)", "Finished (UTC)"], rows)
        text += "\n" + md_table(["Profile", "Paper", "Runs", "Device(s)", "`fer run` calls", "Time (sum over runs)"],
                                per_paper)
    nb_rows = []
    for prof in PROFILES:
        nbs = load_notebooks(REPO / "build" / "notebooks" / prof)
        if nbs:
            dur = sum((nb.get("metadata", {}).get("papermill", {}).get("duration") or 0) for nb in nbs.values())
            nb_rows.append([prof, len(nbs), _hms(dur)])
    if nb_rows:
        text += "\n" + md_table(["Profile", "Executed notebooks", "Notebook execution time (sum)"], nb_rows)
    (out / "timings.md").write_text(text, encoding="utf-8")


def write_notebook_status(out: Path, profile: str, nb_dir: Path, notebooks: dict[str, dict]) -> None:
    order = toc_notebooks()
    names = [n for n in order if n in notebooks] + sorted(set(notebooks) - set(order))
    rows = []
    for n in names:
        pm = notebooks[n].get("metadata", {}).get("papermill", {})
        params = pm.get("parameters", {})
        status = "failed" if pm.get("exception") else ("ok" if pm.get("end_time") else "not run by papermill")
        link = f"{{doc}}`{n} </book/generated/{n}>`" if n in order else n
        train = params.get("train")
        rows.append([link, params.get("profile", "–"), (pm.get("start_time") or "–")[:19].replace("T", " "),
                     _hms(pm["duration"]) if pm.get("duration") else "–", status,
                     "–" if train is None else ("yes" if train else "no (rendered existing results)")])
    text = md_table(["Notebook", "Profile", "Started (UTC)", "Duration", "Status", "Trained in the notebook"], rows)
    if not rows:
        text = f"No executed notebooks in `{nb_dir}/`.\n"
    (out / "notebooks_table.md").write_text(text, encoding="utf-8")


def write_packages(out: Path, profile: str, notebooks: dict[str, dict]) -> None:
    res = load_results(profile)
    runs = [r for rs in res.values() for r in rs]
    versions: dict[str, set[str]] = defaultdict(set)
    backends, devices = set(), set()
    for r in runs:
        for k, v in r["provenance"].get("packages", {}).items():
            versions[k].add(v)
        backends.add(r["provenance"].get("backend", "?"))
        devices.add(r["provenance"].get("device", "?"))
    text = ""
    if runs:
        text += f"**Training runs** ({len(runs)} runs of profile `{profile}`; backend {', '.join(sorted(backends))}; " \
                f"device {'; '.join(sorted(devices))}):\n\n"
        text += md_table(["Package", "Version(s)"], [[k, ", ".join(sorted(v))] for k, v in versions.items()])
    else:
        text += f"**Training runs:** no finished runs under `results/{profile}/`.\n"
    kernels = {(nb.get("metadata", {}).get("kernelspec", {}).get("name", "?"),
                nb.get("metadata", {}).get("language_info", {}).get("version", "?")) for nb in notebooks.values()}
    text += "\n**Notebook kernels:** " + "; ".join(f"`{k}` (Python {v})" for k, v in sorted(kernels)) + "\n"
    pm = sorted({nb.get("metadata", {}).get("papermill", {}).get("version", "?") for nb in notebooks.values()})
    text += f"executed with papermill {', '.join(pm)}.\n"
    book = ["jupyter-book", "sphinx", "myst-nb", "myst-parser", "sphinx-book-theme", "nbformat", "matplotlib",
            "pandas", "numpy"]
    vers = []
    for p in book:
        try:
            vers.append([p, metadata.version(p)])
        except metadata.PackageNotFoundError:
            vers.append([p, "not installed"])
    text += f"\n**Book build** (Python {platform.python_version()}):\n\n" + md_table(["Package", "Version"], vers)
    (out / "packages.md").write_text(text, encoding="utf-8")


# ----------------------------------------------------------------------------- all

def write_all(profile: str, out: Path, nb_dir: Path) -> dict:
    """Write every fragment for ``profile`` into ``out``; returns the build info it recorded."""
    out.mkdir(parents=True, exist_ok=True)
    commit, dirty = git_commit(paths=())
    commit = commit[:10]
    built = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    papers = load_papers()
    results = load_results(profile)
    notebooks = load_notebooks(nb_dir)
    write_profile(out, profile, nb_dir, commit, dirty, built)
    write_protocols(out, papers)
    write_plausible(out, profile, papers)
    write_profiles(out)
    write_timings(out, papers)
    write_notebook_status(out, profile, nb_dir, notebooks)
    write_packages(out, profile, notebooks)
    info = {"profile": profile, "commit": commit, "dirty": dirty, "built": built,
            "notebooks": sorted(notebooks), "runs": sum(len(v) for v in results.values())}
    (out / "build_info.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"[book] wrote {len(list(out.glob('*.md')))} fragments and 1 figure to {out}/ "
          f"(profile {profile}, {info['runs']} runs, {len(notebooks)} notebooks)")
    return info
