"""End-to-end frames per second of `fer predict` for one face at 640x480 on the CPU.

    .venv/bin/python benchmarks/predict_fps.py [--frames 200] [--out benchmarks/results/predict_fps-cpu.txt]

Each frame is a 640x480 BGR image with one face (a photograph from ../shared/datasets/faces,
shifted a few pixels per frame so nothing can be cached): detection + crop + preprocessing +
model, as `Predictor.predict` does it. Every shipped model x every detector, against the baseline
of the usual webcam demo (the CNN-BiLSTM paper's kind): Haar on the full frame, then
`model.predict` per frame; then the peer `fer` package (PyPI `fer`) side by side where it is
installed. Target: >= 60 FPS on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fer_lib.experiment_data import model_input  # noqa: E402
from fer_lib.predict import Predictor, shipped_models  # noqa: E402


def demo_baseline(p: Predictor):
    """The usual demo loop: Haar on the full-size frame, Keras' model.predict on the crops."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

    def run(frame):
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        boxes = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(48, 48))
        if len(boxes):
            crops = np.stack([cv2.resize(gray[y:y + h, x:x + w], (48, 48)) for x, y, w, h in boxes])
            p.model.predict(model_input(crops, p.meta["input"]), verbose=0)
        return list(boxes)

    return run


def frames(n: int) -> list[np.ndarray]:
    photo = sorted((REPO.parent / "shared" / "datasets" / "faces").glob("*.jpg"))[0]
    img = cv2.imread(str(photo))
    scale = 300 / img.shape[0]
    face = cv2.resize(img, None, fx=scale, fy=scale)
    out = []
    for k in range(n):
        canvas = np.full((480, 640, 3), 90, np.uint8)
        x, y = 120 + (k % 20), 80 + (k % 10)
        h, w = min(face.shape[0], 480 - y), min(face.shape[1], 640 - x)
        canvas[y:y + h, x:x + w] = face[:h, :w]
        out.append(canvas)
    return out


def fps(fn, frames_: list[np.ndarray]) -> tuple[float, int]:
    for f in frames_[:5]:  # warm-up (graph tracing, cascade load)
        fn(f)
    found = 0
    t0 = time.perf_counter()
    for f in frames_:
        found += len(fn(f))
    return len(frames_) / (time.perf_counter() - t0), found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--note", default="", help="conditions worth recording, e.g. other load on the machine")
    args = ap.parse_args()
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "CPU")
    lines = [f"predict_fps: {args.frames} frames of 640x480, one face each; {cpu}, {os.cpu_count()} cores; "
             f"Python {platform.python_version()}, OpenCV {cv2.__version__}"
             + (f"\nnote: {args.note}" if args.note else "")]
    fr = frames(args.frames)
    for name in shipped_models():
        base, _ = fps(demo_baseline(Predictor(name)), fr)
        lines.append(f"{name:24s} {'demo':5s}  {base:7.1f} FPS  baseline: Haar on the full frame + model.predict")
        for det in ("haar", "dlib"):
            try:
                p = Predictor(name, detector=det)
            except ImportError as e:
                lines.append(f"{name:24s} {det:5s}  skipped ({e})")
                continue
            rate, found = fps(p.predict, fr)
            lines.append(f"{name:24s} {det:5s}  {rate:7.1f} FPS  {rate / base:4.1f}x the baseline; faces found in "
                         f"{found}/{len(fr)} frames; {'meets' if rate >= 60 else 'below'} the 60 FPS target")
    try:
        from fer import FER  # the peer package, if installed

        peer = FER(mtcnn=False)
        rate, found = fps(peer.detect_emotions, fr)
        lines.append(f"{'peer fer (Haar)':24s} {'haar':5s}  {rate:7.1f} FPS  faces found in {found}/{len(fr)} frames")
    except ImportError:
        lines.append("peer fer package: not installed, skipped (pip install fer to compare)")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
