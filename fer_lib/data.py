"""Load, validate and cache the FER datasets as users download them.

Three sources, one in-memory form (:class:`FaceDataset`):

* FER2013 in the Kaggle image-folder layout: ``<root>/{train,test}/<emotion>/<Usage>_<id>.jpg``;
  the file-name prefix (``Training``/``PublicTest``/``PrivateTest``) is kept as ``usage``.
* FER2013 as the original Kaggle ``fer2013.csv`` (``emotion,pixels,Usage``, 35,887 rows).
* CK+48: ``<root>/<emotion>/S<subject>_<sequence>_<frame>.png`` with subject, sequence and
  frame kept, so splits can be made by subject and sequences rebuilt.

Every bad input (corrupt file, wrong size, missing class folder, malformed CSV row, empty
folder) raises :class:`DataError` naming the file and what to do, unless the caller asks for
``on_error="skip"``, in which case the skipped files are counted in ``dataset.skipped``.
Decoded arrays are cached outside the repo (see :mod:`fer_lib.cache`), so later loads of the
whole of FER2013 take well under a second.
"""
from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Literal, Sequence

import cv2
import numpy as np

from fer_lib import align, cache
from fer_lib.config import CKPLUS_CLASSES, FER2013_CLASSES

#: Kaggle label order (``emotion`` column 0..6) and folder names of the image release.
FER2013_USAGES: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
#: The usage of a test/ image whose file name lacks the PublicTest_/PrivateTest_ prefix (some mirrors).
UNSPLIT_TEST = "Test"
#: The usages of each official test set: "all" also takes test/ images of unknown half.
TEST_USAGES: dict[str, tuple[str, ...]] = {"public": ("PublicTest",), "private": ("PrivateTest",),
                                           "all": ("PublicTest", "PrivateTest", UNSPLIT_TEST)}
IMAGE_SIZE = 48
CACHE_VERSION = 1
OnError = Literal["raise", "skip"]


def _check_on_error(on_error: str) -> None:
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip'. Received: on_error={on_error!r}")


class DataError(ValueError):
    """A dataset file or folder is not what the loader expects; the message says what to do."""


@dataclass(frozen=True)
class FaceDataset:
    """Images (N, 48, 48) uint8 with integer labels and per-image metadata."""

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    ids: np.ndarray  # relative path (folders) or "row <n>" (CSV): names the source of each image
    usage: np.ndarray  # FER2013 "Usage" (Training/PublicTest/PrivateTest); "" for CK+
    source: str
    source_hash: str  # content hash of the decoded images+labels: the data hash in provenance
    subject: np.ndarray | None = None  # CK+ only
    sequence: np.ndarray | None = None
    frame: np.ndarray | None = None
    skipped: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: np.ndarray | Sequence[int]) -> "FaceDataset":
        """Rows ``index`` (indices or boolean mask); the hash is recomputed for the subset."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        images, labels = self.images[idx], self.labels[idx]
        return replace(self, images=images, labels=labels, ids=self.ids[idx], usage=self.usage[idx],
                       subject=pick(self.subject), sequence=pick(self.sequence), frame=pick(self.frame),
                       source_hash=cache.hash_arrays(images, labels))

    def select_classes(self, names: Sequence[str]) -> "FaceDataset":
        """Keep only ``names`` (in that order) and relabel them 0..len(names)-1."""
        unknown = [n for n in names if n not in self.class_names]
        if unknown:
            raise DataError(f"unknown class(es) {unknown}; this dataset has {list(self.class_names)}")
        old = [self.class_names.index(n) for n in names]
        sub = self.subset(np.isin(self.labels, old))
        remap = np.full(len(self.class_names), -1, dtype=np.int64)
        remap[old] = np.arange(len(old))
        labels = remap[sub.labels]
        return replace(sub, labels=labels, class_names=tuple(names),
                       source_hash=cache.hash_arrays(sub.images, labels))

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {n: int(c) for n, c in zip(self.class_names, counts)}


# --------------------------------------------------------------------------- helpers

def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def decode_image(path: Path, *, size: int = IMAGE_SIZE) -> np.ndarray:
    """Decode one grayscale ``size``x``size`` image, or raise DataError naming the file."""
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e}); check permissions or re-download it") from e
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if img is None:
        raise DataError(f"{path}: not a readable image (corrupt or not JPEG/PNG); delete or replace "
                        "it (in Python, or load with on_error='skip')")
    if img.ndim == 3:
        if img.shape[2] in (3, 4) and _is_gray_colour(img):
            img = img[..., 0]
        else:
            raise DataError(f"{path}: has {img.shape[2]} colour channels, expected 1 (grayscale); "
                            "convert it to grayscale (in Python, or load with on_error='skip')")
    if img.shape != (size, size):
        raise DataError(f"{path}: image is {img.shape[1]}x{img.shape[0]}, expected {size}x{size}; "
                        "resize it, e.g. with cv2.resize (in Python, or load with on_error='skip')")
    if img.dtype != np.uint8:
        raise DataError(f"{path}: pixel type {img.dtype}, expected 8-bit; convert it to 8-bit grayscale")
    return img


def _is_gray_colour(img: np.ndarray) -> bool:
    """A 3-channel image whose channels are equal is grayscale saved as colour: accept it."""
    return bool(np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2]))


def _decode_many(paths: Sequence[Path], on_error: OnError, workers: int = 8
                 ) -> tuple[list[np.ndarray | None], list[str]]:
    """Decode in threads (OpenCV releases the GIL); collect or raise errors."""
    def one(p: Path) -> np.ndarray | str:
        try:
            return decode_image(p)
        except DataError as e:
            return str(e)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        out = list(pool.map(one, paths, chunksize=256))
    skipped = [o for o in out if isinstance(o, str)]
    if skipped and on_error == "raise":  # every bad file at once, not one per attempt
        more = f"\n  … and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        raise DataError(skipped[0] if len(skipped) == 1 else
                        f"{len(skipped)} bad images:\n  " + "\n  ".join(skipped[:10]) + more)
    return [None if isinstance(o, str) else o for o in out], skipped


def _stat_fingerprint(files: Sequence[Path], root: Path) -> str:
    """Cheap fingerprint (names, sizes, mtimes) that maps a source to its cached content hash."""
    h = hashlib.sha256()
    skip = len(str(root)) + 1
    for f in map(str, files):
        st = os.stat(f)
        h.update(f"{f[skip:]}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def _cached(kind: str, fingerprint: str, build) -> dict[str, np.ndarray]:
    """Load ``kind`` arrays from the cache by fingerprint, or build and store them."""
    index_path = cache.cache_dir() / f"{kind}-v{CACHE_VERSION}-{fingerprint}.json"
    if index_path.exists():
        meta = json.loads(index_path.read_text())
        data_path = cache.cache_dir() / meta["file"]
        if data_path.exists():
            return cache.load_arrays(data_path)
    arrays = build()
    content = cache.hash_arrays(arrays["images"], arrays["labels"])
    fname = f"{kind}-v{CACHE_VERSION}-{content}.npz"
    cache.save_arrays(cache.cache_dir() / fname, **arrays)
    cache.atomic_write_json(index_path, {"file": fname, "content_hash": content})
    return arrays


def _to_dataset(arrays: dict[str, np.ndarray], class_names: tuple[str, ...], source: str,
                skipped: Sequence[str] = ()) -> FaceDataset:
    opt = lambda k: arrays[k] if k in arrays else None  # noqa: E731
    return FaceDataset(images=arrays["images"], labels=arrays["labels"].astype(np.int64),
                       class_names=class_names, ids=arrays["ids"], usage=arrays["usage"],
                       source=source, source_hash=cache.hash_arrays(arrays["images"], arrays["labels"]),
                       subject=opt("subject"), sequence=opt("sequence"), frame=opt("frame"),
                       skipped=tuple(skipped))


def _class_folders(split_dir: Path, expected: Sequence[str]) -> dict[str, Path]:
    """Map each expected class to its folder; error on missing or misspelt folders."""
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: folder not found; expected one sub-folder per class {list(expected)}")
    found = {p.name: p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")}
    unknown = sorted(set(found) - set(expected))
    missing = [c for c in expected if c not in found]
    if unknown or missing:
        problems = ([f"missing {missing}"] if missing else []) + [
            f"'{u}' is not a class{_suggest(u, expected)}" for u in unknown]
        raise DataError(f"{split_dir}: class folders do not match {list(expected)}: " + "; ".join(problems)
                        + (". Rename the folders to these names." if missing else
                           ". Rename or move the extra folder(s) out of it."))
    return {c: found[c] for c in expected}


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm"}


def _list_images(folder: Path) -> list[Path]:
    with os.scandir(folder) as it:
        names = sorted(e.name for e in it if e.is_file() and not e.name.startswith("."))
    others = [n for n in names if os.path.splitext(n)[1].lower() not in IMAGE_SUFFIXES]
    if others:
        raise DataError(f"{folder / others[0]}: not an image file (allowed: {sorted(IMAGE_SUFFIXES)}); "
                        "move it out of the dataset folder")
    files = [folder / n for n in names]
    if not files:
        raise DataError(f"{folder}: empty class folder; the download is incomplete, fetch it again")
    return files


# --------------------------------------------------------------------------- FER2013

def _usage_of(path: Path, split: str) -> str:
    prefix = path.name.split("_", 1)[0]
    if prefix in FER2013_USAGES:
        return prefix
    return "Training" if split == "train" else UNSPLIT_TEST


def load_fer2013_folders(root: str | Path, *, on_error: OnError = "raise", use_cache: bool = True
                         ) -> FaceDataset:
    """FER2013 from the Kaggle image-folder layout (``train/`` and ``test/``, 7 class folders)."""
    _check_on_error(on_error)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: FER2013 folder not found; pass the folder that holds train/ and test/")
    files, labels, usage = [], [], []
    for split in ("train", "test"):
        for label, (cls, folder) in enumerate(_class_folders(root / split, FER2013_CLASSES).items()):
            for f in _list_images(folder):
                files.append(f)
                labels.append(label)
                usage.append(_usage_of(f, split))
    skipped: list[str] = []

    def build() -> dict[str, np.ndarray]:
        images, errs = _decode_many(files, on_error)
        skipped.extend(errs)
        keep = [i for i, im in enumerate(images) if im is not None]
        return {"images": np.stack([images[i] for i in keep]) if keep else np.zeros((0, 48, 48), np.uint8),
                "labels": np.asarray(labels, np.int64)[keep],
                "ids": np.asarray([str(files[i])[len(str(root)) + 1:] for i in keep]),
                "usage": np.asarray(usage)[keep]}

    if use_cache and on_error == "raise":
        arrays = _cached("fer2013-folders", _stat_fingerprint(files, root), build)
    else:
        arrays = build()
    return _to_dataset(arrays, FER2013_CLASSES, str(root), skipped)


CSV_COLUMNS = ("emotion", "pixels", "Usage")


def _parse_csv(path: Path, on_error: OnError) -> tuple[dict[str, np.ndarray], list[str]]:
    images, labels, usage, ids, skipped = [], [], [], [], []
    with open(path, newline="", encoding="utf-8-sig") as f:  # utf-8-sig: a byte-order mark is no header
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: empty CSV file; expected the header {','.join(CSV_COLUMNS)}")
        # columns by name: Kaggle's icml_face_data.csv has the same three in another order
        col = {h.strip(): i for i, h in enumerate(header)}
        if "emotion" not in col or "pixels" not in col:
            raise DataError(f"{path}: header is {[h.strip() for h in header]}, expected {list(CSV_COLUMNS)} "
                            "(the Kaggle fer2013.csv schema)")
        has_usage = "Usage" in col
        e_col, p_col, u_col = col["emotion"], col["pixels"], col.get("Usage")
        width = max(e_col, p_col, u_col if has_usage else 0) + 1
        for lineno, row in enumerate(reader, start=2):
            try:
                if len(row) < width:
                    raise DataError(f"expected {width} columns, found {len(row)}")
                try:
                    label = int(row[e_col])
                except ValueError:
                    raise DataError(f"emotion '{row[e_col]}' is not an integer 0-6") from None
                if not 0 <= label < len(FER2013_CLASSES):
                    raise DataError(f"emotion {label} is outside 0-6")
                try:
                    px = np.array(row[p_col].split(), dtype=np.int64)
                except ValueError:
                    raise DataError("pixels contain a non-integer value") from None
                if px.size != IMAGE_SIZE * IMAGE_SIZE:
                    raise DataError(f"pixels has {px.size} values, expected {IMAGE_SIZE * IMAGE_SIZE}")
                if px.min() < 0 or px.max() > 255:
                    raise DataError("pixel values outside 0-255")
                u = row[u_col].strip() if has_usage else "Training"
                if u not in FER2013_USAGES:
                    raise DataError(f"Usage '{u}' is not one of {list(FER2013_USAGES)}")
            except DataError as e:
                msg = f"{path}, line {lineno}: malformed row: {e}; fix or delete that row"
                if on_error == "raise":
                    raise DataError(msg + ", or load with on_error='skip'") from None
                skipped.append(msg)
                continue
            images.append(px.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE))
            labels.append(label)
            usage.append(u)
            ids.append(f"row {lineno - 1}")
    if not images:
        raise DataError(f"{path}: no usable rows; is this the FER2013 CSV?")
    return {"images": np.stack(images), "labels": np.asarray(labels, np.int64),
            "usage": np.asarray(usage), "ids": np.asarray(ids)}, skipped


def load_fer2013_csv(path: str | Path, *, on_error: OnError = "raise", use_cache: bool = True
                     ) -> FaceDataset:
    """FER2013 from the Kaggle ``fer2013.csv`` schema (``emotion,pixels,Usage``)."""
    _check_on_error(on_error)
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: CSV file not found; pass the path of fer2013.csv")
    skipped: list[str] = []

    def build() -> dict[str, np.ndarray]:
        arrays, errs = _parse_csv(path, on_error)
        skipped.extend(errs)
        return arrays

    if use_cache and on_error == "raise":
        arrays = _cached("fer2013-csv", _stat_fingerprint([path], path.parent), build)
    else:
        arrays = build()
    return _to_dataset(arrays, FER2013_CLASSES, str(path), skipped)


def load_fer2013(path: str | Path, **kw) -> FaceDataset:
    """FER2013 from whatever the user has: the image folders, ``fer2013.csv`` or a bundle ``.npz``."""
    p = Path(path).expanduser()
    if p.is_dir():
        return load_fer2013_folders(p, **kw)
    if p.suffix.lower() == ".csv":
        return load_fer2013_csv(p, **kw)
    if p.suffix.lower() == ".npz":
        return load_bundle(p)
    raise DataError(f"{p}: not found or not a FER2013 source; pass the folder with train/ and test/, "
                    "the Kaggle fer2013.csv, or a bundle written by `fer bundle`")


def usage_order(ds: FaceDataset) -> np.ndarray:
    """Row order of the original CSV: Training, then PublicTest, then PrivateTest (then test images
    of unknown half), by image id."""
    num = np.array([int(m.group(1)) if (m := re.search(r"_(\d+)\.\w+$", i)) else 0 for i in ds.ids])
    order = FER2013_USAGES + (UNSPLIT_TEST,)
    rank = np.array([order.index(u) if u in order else 0 for u in ds.usage])
    return np.lexsort((num, rank))


def write_fer2013_csv(ds: FaceDataset, path: str | Path) -> Path:
    """Write ``ds`` in the Kaggle ``fer2013.csv`` schema (``emotion,pixels,Usage``).

    Built from the JPEG image release, the pixels differ from the original CSV by JPEG
    rounding (mean absolute difference about 1.3 grey levels); labels and usage are exact.
    """
    if ds.class_names != FER2013_CLASSES:
        raise DataError(f"write_fer2013_csv needs the 7 FER2013 classes, got {list(ds.class_names)}")
    if (ds.usage == UNSPLIT_TEST).any():
        raise DataError(f"{ds.source}: {int((ds.usage == UNSPLIT_TEST).sum())} test image(s) lack the PublicTest_/"
                        "PrivateTest_ file-name prefix, and the CSV's Usage column must name one; add the prefixes")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for i in usage_order(ds):
        w.writerow([int(ds.labels[i]), " ".join(map(str, ds.images[i].ravel().tolist())), ds.usage[i]])
    path = Path(path)
    cache.atomic_write_bytes(path, buf.getvalue().encode())
    return path


def csv_view(ds: FaceDataset) -> FaceDataset:
    """The dataset as the CSV schema holds it: all rows in CSV order, ids naming CSV rows.

    This is the "CSV format" of Özer & Subaşı built in memory, identical to what
    :func:`write_fer2013_csv` followed by :func:`load_fer2013_csv` returns.
    """
    order = usage_order(ds)
    sub = ds.subset(order)
    return replace(sub, ids=np.asarray([f"row {k + 1}" for k in range(len(order))]),
                   source=f"{ds.source} (CSV schema)")


# --------------------------------------------------------------------------- bundles

def save_bundle(ds: FaceDataset, path: str | Path, *, raw_files_root: str | Path | None = None,
                alignment: dict[str, np.ndarray] | None = None) -> Path:
    """A portable single-file copy (to carry data to another machine without the source).

    With ``raw_files_root`` (the image folder ``ds`` was loaded from) the bundle holds the
    original encoded files instead of pixels: 30 % smaller for FER2013's JPEGs, and decoded
    on load to exactly the same pixels. ``alignment`` (:func:`fer_lib.align.tables_as_arrays`)
    carries alignment tables that loading installs in the cache, so runs need no dlib there.
    """
    arrays = {"labels": ds.labels, "ids": ds.ids, "usage": ds.usage,
              "class_names": np.asarray(ds.class_names), "source": np.asarray(ds.source),
              **(alignment or {})}
    if raw_files_root is None:
        arrays["images"] = ds.images
    else:
        blobs = [np.fromfile(Path(raw_files_root) / i, dtype=np.uint8) for i in ds.ids]
        arrays["raw_offsets"] = np.cumsum([0] + [len(b) for b in blobs])
        arrays["raw_bytes"] = np.concatenate(blobs)
    for k in ("subject", "sequence", "frame"):
        if getattr(ds, k) is not None:
            arrays[k] = getattr(ds, k)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def load_bundle(path: str | Path) -> FaceDataset:
    path = Path(path)
    try:
        arrays = cache.load_arrays(path)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable dataset bundle ({e}); write it again with `fer bundle`") from e
    if "raw_bytes" in arrays:
        raw, off = arrays.pop("raw_bytes"), arrays.pop("raw_offsets")
        with ThreadPoolExecutor(8) as pool:
            imgs = list(pool.map(lambda k: cv2.imdecode(raw[off[k]:off[k + 1]], cv2.IMREAD_GRAYSCALE),
                                 range(len(off) - 1), chunksize=512))
        arrays["images"] = np.stack(imgs)
    align_keys = [k for k in arrays if k.startswith("align/")]
    if align_keys:
        align.install_tables({k: arrays.pop(k) for k in align_keys})
    for key in ("images", "labels", "ids", "usage", "class_names"):
        if key not in arrays:
            raise DataError(f"{path}: bundle lacks '{key}'; write it again with `fer bundle`")
    return _to_dataset(arrays, tuple(str(c) for c in arrays["class_names"]), str(arrays.get("source", path)))


# --------------------------------------------------------------------------- CK+48

CK_NAME = re.compile(r"^S(\d+)_(\d+)_(\d+)\.png$", re.IGNORECASE)


def load_ckplus(root: str | Path, *, on_error: OnError = "raise") -> FaceDataset:
    """CK+48 with subject, sequence and frame parsed from ``S<subj>_<seq>_<frame>.png``."""
    _check_on_error(on_error)
    root = Path(root).expanduser()
    if root.suffix.lower() == ".npz" and root.is_file():
        return load_bundle(root)
    if not root.is_dir():
        raise DataError(f"{root}: CK+48 folder not found; pass the folder holding the 7 emotion folders")
    files, labels, meta = [], [], []
    for label, (cls, folder) in enumerate(_class_folders(root, CKPLUS_CLASSES).items()):
        for f in _list_images(folder):
            m = CK_NAME.match(f.name)
            if not m:
                msg = (f"{f}: name does not follow S<subject>_<sequence>_<frame>.png; "
                       "rename it, since subject-wise splits need the subject id")
                if on_error == "raise":
                    raise DataError(msg)
                continue
            files.append(f)
            labels.append(label)
            meta.append(tuple(int(g) for g in m.groups()))
    images, skipped = _decode_many(files, on_error)
    keep = [i for i, im in enumerate(images) if im is not None]
    meta_a = np.asarray(meta, dtype=np.int64)[keep]
    arrays = {"images": np.stack([images[i] for i in keep]), "labels": np.asarray(labels, np.int64)[keep],
              "ids": np.asarray([str(files[i].relative_to(root)) for i in keep]),
              "usage": np.asarray([""] * len(keep)),
              "subject": meta_a[:, 0], "sequence": meta_a[:, 1], "frame": meta_a[:, 2]}
    return _to_dataset(arrays, CKPLUS_CLASSES, str(root), skipped)


def ck_sequences(ds: FaceDataset, frames: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group CK+ images into (subject, sequence) clips of ``frames`` frames in frame order.

    Returns (clips (S, frames, 48, 48), labels (S,), subjects (S,), clip ids (S,)).
    """
    if ds.subject is None:
        raise DataError(f"{ds.source}: no subject/sequence metadata; load it with load_ckplus")
    clips, labels, subjects, ids = [], [], [], []
    keys = sorted(set(zip(ds.subject.tolist(), ds.sequence.tolist())))
    for subj, seq in keys:
        idx = np.flatnonzero((ds.subject == subj) & (ds.sequence == seq))
        idx = idx[np.argsort(ds.frame[idx])]
        if len(idx) < frames:
            raise DataError(f"{ds.source}: sequence S{subj:03d}_{seq:03d} has {len(idx)} frames, "
                            f"expected at least {frames}")
        if len(set(ds.labels[idx].tolist())) != 1:
            raise DataError(f"{ds.source}: sequence S{subj:03d}_{seq:03d} has frames in different classes")
        idx = idx[-frames:]
        clips.append(ds.images[idx])
        labels.append(ds.labels[idx[0]])
        subjects.append(subj)
        ids.append(f"S{subj:03d}_{seq:03d}")
    return np.stack(clips), np.asarray(labels), np.asarray(subjects), np.asarray(ids)
