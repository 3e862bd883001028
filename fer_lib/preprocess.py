"""Pixel preprocessing and augmentation.

Deterministic steps (normalisation, CLAHE) run once in NumPy/OpenCV before training.
Augmentation is one Keras layer (:mod:`fer_lib.augment`) placed inside the model graph, so it
runs on whatever device trains the model (GPU included) and only while training.
Eye alignment lives in :mod:`fer_lib.align`.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np


def normalise(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [0, 1], with a trailing channel axis (N, H, W, 1)."""
    x = np.asarray(images, dtype=np.float32) / 255.0
    return x[..., None] if x.ndim == 3 or (x.ndim == 4 and x.shape[-1] not in (1, 3)) else x


def to_rgb(images: np.ndarray) -> np.ndarray:
    """Gray (N, H, W) -> (N, H, W, 3) float32 in [0, 255], as Keras' ``image_dataset_from_directory``
    delivers a grayscale JPEG folder by default (``color_mode='rgb'``)."""
    x = np.asarray(images, dtype=np.float32)
    return np.repeat(x[..., None], 3, axis=-1)


def clahe(images: np.ndarray, clip_limit: float = 2.0, tile_grid: tuple[int, int] = (8, 8)) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of uint8 gray images (any leading shape)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"clahe expects uint8 images. Received: dtype={images.dtype}")
    op = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=tile_grid)
    flat = images.reshape(-1, *images.shape[-2:])
    out = np.stack([op.apply(im) for im in flat]) if len(flat) else flat.copy()
    return out.reshape(images.shape)


def add_gaussian_noise(x: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Additive Gaussian noise on [0, 1] inputs, clipped; for robustness tests at evaluation."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0. Received: sigma={sigma}")
    rng = np.random.default_rng(seed)
    return np.clip(x + rng.normal(0.0, sigma, size=x.shape).astype(x.dtype), 0.0, 1.0)


#: Augmentation parameters each paper names; values the paper leaves out are our choices,
#: documented in the experiment configs' ``assumptions``.
AUGMENTATION_PRESETS: dict[str, dict[str, Any]] = {
    # Wasey §5.1: rotation, width/height shift, zoom, shear, horizontal flip.
    "wasey": {"flip": True, "rotation_deg": 10, "shift": 0.1, "zoom": 0.1, "shear": 0.1},
    # Bhardwaj & Singh, preprocessing step 4: flips, ±10° rotation, zoom, translations,
    # brightness, contrast, Gaussian noise.
    "emotionnet": {"flip": True, "rotation_deg": 10, "shift": 0.1, "zoom": 0.1,
                   "brightness": 0.2, "contrast": 0.2, "noise": 0.05},
    # Our strong reference (experiments/reference.yaml): the heavier geometric and photometric
    # augmentation of the best single FER2013 models (Khaireddin & Chen 2021 crop/rotate/flip).
    "reference": {"flip": True, "rotation_deg": 15, "shift": 0.15, "zoom": 0.15, "shear": 0.1,
                  "brightness": 0.2, "contrast": 0.3},
}
#: The parameters an augmentation spec may set; their meaning is in :mod:`fer_lib.augment`.
AUGMENTATION_KEYS = frozenset({"flip", "rotation_deg", "shift", "zoom", "shear", "brightness", "contrast", "noise"})


def augmentation_spec(spec: dict[str, Any] | str | None) -> dict[str, Any]:
    """The augmentation parameters of ``spec`` (a preset name, a dict of AUGMENTATION_KEYS, or none)."""
    if spec is None or spec == {} or spec == "none":
        return {}
    if isinstance(spec, str):
        if spec not in AUGMENTATION_PRESETS:
            raise ValueError(f"unknown augmentation preset {spec!r}; known: {sorted(AUGMENTATION_PRESETS)}")
        spec = AUGMENTATION_PRESETS[spec]
    unknown = set(spec) - AUGMENTATION_KEYS
    if unknown:
        raise ValueError(f"unknown augmentation parameter(s) {sorted(unknown)}; known: {sorted(AUGMENTATION_KEYS)}")
    return dict(spec)


def augmentation_layers(spec: dict[str, Any] | str | None, seed: int = 0) -> list:
    """The augmentation of ``spec`` as model layers: one :class:`fer_lib.augment.FusedAugmentation`
    (a single affine warp per image plus the photometric steps), or none. Inputs are in [0, 1]."""
    params = augmentation_spec(spec)
    if not params:
        return []
    from fer_lib.augment import FusedAugmentation  # imports Keras; the data code above does not need it

    return [FusedAugmentation(**params, seed=seed, name="augmentation")]
