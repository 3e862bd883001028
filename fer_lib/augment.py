"""Training-time augmentation as one Keras layer: one affine warp per image, vectorised over the batch.

Why one layer: the papers' augmentations (flip, rotation, shift, zoom, shear; EmotionNet adds
brightness, contrast, noise) were five to eight Keras layers, each resampling the whole batch
again (four interpolations per image) and, under JAX, each a separate gather. Here the geometric
parameters are composed into one sampling matrix per image and applied by a single
``keras.ops.image.affine_transform`` call, followed by the photometric steps, all inside the
model graph: it runs on the training device (GPU included), in the same compiled step as the
model, and only while training.

Parameter ranges are those of the Keras layers the presets used to build (same names, same
meaning), so a preset means what it meant before:

* ``flip``: horizontal flip with probability 1/2 (``RandomFlip("horizontal")``);
* ``rotation_deg``: angle uniform in ±rotation_deg (``RandomRotation(rotation_deg / 360)``);
* ``shift``: translation uniform in ±shift of the width and of the height (``RandomTranslation``);
* ``zoom``: one scale uniform in [1 - zoom, 1 + zoom] for both axes, > 1 zooms out (``RandomZoom``);
* ``shear``: x and y shear factors uniform in ±shear (``RandomShear``), about the image centre;
* ``brightness``: delta uniform in ±brightness of the value range, then clipped (``RandomBrightness``);
* ``contrast``: factor uniform in [1 - contrast, 1 + contrast] about each image's mean, clipped
  to the value range (``RandomContrast((contrast, contrast))``; Keras 3 reads a single float
  ``RandomContrast(c)`` as [1, 1 + c], contrast only ever raised, which the earlier preset
  did by accident);
* ``noise``: additive Gaussian noise of standard deviation ``noise`` (``GaussianNoise``).

Geometric warps fill from the nearest edge pixel and interpolate bilinearly, as those layers did.
"""
from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

@keras.saving.register_keras_serializable(package="fer_lib")
class FusedAugmentation(keras.layers.Layer):
    """Random flip/rotation/shift/zoom/shear as one affine warp, then brightness, contrast, noise.

    Identity at inference (``training`` false). Randomness comes from the layer's own seeded
    ``SeedGenerator``, whose state Keras threads through compiled steps on every backend.
    """

    def __init__(self, flip: bool = False, rotation_deg: float = 0.0, shift: float = 0.0, zoom: float = 0.0,
                 shear: float = 0.0, brightness: float = 0.0, contrast: float = 0.0, noise: float = 0.0,
                 value_range: tuple[float, float] = (0.0, 1.0), seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.flip, self.rotation_deg, self.shift = bool(flip), float(rotation_deg), float(shift)
        self.zoom, self.shear = float(zoom), float(shear)
        self.brightness, self.contrast, self.noise = float(brightness), float(contrast), float(noise)
        self.value_range = tuple(float(v) for v in value_range)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    @property
    def geometric(self) -> bool:
        return bool(self.flip or self.rotation_deg or self.shift or self.zoom or self.shear)

    def _uniform(self, n, half_width: float, centre: float = 0.0):
        return keras.random.uniform((n,), centre - half_width, centre + half_width, seed=self.seed_generator)

    def sample(self, n) -> dict[str, Any]:
        """Per-image parameters for a batch of ``n`` (tensors of shape ``(n,)``); unused ones are 0/1."""
        ones, zeros = ops.ones((n,)), ops.zeros((n,))
        p = {"flip": ones, "angle": zeros, "shift_x": zeros, "shift_y": zeros, "zoom": ones,
             "shear_x": zeros, "shear_y": zeros, "brightness": zeros, "contrast": ones}
        if self.flip:
            p["flip"] = ops.where(keras.random.uniform((n,), seed=self.seed_generator) < 0.5, -1.0, 1.0)
        if self.rotation_deg:
            p["angle"] = self._uniform(n, math.radians(self.rotation_deg))
        if self.shift:
            p["shift_x"], p["shift_y"] = self._uniform(n, self.shift), self._uniform(n, self.shift)
        if self.zoom:
            p["zoom"] = self._uniform(n, self.zoom, 1.0)
        if self.shear:
            p["shear_x"], p["shear_y"] = self._uniform(n, self.shear), self._uniform(n, self.shear)
        if self.brightness:
            lo, hi = self.value_range
            p["brightness"] = self._uniform(n, self.brightness) * (hi - lo)
        if self.contrast:
            p["contrast"] = self._uniform(n, self.contrast, 1.0)
        return p

    @staticmethod
    def sampling_matrix(p: dict[str, Any], height: int, width: int):
        """``(n, 8)`` transforms for ``affine_transform``: output pixel (x, y) reads the input at
        ``centre + F R S Z (x - centre, y - centre) + shift`` (flip, rotation, shear, zoom)."""
        c, s = ops.cos(p["angle"]), ops.sin(p["angle"])
        f, z, shx, shy = p["flip"], p["zoom"], p["shear_x"], p["shear_y"]
        # R @ S @ Z, with S = [[1, shx], [shy, 1]] and Z = z * I
        m00, m01 = (c - s * shy) * z, (c * shx - s) * z
        m10, m11 = (s + c * shy) * z, (s * shx + c) * z
        m00, m01 = f * m00, f * m01  # F = diag(flip, 1) mirrors the sampled column
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        a2 = cx + p["shift_x"] * width - m00 * cx - m01 * cy
        b2 = cy + p["shift_y"] * height - m10 * cx - m11 * cy
        zeros = ops.zeros_like(m00)
        return ops.stack([m00, m01, a2, m10, m11, b2, zeros, zeros], axis=1)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        x = inputs
        n = ops.shape(x)[0]
        p = self.sample(n)
        if self.geometric:
            x = ops.image.affine_transform(x, self.sampling_matrix(p, x.shape[1], x.shape[2]),
                                           interpolation="bilinear", fill_mode="nearest")
        lo, hi = self.value_range
        if self.brightness:
            x = ops.clip(x + ops.reshape(p["brightness"], (-1, 1, 1, 1)), lo, hi)
        if self.contrast:
            mean = ops.mean(x, axis=(1, 2), keepdims=True)
            x = ops.clip((x - mean) * ops.reshape(p["contrast"], (-1, 1, 1, 1)) + mean, lo, hi)
        if self.noise:
            x = x + keras.random.normal(ops.shape(x), stddev=self.noise, seed=self.seed_generator)
        return ops.cast(x, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "flip": self.flip, "rotation_deg": self.rotation_deg, "shift": self.shift,
                "zoom": self.zoom, "shear": self.shear, "brightness": self.brightness, "contrast": self.contrast,
                "noise": self.noise, "value_range": self.value_range, "seed": self.seed}
