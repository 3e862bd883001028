"""Emotions of the faces in photos, videos and a webcam, with a model shipped in ``weights/``.

Faces are found with OpenCV's Haar cascade (what the CNN-BiLSTM paper uses) or dlib's HOG
detector, cropped, turned into 48x48 grey, preprocessed exactly as the model's experiment did
(alignment, CLAHE, input scaling: :func:`fer_lib.experiment_data.model_input`), and classified.
A photo without a face gives an empty list; an unreadable file raises :class:`PredictError`
naming it (``fer predict`` reports it and goes on with the other files).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from fer_lib import preprocess
from fer_lib.config import REPO
from fer_lib.experiment_data import model_input
from fer_lib.models import from_config

WEIGHTS_DIR = REPO / "weights"
DETECT_WIDTH = 320  # frames are downscaled to this width for detection: 4x fewer pixels at 640x480


class PredictError(ValueError):
    """An input the predictor cannot read; the message names it."""


@dataclass
class Face:
    box: tuple[int, int, int, int]  # x, y, width, height in the input image's pixels
    emotion: str
    probabilities: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)


def shipped_models(weights_dir: Path | None = None) -> list[str]:
    """Names of the models in ``weights/`` (each ``<name>.weights.h5`` with its ``<name>.json``)."""
    d = Path(weights_dir or WEIGHTS_DIR)
    return sorted(p.name.removesuffix(".json") for p in d.glob("*.json") if (d / f"{p.stem}.weights.h5").exists())


def default_model(weights_dir: Path | None = None) -> str:
    """The shipped model with the best validation accuracy (the test split plays no part)."""
    d = Path(weights_dir or WEIGHTS_DIR)
    names = shipped_models(d)
    if not names:
        raise FileNotFoundError(f"no shipped models in {d}; make them with `fer export-weights --profile paper`")
    return max(names, key=lambda n: json.loads((d / f"{n}.json").read_text())["val_accuracy_selected"])


class FaceDetector:
    """Face boxes in a grey image: ``haar`` (OpenCV, default) or ``dlib`` (HOG).

    ``threshold`` (dlib only) is the detector's score cut-off: 0 is dlib's default; about -0.6
    also finds partly covered faces (the crying woman in the test photos scores -0.53) at the cost
    of more false detections.
    """

    def __init__(self, kind: str = "haar", min_size: int = 48, threshold: float = 0.0):
        if kind not in ("haar", "dlib"):
            raise ValueError(f"unknown detector {kind!r}; use haar or dlib")
        self.kind, self.min_size, self.threshold = kind, min_size, threshold
        if kind == "haar":
            path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
            self._haar = cv2.CascadeClassifier(str(path))
            if self._haar.empty():
                raise RuntimeError(f"OpenCV could not load its Haar cascade {path}")
        else:
            import dlib  # optional: only the dlib detector needs it

            self._dlib = dlib.get_frontal_face_detector()

    def __call__(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        scale = min(1.0, DETECT_WIDTH / gray.shape[1])
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        min_px = max(12, int(self.min_size * scale))
        if self.kind == "haar":
            found = self._haar.detectMultiScale(small, scaleFactor=1.2, minNeighbors=5, minSize=(min_px, min_px))
            boxes = [tuple(map(int, b)) for b in found]
        else:
            found, _, _ = self._dlib.run(small, 0, self.threshold)
            boxes = [(r.left(), r.top(), r.width(), r.height()) for r in found if r.width() >= min_px]
        return [tuple(int(round(v / scale)) for v in b) for b in boxes]


class Predictor:
    """A shipped model plus the preprocessing it was trained with.

    >>> p = Predictor()                      # the shipped model with the best validation accuracy
    >>> faces = p.predict(cv2.imread("photo.jpg"))
    """

    def __init__(self, model: str | None = None, detector: str = "haar", weights_dir: Path | None = None,
                 threshold: float = 0.0):
        d = Path(weights_dir or WEIGHTS_DIR)
        names = shipped_models(d)
        self.name = model or default_model(d)
        if self.name not in names:
            raise ValueError(f"unknown model {self.name!r}; shipped: {names}")
        self.meta = json.loads((d / f"{self.name}.json").read_text(encoding="utf-8"))
        if self.meta["input"] == "clip01":
            raise ValueError(f"{self.name} classifies CK+ clips, not single images")
        self.model = from_config(self.meta, len(self.meta["class_names"]))
        self.model.load_weights(str(d / f"{self.name}.weights.h5"))
        last = self.model.layers[-1]
        self._logits = getattr(getattr(last, "activation", None), "__name__", "") != "softmax"
        self.class_names = list(self.meta["class_names"])
        self.steps = list(self.meta.get("preprocess") or [])
        self.detector = FaceDetector(detector, threshold=threshold)
        self._aligner = None

    def _crops(self, gray: np.ndarray, boxes) -> np.ndarray:
        crops = np.stack([cv2.resize(gray[y:y + h, x:x + w], (48, 48), interpolation=cv2.INTER_AREA)
                          for x, y, w, h in boxes])
        for step in self.steps:
            if step == "align":
                if self._aligner is None:
                    from fer_lib.align import FaceAligner  # dlib: only for models trained on aligned faces

                    self._aligner = FaceAligner()
                crops = np.stack([self._aligner.align(c)[0] for c in crops])
            elif step == "clahe":
                crops = preprocess.clahe(crops)
        return crops

    def probabilities(self, crops: np.ndarray) -> np.ndarray:
        """Class probabilities of 48x48 uint8 grey face crops, shape (n, classes)."""
        x = model_input(crops, self.meta["input"])
        out = np.asarray(self.model.predict_on_batch(x), dtype=np.float64)  # compiled: ~1 ms, eager call ~6-34 ms
        if self._logits:
            out = np.exp(out - out.max(1, keepdims=True))
            out /= out.sum(1, keepdims=True)
        return out

    def predict(self, image: np.ndarray) -> list[Face]:
        """Every face in a BGR (or grey) image with its emotion and probabilities."""
        if not isinstance(image, np.ndarray):
            raise PredictError(f"predict takes an image array, not {type(image).__name__}"
                               + (" (cv2.imread returns None for a file it cannot read)" if image is None else "")
                               + "; for a file use predict_file(path), which names the file it cannot read")
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        boxes = self.detector(gray)
        if not boxes:
            return []
        proba = self.probabilities(self._crops(gray, boxes))
        return [Face(tuple(b), self.class_names[int(p.argmax())], {c: round(float(v), 4) for c, v in
                                                                   zip(self.class_names, p)})
                for b, p in zip(boxes, proba)]

    def predict_file(self, path: str | Path) -> tuple[np.ndarray, list[Face]]:
        if not Path(path).is_file():
            raise PredictError(f"{path}: no such file; check the path")
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise PredictError(f"{path}: not a readable image (missing, corrupt or not an image file); "
                               "check the file or leave it out")
        return image, self.predict(image)

    def frames(self, source: str | int) -> Iterator[tuple[int, np.ndarray, list[Face]]]:
        """(index, frame, faces) for each frame of a video file or a webcam number."""
        cap = cv2.VideoCapture(source)
        if not cap.isOpened():
            raise PredictError(f"{source}: cannot open this video or camera; check the path or device number")
        try:
            k = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                yield k, frame, self.predict(frame)
                k += 1
        finally:
            cap.release()


def annotate(image: np.ndarray, faces: list[Face]) -> np.ndarray:
    """A copy of ``image`` with each face's box and emotion drawn on it."""
    out = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    for f in faces:
        x, y, w, h = f.box
        cv2.rectangle(out, (x, y), (x + w, y + h), (0, 200, 0), 2)
        label = f"{f.emotion} {f.probabilities[f.emotion]:.0%}"
        cv2.putText(out, label, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 200, 0), 2)
    return out


def video_frame_count(source: str | int) -> int | None:
    """Frames in a video file (None for a camera); a file that cannot be opened is a PredictError."""
    if not isinstance(source, (str, Path)):  # a camera number
        return None
    if "://" not in str(source) and "%" not in str(source) and not Path(source).is_file():  # streams, patterns
        raise PredictError(f"{source}: no such video file; check the path")
    cap = cv2.VideoCapture(str(source))
    opened = cap.isOpened()
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    if not opened:
        raise PredictError(f"{source}: cannot open this video; check that it is a video file OpenCV can read")
    return n or None
