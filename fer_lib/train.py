"""Training with Keras ``fit``: seeded, resumable, and selecting on validation data only.

Resume: ``BackupAndRestore`` saves model + optimiser state at every epoch end in the run's
work folder, so a killed run continues from its last finished epoch. The best epoch by
validation loss is checkpointed and restored before evaluation; the test split is never seen
during training or model selection.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    early_stopping_patience: int | None = None  # on val_loss
    reduce_lr_patience: int | None = None  # ReduceLROnPlateau on val_loss
    reduce_lr_factor: float = 0.5
    class_weight: bool = False

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training parameter(s) {unknown}; known: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


def set_determinism(seed: int) -> None:
    """Seed Python, NumPy and the backend; make TensorFlow ops deterministic."""
    import keras

    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        tf.get_logger().setLevel("ERROR")  # retracing notices drown the progress lines


def _optimizer(name: str, lr: float):
    import keras

    opts = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    if name not in opts:
        raise ValueError(f"unknown optimizer {name!r}; known: {sorted(opts)}")
    return opts[name](learning_rate=lr)


def _epoch_log_callback(path: Path):
    import keras

    class EpochLog(keras.callbacks.Callback):
        """Append one JSON line per finished epoch (metrics, learning rate, seconds)."""

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            row = {"epoch": epoch + 1, "seconds": time.perf_counter() - self._t}
            row.update({k: float(v) for k, v in (logs or {}).items()})
            row["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            with open(path, "a") as f:
                f.write(json.dumps(row) + "\n")

    return EpochLog()


def _progress_bar_callback():
    import keras
    from tqdm import tqdm

    class ProgressBar(keras.callbacks.Callback):
        """One bar over every batch of every epoch, with the last epoch's metrics. Keras' own bar
        restarts each epoch and redraws 20 times a second, which bloats an executed notebook."""

        def on_train_begin(self, logs=None):
            self._steps = self.params.get("steps") or 0
            self._epochs = self.params["epochs"]
            self._bar = tqdm(total=self._epochs * self._steps or None, unit="batch", mininterval=0.5, file=sys.stdout,
                             bar_format="{desc}{percentage:3.0f}%|{bar:25}| {n_fmt}/{total_fmt} "
                                        "[{elapsed}<{remaining}]{postfix}")

        def on_epoch_begin(self, epoch, logs=None):
            if epoch * self._steps > self._bar.n:  # resumed from a backup: count the finished epochs
                self._bar.update(epoch * self._steps - self._bar.n)
            self._bar.set_description(f"epoch {epoch + 1}/{self._epochs}")

        def on_train_batch_end(self, batch, logs=None):
            self._bar.update(1)

        def on_epoch_end(self, epoch, logs=None):
            shown = {"loss": "loss", "accuracy": "acc", "val_loss": "val_loss", "val_accuracy": "val_acc"}
            self._bar.set_postfix({v: f"{float(logs[k]):.3f}" for k, v in shown.items() if k in (logs or {})})

        def on_train_end(self, logs=None):
            self._bar.close()

    return ProgressBar()


def read_history(path: Path) -> dict[str, list[float]]:
    """History from the epoch log, last entry per epoch winning (a resumed epoch is logged again)."""
    rows: dict[int, dict] = {}
    if Path(path).exists():
        for line in Path(path).read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                rows[r["epoch"]] = r
    keys = sorted({k for r in rows.values() for k in r if k != "epoch"})
    ordered = [rows[e] for e in sorted(rows)]
    return {"epoch": [r["epoch"] for r in ordered], **{k: [r.get(k) for r in ordered] for k in keys}}


def fit(model, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
        cfg: TrainConfig, workdir: Path, *, verbose: int = 2, extra_callbacks: tuple = ()) -> dict:
    """Compile and train ``model``; returns history and timing. Restores the best val-loss weights.

    ``verbose``: 0 silent, 1 one progress bar for the whole run (tqdm), 2 one line per epoch."""
    import keras

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    model.compile(optimizer=_optimizer(cfg.optimizer, cfg.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    best = workdir / "best.weights.h5"
    log = workdir / "epochs.jsonl"
    callbacks = [
        _epoch_log_callback(log),
        keras.callbacks.ModelCheckpoint(str(best), monitor="val_loss", save_best_only=True,
                                        save_weights_only=True),
    ]
    if cfg.early_stopping_patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.early_stopping_patience))
    if cfg.reduce_lr_patience:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=cfg.reduce_lr_patience,
                                                           factor=cfg.reduce_lr_factor, min_lr=1e-6))
    callbacks.append(keras.callbacks.BackupAndRestore(str(workdir / "backup"), delete_checkpoint=True))
    callbacks.extend(extra_callbacks)
    if verbose == 1:
        callbacks.append(_progress_bar_callback())
    class_weight = None
    if cfg.class_weight:
        counts = np.bincount(y_train, minlength=model.output_shape[-1]).astype(float)
        class_weight = {i: len(y_train) / (len(counts) * max(c, 1)) for i, c in enumerate(counts)}
    t0 = time.perf_counter()
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=cfg.epochs, batch_size=cfg.batch_size,
              shuffle=True, callbacks=callbacks, class_weight=class_weight, verbose=0 if verbose == 1 else verbose)
    wall = time.perf_counter() - t0
    if best.exists():
        model.load_weights(str(best))
    history = read_history(log)
    secs = [s for s in history.get("seconds", []) if s is not None]
    n_epochs = len(history["epoch"])
    best_epoch = None
    if history.get("val_loss"):
        best_epoch = int(history["epoch"][int(np.nanargmin(np.asarray(history["val_loss"], float)))])
    return {"history": history, "epochs_run": n_epochs, "best_epoch": best_epoch, "fit_wall_s": wall,
            "seconds_per_epoch": float(np.median(secs)) if secs else None,
            "train_images_per_s": float(len(x_train) / np.median(secs)) if secs else None}


def predict(model, x: np.ndarray, batch_size: int = 512) -> tuple[np.ndarray, float]:
    """Class probabilities and images per second."""
    t0 = time.perf_counter()
    proba = model.predict(x, batch_size=batch_size, verbose=0)
    return np.asarray(proba, dtype=np.float64), len(x) / max(time.perf_counter() - t0, 1e-9)


def device_description() -> str:
    """The accelerator the backend trains on, or the CPU model."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            d = jax.devices()[0]
            if d.platform != "cpu":
                return f"{d.device_kind} (jax)"
        elif backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") + " (tensorflow)"
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return torch.cuda.get_device_name(0) + " (torch)"
    except Exception:  # pragma: no cover - device query is best effort
        pass
    cpu = "CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu} x{os.cpu_count()} ({backend})"
