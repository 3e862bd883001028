"""The device-resident training path (the GPU machine's JAX backend), tested on the CPU.

Keras picks its backend once per process, so the training tests run again in a subprocess with
``KERAS_BACKEND=jax``: there :func:`fer_lib.train.fit` takes the device path by default, and the
same assertions (a saturated head recovers, resume keeps the best epoch and the patience count,
one progress bar, augmentation statistics) must hold for it.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import DATASETS, REPO

SUITE = ["tests/test_training.py", "tests/test_augment.py",
         "tests/test_runner.py::test_progress_bar_covers_the_whole_run_and_counts_resumed_epochs",
         "tests/test_device_train.py"]


def test_training_tests_pass_on_the_jax_device_path():
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "FER_DATASETS": str(DATASETS), "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITE], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=1200)
    tail = r.stdout[-6000:] + r.stderr[-2000:]
    assert r.returncode == 0, tail
    assert " passed" in r.stdout and " skipped" not in r.stdout, tail  # ran under JAX, nothing skipped
