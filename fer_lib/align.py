"""Eye alignment with dlib's 68 landmarks ("rotate so the eyes are level"), as in EmotionNet.

Why it is built this way:

* dlib's HOG frontal detector wants faces of roughly 80 px and more, so a 48x48 FER crop is
  upscaled (cubic, to about 192 px) before detection. Even so it finds a face in only about
  70 % of FER2013 crops.
* Fitting the landmarks on a box that covers the whole crop puts them off the eyes, because
  the predictor expects dlib's own (tighter, lower) box. When the detector finds nothing we
  therefore fall back to a box *calibrated* from the crops where it does find a face (the
  median box relative to the crop), and record per image whether the box was detected.
* Landmarks are a one-off, CPU-bound step (a few ms per crop), so :func:`cached_alignment`
  computes a small per-image table (angle, centre, flags, eye points) once, in parallel, in
  resumable chunks, and caches it. :func:`apply_alignment` then needs only OpenCV, so a
  machine without dlib can rotate images from a committed or cached table.

Conventions: points are ``(x, y)`` in input-image pixel coordinates (pixel centres at
integers, y down). The eye angle is ``atan2(dy, dx)`` of the vector from the image-left eye
(landmarks 36-41) to the image-right eye (42-47), in degrees; positive means the image-right
eye is lower. Rotating by that angle about the eye midpoint levels the eyes.
"""
from __future__ import annotations

import importlib.util
import json
import math
import multiprocessing as mp
import os
import shutil
import signal
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, NamedTuple, Sequence

import cv2
import numpy as np

from fer_lib.cache import atomic_write_json, cache_dir, load_arrays, save_arrays

#: Bump when anything that changes the table's numbers changes (it keys the cache).
ALIGN_VERSION = "1"

#: Detection runs on images whose shorter side is upscaled to at least this many pixels
#: (48 px FER crops -> 4x -> 192 px); dlib's HOG detector misses faces much below ~80 px.
DETECT_MIN_SIDE = 192

#: Fallback box ``(left, top, right, bottom)`` as fractions of the crop's width/height, used
#: until :meth:`FaceAligner.calibrate` measures one. It is the median dlib box over FER2013
#: train crops where the detector finds a face (seeded sample of 3,000 train crops, 2,065
#: detections; centre (0.458, 0.531), size 0.776 of the crop).
DEFAULT_FALLBACK_BOX = (0.0703, 0.1432, 0.8464, 0.9193)

#: A fallback fit that claims a tilt above this is more likely a bad fit than a tilted face:
#: such images are left unrotated and flagged (status FALLBACK_REJECTED).
MAX_FALLBACK_ANGLE = 30.0

LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)

# Per-image status codes stored in AlignmentTable.status.
DETECTED, FALLBACK, FALLBACK_REJECTED, SKIPPED = 0, 1, 2, 3
STATUS_NAMES = {DETECTED: "detected", FALLBACK: "fallback",
                FALLBACK_REJECTED: "fallback_rejected", SKIPPED: "skipped"}

OnMissing = Literal["fallback", "raise", "skip"]

_INSTALL_HINT = ("install the optional alignment dependencies: "
                 "pip install 'fer-replication[align]' (dlib-bin and face-recognition-models)")


class NoFaceError(ValueError):
    """No face was detected and the caller asked not to fall back (``on_missing='raise'``)."""


class Box(NamedTuple):
    """Face box in input-image pixel coordinates (floats; dlib's inclusive corners)."""
    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass
class AlignInfo:
    """What :meth:`FaceAligner.align` measured and did for one image."""
    angle_deg: float            # measured eye angle (0 if skipped)
    centre: tuple[float, float]  # eye midpoint, the rotation centre
    eyes: np.ndarray            # (2, 2): image-left eye (x, y), image-right eye (x, y)
    box: Box | None             # box the landmarks were fitted on (None if skipped)
    detected: bool              # box came from the detector (not the calibrated fallback)
    rotated: bool               # a rotation was applied
    status: int                 # DETECTED / FALLBACK / FALLBACK_REJECTED / SKIPPED
    landmarks: np.ndarray | None = None  # (68, 2), None if skipped

    @property
    def status_name(self) -> str:
        return STATUS_NAMES[self.status]


@dataclass
class AlignmentTable:
    """Per-image alignment parameters: enough to re-apply the rotation with OpenCV alone."""
    angle_deg: np.ndarray    # (N,) float64, measured eye angle
    centre: np.ndarray       # (N, 2) float64, eye midpoint (x, y)
    detected: np.ndarray     # (N,) bool, box from the detector rather than the fallback
    rotated: np.ndarray      # (N,) bool, rotation applied (False: rejected or skipped)
    status: np.ndarray       # (N,) int8, see STATUS_NAMES
    eyes: np.ndarray         # (N, 2, 2) float32, left/right eye centre (x, y)
    fallback_box: np.ndarray = field(default_factory=lambda: np.array(DEFAULT_FALLBACK_BOX))
    version: str = ALIGN_VERSION

    def __len__(self) -> int:
        return int(self.angle_deg.shape[0])

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"angle_deg": self.angle_deg, "centre": self.centre, "detected": self.detected,
                "rotated": self.rotated, "status": self.status, "eyes": self.eyes,
                "fallback_box": np.asarray(self.fallback_box, float),
                "version": np.array(self.version)}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> AlignmentTable:
        return cls(angle_deg=a["angle_deg"], centre=a["centre"], detected=a["detected"],
                   rotated=a["rotated"], status=a["status"], eyes=a["eyes"],
                   fallback_box=a["fallback_box"], version=str(a["version"]))

    def save(self, path: Path) -> None:
        save_arrays(Path(path), **self.to_arrays())

    @classmethod
    def load(cls, path: Path) -> AlignmentTable:
        return cls.from_arrays(load_arrays(Path(path)))

    @classmethod
    def concat(cls, parts: Sequence[AlignmentTable]) -> AlignmentTable:
        keys = ("angle_deg", "centre", "detected", "rotated", "status", "eyes")
        merged = {k: np.concatenate([getattr(p, k) for p in parts]) for k in keys}
        return cls(**merged, fallback_box=np.asarray(parts[0].fallback_box, float),
                   version=parts[0].version)

    def counts(self) -> dict[str, int]:
        """How many images ended in each status (for reports)."""
        return {name: int((self.status == code).sum()) for code, name in STATUS_NAMES.items()}


def _to_gray(image: np.ndarray) -> np.ndarray:
    """dlib needs contiguous uint8; gray keeps detection identical for gray and BGR input."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    if image.ndim != 2:
        raise ValueError(f"expected a gray (H, W) or BGR (H, W, 3) image, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {image.dtype}")
    return np.ascontiguousarray(image)


def eye_geometry(landmarks: np.ndarray) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Eye centres (2, 2), eye angle in degrees and eye midpoint from 68 landmarks."""
    left = landmarks[LEFT_EYE].mean(axis=0)
    right = landmarks[RIGHT_EYE].mean(axis=0)
    dx, dy = right - left
    angle = math.degrees(math.atan2(float(dy), float(dx)))
    mid = (float((left[0] + right[0]) / 2), float((left[1] + right[1]) / 2))
    return np.stack([left, right]), angle, mid


def rotate_image(image: np.ndarray, centre: tuple[float, float], angle_deg: float) -> np.ndarray:
    """Rotate about ``centre`` so that a feature at ``angle_deg`` ends level; same size out.

    The one place the warp is defined, so :meth:`FaceAligner.align` and
    :func:`apply_alignment` give identical pixels.
    """
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(angle_deg), 1.0)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


class FaceAligner:
    """dlib HOG detector + 68-point shape predictor, loaded lazily (never downloads).

    ``fallback_box`` is the calibrated crop-relative box used when detection fails
    (see :meth:`calibrate`); ``detect_threshold`` is dlib's score threshold (0 = dlib default;
    lower finds more faces in hard photos at the risk of false boxes).
    """

    def __init__(self, predictor_path: str | Path | None = None, *,
                 detect_min_side: int = DETECT_MIN_SIDE, detect_threshold: float = 0.0,
                 fallback_box: Sequence[float] = DEFAULT_FALLBACK_BOX,
                 max_fallback_angle: float | None = MAX_FALLBACK_ANGLE) -> None:
        self.predictor_path = Path(predictor_path) if predictor_path else None
        self.detect_min_side = int(detect_min_side)
        self.detect_threshold = float(detect_threshold)
        self.fallback_box = tuple(float(v) for v in fallback_box)
        self.max_fallback_angle = max_fallback_angle
        self._detector: Any = None
        self._predictor: Any = None

    # -- lazy model loading ------------------------------------------------------------------
    @staticmethod
    def _dlib() -> Any:
        try:
            import dlib  # noqa: PLC0415 - optional dependency, imported only when needed
        except ImportError as e:
            raise ImportError(f"dlib is needed for face landmarks; {_INSTALL_HINT}") from e
        return dlib

    def _model_path(self) -> Path:
        if self.predictor_path is not None:
            path = self.predictor_path
        else:
            try:
                import face_recognition_models  # noqa: PLC0415
            except ImportError as e:
                raise ImportError("the 68-point landmark model file comes from the "
                                  f"face-recognition-models package; {_INSTALL_HINT}") from e
            path = Path(face_recognition_models.pose_predictor_model_location())
        if not path.is_file():
            raise FileNotFoundError(
                f"dlib 68-point landmark model not found at {path}; it ships with the "
                f"face-recognition-models package ({_INSTALL_HINT}), or pass predictor_path= "
                "to a local shape_predictor_68_face_landmarks.dat. Nothing is downloaded.")
        return path

    @property
    def detector(self) -> Any:
        if self._detector is None:
            self._detector = self._dlib().get_frontal_face_detector()
        return self._detector

    @property
    def predictor(self) -> Any:
        if self._predictor is None:
            path = self._model_path()
            self._predictor = self._dlib().shape_predictor(str(path))
        return self._predictor

    def __getstate__(self) -> dict[str, Any]:
        # dlib objects do not pickle; workers reload them lazily.
        return {**self.__dict__, "_detector": None, "_predictor": None}

    # -- geometry helpers --------------------------------------------------------------------
    def _scale(self, gray: np.ndarray) -> float:
        return max(1.0, self.detect_min_side / min(gray.shape[:2]))

    @staticmethod
    def _upscale(gray: np.ndarray, s: float) -> np.ndarray:
        if s == 1.0:
            return gray
        h, w = gray.shape
        return cv2.resize(gray, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC)

    @staticmethod
    def _to_input(v: np.ndarray | float, s: float) -> Any:
        # cv2.resize maps pixel centres: x_big = (x + 0.5) * s - 0.5.
        return (np.asarray(v, float) + 0.5) / s - 0.5

    @staticmethod
    def _to_big(v: float, s: float) -> int:
        return int(round((v + 0.5) * s - 0.5))

    def fallback_box_for(self, image: np.ndarray) -> Box:
        """The calibrated fallback box in this image's pixel coordinates."""
        h, w = image.shape[:2]
        x0, y0, x1, y1 = self.fallback_box
        return Box(x0 * w, y0 * h, x1 * w, y1 * h)

    # -- public API --------------------------------------------------------------------------
    def _detect_gray(self, gray: np.ndarray, s: float, big: np.ndarray,
                     threshold: float | None) -> tuple[Box | None, float]:
        thr = self.detect_threshold if threshold is None else float(threshold)
        rects, scores, _ = self.detector.run(big, 0, thr)
        if len(rects) == 0:
            return None, float("nan")
        i = int(np.argmax(scores))
        r = rects[i]
        box = Box(*(float(self._to_input(v, s)) for v in (r.left(), r.top(), r.right(), r.bottom())))
        return box, float(scores[i])

    def detect(self, image: np.ndarray, threshold: float | None = None) -> Box | None:
        """Best-scoring face box (input coordinates), or None; detection runs upscaled."""
        gray = _to_gray(image)
        s = self._scale(gray)
        return self._detect_gray(gray, s, self._upscale(gray, s), threshold)[0]

    def _fit(self, big: np.ndarray, s: float, box: Box) -> np.ndarray:
        dlib = self._dlib()
        rect = dlib.rectangle(*(self._to_big(v, s) for v in box))
        shape = self.predictor(big, rect)
        pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=float)
        return self._to_input(pts, s)

    def landmarks(self, image: np.ndarray, box: Box | Sequence[float] | None = None, *,
                  on_missing: Literal["fallback", "raise"] = "fallback",
                  source: str | None = None) -> np.ndarray:
        """68 landmarks (x, y) in input coordinates, fitted on the upscaled image (sub-pixel
        precision on 48 px crops). Without ``box`` it detects first; if that finds nothing it
        uses the calibrated fallback box, or raises :class:`NoFaceError` with "raise"."""
        pts, _, _ = self._landmarks_and_box(image, box, on_missing=on_missing, source=source)
        if pts is None:  # pragma: no cover - only with on_missing="skip", not exposed here
            raise NoFaceError(_no_face_message(image, source))
        return pts

    def _landmarks_and_box(self, image: np.ndarray, box: Box | Sequence[float] | None, *,
                           on_missing: OnMissing, source: str | None,
                           ) -> tuple[np.ndarray | None, Box | None, bool]:
        if on_missing not in ("fallback", "raise", "skip"):
            raise ValueError(f"on_missing must be 'fallback', 'raise' or 'skip', got {on_missing!r}")
        gray = _to_gray(image)
        s = self._scale(gray)
        big = self._upscale(gray, s)
        detected = False
        if box is None:
            box, _ = self._detect_gray(gray, s, big, None)
            detected = box is not None
            if box is None:
                if on_missing == "raise":
                    raise NoFaceError(_no_face_message(image, source))
                if on_missing == "skip":
                    return None, None, False
                box = self.fallback_box_for(gray)
        box = Box(*(float(v) for v in box))
        return self._fit(big, s, box), box, detected

    def measure(self, image: np.ndarray, *, on_missing: OnMissing = "fallback",
                source: str | None = None) -> AlignInfo:
        """Landmarks and eye geometry without rotating (what the alignment table stores)."""
        pts, box, detected = self._landmarks_and_box(image, None, on_missing=on_missing,
                                                     source=source)
        if pts is None:
            h, w = image.shape[:2]
            return AlignInfo(0.0, ((w - 1) / 2, (h - 1) / 2), np.full((2, 2), np.nan), None,
                             False, False, SKIPPED, None)
        eyes, angle, mid = eye_geometry(pts)
        status = DETECTED if detected else FALLBACK
        if (not detected and self.max_fallback_angle is not None
                and abs(angle) > self.max_fallback_angle):
            status = FALLBACK_REJECTED
        return AlignInfo(angle, mid, eyes, box, detected, status in (DETECTED, FALLBACK),
                         status, pts)

    def align(self, image: np.ndarray, *, on_missing: OnMissing = "fallback",
              source: str | None = None) -> tuple[np.ndarray, AlignInfo]:
        """Rotate about the eye midpoint so the eyes are level; output has the input's size.

        ``on_missing``: "fallback" fits landmarks on the calibrated crop box (right for FER
        crops, meaningless for large photos), "raise" raises :class:`NoFaceError`, "skip"
        returns the image unchanged with ``info.status == SKIPPED``.
        """
        info = self.measure(image, on_missing=on_missing, source=source)
        if not info.rotated:
            return np.array(image, copy=True), info
        return rotate_image(np.asarray(image), info.centre, info.angle_deg), info

    def calibrate(self, images: np.ndarray, *, sample: int = 500, seed: int = 0,
                  min_detections: int = 20) -> tuple[tuple[float, float, float, float], int]:
        """Measure the fallback box: median detected box (centre and size) relative to the crop.

        Uses a seeded random sample of ``images`` (N, H, W); sets and returns the box and the
        number of detections it rests on. With fewer than ``min_detections`` detections it keeps
        the current box (the FER2013-measured default), so tiny batches stay sane.
        """
        n = len(images)
        idx = np.sort(np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False))
        rel = []
        for i in idx:
            img = images[i]
            box = self.detect(img)
            if box is None:
                continue
            h, w = img.shape[:2]
            rel.append(((box.left + box.right) / 2 / w, (box.top + box.bottom) / 2 / h,
                        box.width / w, box.height / h))
        if len(rel) >= min_detections:
            cx, cy, bw, bh = np.median(np.array(rel), axis=0)
            self.fallback_box = (float(cx - bw / 2), float(cy - bh / 2),
                                 float(cx + bw / 2), float(cy + bh / 2))
        return self.fallback_box, len(rel)


def _no_face_message(image: np.ndarray, source: str | None) -> str:
    what = source if source else f"image of shape {tuple(np.shape(image))}"
    return (f"no face detected in {what}; crop or enlarge the face (dlib's HOG detector needs "
            "a roughly frontal face), lower detect_threshold, or use on_missing='fallback' "
            "(calibrated crop box, for FER-style tight crops) or 'skip'")


# -- batch computation --------------------------------------------------------------------------
_WORKER: FaceAligner | None = None


def _init_worker(aligner: FaceAligner | None) -> None:
    global _WORKER
    parent = mp.parent_process()
    if aligner is not None and parent is not None:
        # One process per core already. (Only safe in a spawned child: after a fork from a
        # parent whose OpenCV pool is running, cv2.setNumThreads deadlocks.)
        cv2.setNumThreads(1)
        # Ctrl-C is the parent's business: it lets running chunks finish and saves them.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # If the parent is killed outright, exit instead of waiting on the queue forever.
        threading.Thread(target=lambda: (parent.join(), os._exit(1)), daemon=True).start()
    _WORKER = aligner


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit while chunks run, so finished chunks still get saved."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _measure_chunk(args: tuple[int, np.ndarray, tuple[float, ...], str]) -> tuple[int, dict]:
    """Worker: measure one chunk of images; returns its index and table arrays."""
    chunk_id, images, fallback_box, on_missing = args
    aligner = _WORKER if _WORKER is not None else FaceAligner()
    aligner.fallback_box = tuple(fallback_box)
    n = len(images)
    out = {"angle_deg": np.zeros(n), "centre": np.zeros((n, 2)),
           "detected": np.zeros(n, bool), "rotated": np.zeros(n, bool),
           "status": np.zeros(n, np.int8), "eyes": np.zeros((n, 2, 2), np.float32)}
    for j in range(n):
        info = aligner.measure(images[j], on_missing=on_missing)  # type: ignore[arg-type]
        out["angle_deg"][j] = info.angle_deg
        out["centre"][j] = info.centre
        out["detected"][j] = info.detected
        out["rotated"][j] = info.rotated
        out["status"][j] = info.status
        out["eyes"][j] = info.eyes
    return chunk_id, out


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected gray images (N, H, W) uint8, got {images.shape} {images.dtype}")
    return images


def compute_alignment(images: np.ndarray, workers: int = 2, progress: bool = True, *,
                      aligner: FaceAligner | None = None, calibrate: bool = True,
                      on_missing: Literal["fallback", "skip"] = "fallback",
                      chunk_size: int = 500, start_method: str = "spawn",
                      _chunk_dir: Path | None = None) -> AlignmentTable:
    """Measure eye alignment for every image (N, H, W) uint8, in parallel across ``workers``.

    First calibrates the fallback box on a sample (see :meth:`FaceAligner.calibrate`), then
    measures chunks in worker processes. With ``_chunk_dir`` (used by
    :func:`cached_alignment`) every finished chunk is saved, and existing chunks are reused,
    so an interrupted run resumes where it stopped.

    Workers are *spawned* (fresh interpreters): forking a parent whose OpenCV or TensorFlow
    thread pools are running deadlocks the children. So, as with any spawn-based
    multiprocessing, a script calling this must guard its entry point with
    ``if __name__ == "__main__":`` (notebooks are fine); a worker that dies makes this raise
    ``BrokenProcessPool`` instead of hanging.
    """
    from tqdm.auto import tqdm  # noqa: PLC0415 - only needed for batch runs

    images = _check_images(images)
    aligner = aligner or FaceAligner()
    n = len(images)
    state_path = _chunk_dir / "state.json" if _chunk_dir else None
    if state_path is not None and state_path.exists():
        state = json.loads(state_path.read_text())
        if state["n"] != n:
            raise ValueError(f"partial alignment in {_chunk_dir} is for {state['n']} images, "
                             f"got {n}; delete that folder")
        aligner.fallback_box = tuple(state["fallback_box"])
        chunk_size = int(state["chunk_size"])
    else:
        n_cal = 0
        if calibrate and n:
            _, n_cal = aligner.calibrate(images)
        state = {"n": n, "chunk_size": chunk_size, "fallback_box": list(aligner.fallback_box),
                 "calibration_detections": n_cal, "version": ALIGN_VERSION,
                 "on_missing": on_missing}
        if state_path is not None:
            atomic_write_json(state_path, state)

    starts = list(range(0, n, chunk_size))
    parts: dict[int, dict] = {}
    if _chunk_dir is not None:
        for k, st in enumerate(starts):
            p = _chunk_dir / f"chunk_{k:05d}.npz"
            if p.exists():
                a = load_arrays(p)
                if len(a["angle_deg"]) == min(chunk_size, n - st):
                    parts[k] = a
    todo = [(k, images[st:st + chunk_size], aligner.fallback_box, on_missing)
            for k, st in enumerate(starts) if k not in parts]
    done_images = sum(len(p["angle_deg"]) for p in parts.values())

    def keep(k: int, arrays: dict) -> None:
        parts[k] = arrays
        if _chunk_dir is not None:
            save_arrays(_chunk_dir / f"chunk_{k:05d}.npz", **arrays)

    with tqdm(total=n, initial=done_images, disable=not progress, unit="img",
              desc="dlib alignment") as bar, _sigterm_as_exit():
        if todo and workers > 1 and len(todo) > 1:
            ctx = mp.get_context(start_method)
            pool = ProcessPoolExecutor(min(workers, len(todo)), mp_context=ctx,
                                       initializer=_init_worker, initargs=(aligner,))
            futures: list = []
            try:
                futures = [pool.submit(_measure_chunk, job) for job in todo]
                for fut in as_completed(futures):
                    k, arrays = fut.result()
                    keep(k, arrays)
                    bar.update(len(arrays["angle_deg"]))
            finally:  # on error or Ctrl-C: drop queued chunks, but save every finished one
                pool.shutdown(wait=True, cancel_futures=True)
                for fut in futures:
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        k, arrays = fut.result()
                        if k not in parts:
                            keep(k, arrays)
        else:
            _init_worker(aligner)
            try:
                for job in todo:
                    k, arrays = _measure_chunk(job)
                    keep(k, arrays)
                    bar.update(len(arrays["angle_deg"]))
            finally:
                _init_worker(None)

    fb = np.asarray(aligner.fallback_box, float)
    if n == 0:
        return AlignmentTable(np.zeros(0), np.zeros((0, 2)), np.zeros(0, bool), np.zeros(0, bool),
                              np.zeros(0, np.int8), np.zeros((0, 2, 2), np.float32), fb)
    tables = [AlignmentTable(**parts[k], fallback_box=fb) for k in range(len(starts))]
    return AlignmentTable.concat(tables)


def apply_alignment(images: np.ndarray, table: AlignmentTable) -> np.ndarray:
    """Rotate each image per ``table`` with OpenCV only (no dlib needed; ~20 us per crop)."""
    images = np.asarray(images)
    if len(images) != len(table):
        raise ValueError(f"{len(images)} images but the alignment table has {len(table)} rows")
    out = np.array(images, copy=True)
    for i in np.flatnonzero(table.rotated):
        out[i] = rotate_image(images[i], tuple(table.centre[i]), float(table.angle_deg[i]))
    return out


def detection_rate(table: AlignmentTable) -> float:
    """Share of images whose landmarks were fitted on a detector box (not the fallback)."""
    return float(np.mean(table.detected)) if len(table) else float("nan")


def _cache_paths(data_hash: str, aligner: FaceAligner) -> tuple[Path, Path]:
    tag = (f"min{aligner.detect_min_side}_thr{aligner.detect_threshold:g}"
           f"_maxfb{aligner.max_fallback_angle}")
    base = cache_dir() / "align"
    name = f"align_v{ALIGN_VERSION}_{data_hash}_{tag}"
    return base / f"{name}.npz", base / f"{name}.partial"


_RECORDERS: list[set[Path]] = []


@contextmanager
def recording_tables() -> Iterator[set[Path]]:
    """Collect the cache file of every table :func:`cached_alignment` hands out meanwhile
    (how ``fer bundle --align-for`` learns which tables a set of runs needs)."""
    used: set[Path] = set()
    _RECORDERS.append(used)
    try:
        yield used
    finally:
        _RECORDERS.remove(used)


def tables_as_arrays(paths: Sequence[Path]) -> dict[str, np.ndarray]:
    """Cached tables as flat ``align/<file stem>/<field>`` arrays, to travel inside a bundle."""
    out = {}
    for p in sorted(paths):
        for k, v in load_arrays(Path(p)).items():
            out[f"align/{Path(p).stem}/{k}"] = v
    return out


def install_tables(arrays: dict[str, np.ndarray]) -> int:
    """Write the tables a bundle carries (see :func:`tables_as_arrays`) into this machine's
    alignment cache, so runs there need no dlib; returns how many were new."""
    tables: dict[str, dict[str, np.ndarray]] = {}
    for key, v in arrays.items():
        _, stem, field_name = key.split("/", 2)
        tables.setdefault(stem, {})[field_name] = v
    new = 0
    for stem, a in tables.items():
        path = cache_dir() / "align" / f"{stem}.npz"
        if not path.exists():
            AlignmentTable.from_arrays(a).save(path)
            new += 1
    return new


def cached_alignment(images: np.ndarray, data_hash: str, *, workers: int = 2,
                     progress: bool = True, aligner: FaceAligner | None = None,
                     chunk_size: int = 500) -> AlignmentTable:
    """:func:`compute_alignment` once per (data_hash, ALIGN_VERSION, settings), then cached.

    Keyed by the caller's ``data_hash`` (e.g. :func:`fer_lib.cache.hash_arrays` of the
    images) so the images themselves need not be re-hashed. Progress is saved chunk by chunk
    under ``<cache>/align/*.partial`` and resumed after an interruption; the finished table
    (with its calibrated fallback box) is one small .npz that loads in milliseconds.
    """
    aligner = aligner or FaceAligner()
    final, partial = _cache_paths(data_hash, aligner)
    if final.exists():
        table = AlignmentTable.load(final)
        if len(table) != len(images):
            raise ValueError(f"cached alignment {final} has {len(table)} rows but {len(images)} "
                             "images were given: data_hash does not match the images")
        for used in _RECORDERS:
            used.add(final)
        return table
    if importlib.util.find_spec("dlib") is None:
        raise ImportError(
            f"no cached alignment for these {len(images)} images (data hash {data_hash}) and dlib is not "
            "installed here: on a machine with dlib write the dataset bundle with the tables the runs "
            "need (`fer bundle --align-for PROFILE`) and load that bundle here, or " + _INSTALL_HINT)
    partial.mkdir(parents=True, exist_ok=True)
    table = compute_alignment(images, workers=workers, progress=progress, aligner=aligner,
                              chunk_size=chunk_size, _chunk_dir=partial)
    table.save(final)
    shutil.rmtree(partial, ignore_errors=True)
    for used in _RECORDERS:
        used.add(final)
    return table
