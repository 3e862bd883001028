"""The data behind every result, audited: class balance of each split the experiments use, and
exact / near-duplicate images within and across splits (the leakage a reader should know of)."""
from __future__ import annotations

import hashlib
from itertools import combinations
from typing import Sequence

import cv2
import numpy as np
import pandas as pd

from fer_lib import align, cache
from fer_lib import data as fdata
from fer_lib.config import DataPaths
from fer_lib.experiment_data import image_split, load_dataset
from fer_lib.experiments import experiments_for, list_papers

def split_indices(exp_id: str, paths: DataPaths, profile: str = "paper", seed: int = 0) -> dict[str, np.ndarray]:
    """Train/val/test indices into the experiment's dataset pool, as :func:`experiments.prepare`
    chooses them but without touching pixels (k-fold splits: the pooled test folds)."""
    paper, name = exp_id.split("/", 1)
    exp = experiments_for(paper, [name])[0]
    spec = exp.spec
    ds = load_dataset(spec, paths)
    if spec.get("dataset") == "ckplus":  # sequences (k-fold or the stratified split over clips)
        _, labels, _, _ = fdata.ck_sequences(ds, frames=(spec.get("model_kwargs") or {}).get("input_shape", [3])[0])
        return {"clips": np.arange(len(labels)), "labels": labels}
    sp = image_split(exp, profile, seed, ds)
    return {"train": sp.train, "val": sp.val, "test": sp.test, "name": sp.name}


def class_balance(paths: DataPaths, papers: Sequence[str] | None = None, profile: str = "paper", seed: int = 0) -> pd.DataFrame:
    """Images per class in every distinct split the experiments use (one row per split part)."""
    rows: list[dict] = []
    users: dict[str, list[str]] = {}
    for paper in papers or list_papers():
        for e in experiments_for(paper):
            s = e.spec
            key = repr((s.get("dataset"), s.get("pool"), s.get("classes"), s.get("split")))
            if key in users:
                users[key].append(e.id)
                continue
            users[key] = [e.id]
            try:
                ds = load_dataset(s, paths)
            except fdata.DataError:  # a dataset the user does not have (e.g. only FER2013): no rows
                continue
            parts = split_indices(e.id, paths, profile, seed)
            if "clips" in parts:
                labelled = {"clips (sequences)": parts["labels"]}
                desc = (f"CK+ sequences, subject-independent {s['split'].get('k')}-fold"
                        if s["split"].get("kind") == "subject_kfold" else
                        "CK+ sequences, stratified " + "/".join(f"{round(f * 100)}" for f in s["split"]["fractions"]))
            else:
                labelled = {k: ds.labels[parts[k]] for k in ("train", "val", "test")}
                desc = parts["name"]
            for part, labels in labelled.items():
                counts = np.bincount(labels, minlength=len(ds.class_names))
                rows.append({"split": desc, "pool": f"{s.get('dataset', 'fer2013')}/{s.get('pool', 'all')}",
                             "part": part, **{c: int(n) for c, n in zip(ds.class_names, counts)},
                             "total": int(counts.sum()),
                             "smallest/largest": round(float(counts.min() / max(counts.max(), 1)), 3),
                             "_key": key})
    df = pd.DataFrame(rows)
    if len(df):
        df["used by"] = df.pop("_key").map({k: _by_paper(v) for k, v in users.items()})
        # every class column before the totals (CK+'s own classes would otherwise come after them)
        tail = ["total", "smallest/largest", "used by"]
        df = df[[c for c in df.columns if c not in tail] + tail]
    return df


def _by_paper(ids: Sequence[str]) -> str:
    """Experiment ids grouped by paper, "emotionnet: full, no_align; ozer: csv-cnn" (shorter than the ids)."""
    groups: dict[str, list[str]] = {}
    for i in ids:
        paper, _, name = i.partition("/")
        groups.setdefault(paper, []).append(name)
    return "; ".join(f"{p}: {', '.join(names)}" for p, names in groups.items())


def image_hashes(images: np.ndarray, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(exact, average) hashes per image: sha1 of the pixels, and a ``size``x``size`` average hash
    (area-downsampled, thresholded at its mean) packed into bytes."""
    exact = np.array([hashlib.sha1(im.tobytes()).hexdigest()[:16] for im in images])
    small = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images]).astype(np.float32)
    bits = small.reshape(len(images), -1) > small.reshape(len(images), -1).mean(1, keepdims=True)
    ahash = np.array([b.tobytes().hex() for b in np.packbits(bits, axis=1)])
    return exact, ahash


def duplicate_audit(images: np.ndarray, labels: np.ndarray, groups: np.ndarray, near_threshold: float = 0.25,
                    class_names: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exact and near duplicates within and across ``groups`` (e.g. FER2013 Training/PublicTest/PrivateTest).

    * exact: identical pixels (sha1);
    * near: the same 8x8 average hash **and** standardised 16x16 thumbnails (zero mean, unit
      variance) whose mean absolute difference is below ``near_threshold`` standard deviations --
      catches re-encoded, rescaled or brightness-shifted copies and ignores hash collisions of
      different faces (eyeballed on FER2013: below 0.25 nearly every pair is the same photograph).
      Exact copies are counted once, as exact.
      Images that are almost uniform (std < 2 grey levels) are reported separately, not as duplicates.

    Returns (summary per kind and group pair, one row per duplicate pair with labels).
    """
    images = np.asarray(images)
    pairs, blank = _find_pairs(images, near_threshold)
    names = list(class_names) if class_names is not None else None
    rows = []
    for kind, i, j in pairs:
        gi, gj = sorted((str(groups[i]), str(groups[j])))
        rows.append({"kind": kind, "i": i, "j": j, "groups": f"{gi}–{gj}",
                     "label_i": names[labels[i]] if names else int(labels[i]),
                     "label_j": names[labels[j]] if names else int(labels[j]),
                     "same_label": bool(labels[i] == labels[j])})
    detail = pd.DataFrame(rows, columns=["kind", "i", "j", "groups", "label_i", "label_j", "same_label"])
    if len(detail):
        summary = (detail.groupby(["kind", "groups"])
                   .agg(pairs=("i", "size"), label_conflicts=("same_label", lambda s: int((~s).sum())))
                   .reset_index())
    else:
        summary = pd.DataFrame(columns=["kind", "groups", "pairs", "label_conflicts"])
    blank_rows = pd.DataFrame({"kind": "near-uniform image", "groups": pd.Series(groups[blank]).astype(str)})
    if len(blank_rows):
        b = blank_rows.groupby(["kind", "groups"]).size().rename("pairs").reset_index()
        b["label_conflicts"] = np.nan
        summary = pd.concat([summary, b], ignore_index=True)
    return summary, detail


def _find_pairs(images: np.ndarray, near_threshold: float = 0.25) -> tuple[list[tuple[str, int, int]], np.ndarray]:
    """(kind, i, j) for every exact / near duplicate pair (see :func:`duplicate_audit`), and the
    mask of near-uniform images (never paired)."""
    exact, ahash = image_hashes(images)
    blank = images.reshape(len(images), -1).std(1) < 2
    thumbs = np.stack([cv2.resize(im, (16, 16), interpolation=cv2.INTER_AREA) for im in images]).astype(np.float32)
    thumbs = thumbs.reshape(len(images), -1)
    thumbs = (thumbs - thumbs.mean(1, keepdims=True)) / (thumbs.std(1, keepdims=True) + 1e-6)
    pairs = []
    for kind, keys in (("exact", exact), ("near", ahash)):
        order = np.argsort(keys, kind="stable")
        k_sorted = keys[order]
        bounds = np.flatnonzero(np.r_[True, k_sorted[1:] != k_sorted[:-1], True])
        for s, e in zip(bounds[:-1], bounds[1:]):
            if e - s < 2:
                continue
            members = [int(i) for i in order[s:e] if not blank[i]]
            for i, j in combinations(members, 2):
                if kind == "near":
                    if exact[i] == exact[j]:
                        continue  # already an exact pair
                    if np.abs(thumbs[i] - thumbs[j]).mean() > near_threshold:
                        continue
                pairs.append((kind, i, j))
    return pairs, blank


def cached_duplicate_pairs(images: np.ndarray, near_threshold: float = 0.25) -> pd.DataFrame:
    """Exact / near duplicate pairs (columns kind, i, j: indices into ``images``) of a dataset pool,
    computed once and cached under the pool's content hash (like the alignment table), so every
    run can record its own leakage at no cost (about 5 s for all of FER2013 the first time)."""
    images = np.asarray(images)
    key = cache.hash_arrays(images)
    path = cache.cache_dir() / "duplicates" / f"pairs-{key}-{near_threshold:g}.npz"
    if path.exists():
        a = cache.load_arrays(path)
        return pd.DataFrame({"kind": np.where(a["exact"], "exact", "near"), "i": a["i"], "j": a["j"]})
    pairs, _ = _find_pairs(images, near_threshold)
    i = np.array([p[1] for p in pairs], dtype=np.int64)
    j = np.array([p[2] for p in pairs], dtype=np.int64)
    exact = np.array([p[0] == "exact" for p in pairs], dtype=bool)
    cache.save_arrays(path, i=i, j=j, exact=exact)
    return pd.DataFrame({"kind": np.where(exact, "exact", "near"), "i": i, "j": j})


def train_test_leaks(pairs: pd.DataFrame, usage: np.ndarray) -> dict:
    """Duplicate pairs joining a training image to a test image, and the test images they leak.

    ``pairs`` is :func:`duplicate_audit`'s detail table over images whose FER2013 usage is ``usage``.
    """
    cross = pairs[pairs["groups"].str.contains("Training") & pairs["groups"].str.contains("Test")]
    test_ids = set(np.flatnonzero(np.asarray(usage) != "Training").tolist())
    leaked = {int(k) for pair in zip(cross["i"], cross["j"]) for k in pair if k in test_ids}
    return {"cross": cross, "exact": int((cross["kind"] == "exact").sum()), "near": int((cross["kind"] == "near").sum()),
            "leaked": leaked, "n_test": len(test_ids), "share": len(leaked) / max(len(test_ids), 1)}


def distinct_pairs(pairs: pd.DataFrame, all_pairs: pd.DataFrame, n: int) -> list:
    """The first ``n`` rows of ``pairs`` none of whose images (or their other copies in
    ``all_pairs``) was shown already: a gallery without repeats."""
    shown: set[int] = set()
    out = []
    for r in pairs.itertuples():
        if r.i not in shown and r.j not in shown and len(out) < n:
            out.append(r)
            touching = all_pairs["i"].isin([r.i, r.j]) | all_pairs["j"].isin([r.i, r.j])
            shown |= set(all_pairs.loc[touching, ["i", "j"]].to_numpy().ravel().tolist())
    return out


def alignment_sample(datasets: dict[str, fdata.FaceDataset | None], n: int, seed: int = 0
                     ) -> tuple[pd.DataFrame, dict, align.FaceAligner]:
    """dlib detection rate and tilt on a seeded sample of each dataset (FER2013 first: the aligner's
    fallback box is calibrated on it). Returns the table, the per-dataset measurements
    ``{name: (dataset, indices, measured)}`` and the aligner."""
    aligner = align.FaceAligner()
    rng = np.random.default_rng(seed)
    rows, infos = [], {}
    for name, ds in datasets.items():
        if ds is None:
            continue
        idx = np.sort(rng.choice(len(ds), size=min(n, len(ds)), replace=False))
        if name.startswith("FER"):
            aligner.calibrate(ds.images, sample=min(500, len(ds)))
        measured = [aligner.measure(ds.images[i]) for i in idx]
        infos[name] = (ds, idx, measured)
        status = pd.Series([m.status_name for m in measured]).value_counts()
        rows.append({"dataset": name, "images": len(idx),
                     "detection rate": float(np.mean([m.detected for m in measured])), **status.to_dict(),
                     "median |angle| (detected)": float(np.median([abs(m.angle_deg) for m in measured if m.detected]
                                                                  or [np.nan]))})
    return pd.DataFrame(rows).fillna(0), infos, aligner


def duplicate_groups(pairs: pd.DataFrame, n: int) -> np.ndarray:
    """A group label per image (0..n-1 of :func:`duplicate_audit`'s input): images joined by an
    exact or near duplicate pair, directly or through others, share a label. Passed to a run as
    ``run['test']['groups']`` (in the order of its test ids), the verdict engine resamples these
    groups instead of single images."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    i, j = np.asarray(pairs["i"], dtype=np.int64), np.asarray(pairs["j"], dtype=np.int64)
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def leaked_test_images(pairs: pd.DataFrame, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Boolean mask over ``test`` (indices into :func:`duplicate_audit`'s input): True where the
    test image has an exact or near copy among ``train`` (the images that run trained on)."""
    train_set = set(np.asarray(train).tolist())
    leaked: set[int] = set()
    for a, b in zip(np.asarray(pairs["i"]).tolist(), np.asarray(pairs["j"]).tolist()):
        if a in train_set:
            leaked.add(b)
        if b in train_set:
            leaked.add(a)
    return np.array([t in leaked for t in np.asarray(test).tolist()], dtype=bool)


def test_set_counts(paper_counts: dict[str, int], ds: fdata.FaceDataset) -> pd.DataFrame:
    """The paper's per-class test counts against each FER2013 test set of ``ds`` (one row per
    candidate: counts per class, total, summed absolute difference to the paper, exact match)."""
    unknown = sorted(set(paper_counts) - set(ds.class_names))
    if unknown:
        raise ValueError(f"paper counts name class(es) {unknown} not in {ds.class_names}")
    rows = [{"test set": "paper", **{c: int(paper_counts.get(c, 0)) for c in ds.class_names},
             "total": int(sum(paper_counts.values())), "difference": 0, "matches": True}]
    for key, usages in fdata.TEST_USAGES.items():
        counts = np.bincount(ds.labels[np.isin(ds.usage, usages)], minlength=len(ds.class_names))
        diff = int(sum(abs(int(n) - int(paper_counts.get(c, 0))) for c, n in zip(ds.class_names, counts)))
        rows.append({"test set": key, **{c: int(n) for c, n in zip(ds.class_names, counts)},
                     "total": int(counts.sum()), "difference": diff, "matches": diff == 0})
    return pd.DataFrame(rows)


def matching_test_set(paper_counts: dict[str, int], ds: fdata.FaceDataset) -> str:
    """The FER2013 test set (``public``, ``private`` or ``all``, as :func:`splits.official` takes
    it) whose per-class counts are exactly the paper's; ValueError naming the nearest otherwise."""
    table = test_set_counts(paper_counts, ds).iloc[1:]
    exact = table[table["matches"]]
    if len(exact) != 1:
        near = table.sort_values("difference").iloc[0]
        raise ValueError(f"no single FER2013 test set has the paper's per-class counts; nearest: "
                         f"{near['test set']} (off by {near['difference']} images)")
    return str(exact["test set"].iloc[0])
