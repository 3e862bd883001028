"""Training with Keras ``fit``: seeded, resumable, and selecting on validation data only.

Resume: ``BackupAndRestore`` saves model + optimiser state at every epoch end in the run's
work folder, so a killed run continues from its last finished epoch; the best-so-far values and
patience counters of the checkpoint, early-stopping and learning-rate callbacks are carried
over too (Keras resets them at every ``fit``). The best epoch by validation loss is
checkpointed and restored before evaluation; the test split is never seen during training or
model selection.

Models output logits and train with ``from_logits=True``; :func:`predict` applies the softmax.
On JAX the default trainer keeps the data on the accelerator (:mod:`fer_lib.device_train`).
"""
from __future__ import annotations

import functools
import json
import os
import sys
import time
import warnings
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
    label_smoothing: float = 0.0  # of the cross-entropy targets (0: the papers' plain loss)
    schedule: str = "constant"  # learning rate: constant, or cosine decay to 0 over the epochs
    epoch_repeats: int = 1  # passes over the training set per epoch, each with fresh augmentation draws

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training parameter(s) {unknown}; known: {sorted(known)}")
        cfg = cls(**d)
        if cfg.schedule not in ("constant", "cosine"):
            raise ValueError(f"unknown schedule {cfg.schedule!r}; use constant or cosine")
        if cfg.schedule == "cosine" and cfg.reduce_lr_patience:
            raise ValueError("schedule: cosine and reduce_lr_patience both set the learning rate; keep one")
        if not isinstance(cfg.epoch_repeats, int) or cfg.epoch_repeats < 1:
            raise ValueError(f"epoch_repeats must be an integer >= 1. Received: {cfg.epoch_repeats!r}")
        if not 0.0 <= cfg.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1). Received: {cfg.label_smoothing}")
        return cfg

    def to_dict(self) -> dict:
        return asdict(self)


def set_determinism(seed: int) -> dict:
    """Seed Python, NumPy and the backend's generators, and turn on deterministic kernels where the
    backend has a switch that is safe to flip at run time. Returns what held, for the provenance.

    * TensorFlow: ``enable_op_determinism`` (ops without a deterministic kernel then raise).
    * JAX: seeding is complete (Keras draws every JAX key from its seeded generator), but kernel
      determinism on a GPU needs ``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` before JAX starts;
      forcing it crashed workers on an H100, so it is recorded, not set.
    * torch: ``use_deterministic_algorithms(True, warn_only=True)`` and deterministic cuDNN; an op
      without a deterministic kernel warns instead of failing the run.
    """
    import keras

    backend = keras.backend.backend()
    keras.utils.set_random_seed(seed)  # Python, NumPy, the backend and Keras' global SeedGenerator
    out = {"seed": seed, "backend": backend, "seeded": True, "deterministic_ops": False, "detail": ""}
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        tf.get_logger().setLevel("ERROR")  # retracing notices drown the progress lines
        out.update(deterministic_ops=True, detail="tf.config.experimental.enable_op_determinism()")
    elif backend == "jax":
        import jax

        platform = jax.default_backend()
        flag = "--xla_gpu_deterministic_ops=true" in os.environ.get("XLA_FLAGS", "")
        if platform == "cpu":
            out["detail"] = "XLA:CPU; no run-time switch (its kernels are deterministic in practice)"
        else:
            out.update(deterministic_ops=flag, detail=f"XLA on {platform}: XLA_FLAGS "
                       + ("has --xla_gpu_deterministic_ops=true" if flag else
                          "lacks --xla_gpu_deterministic_ops=true (not forced), so reductions using "
                          "atomics may differ from run to run"))
    elif backend == "torch":
        import torch

        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it for determinism
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        out.update(deterministic_ops=bool(torch.are_deterministic_algorithms_enabled()),
                   detail="torch.use_deterministic_algorithms(True, warn_only=True), cudnn.deterministic")
    else:
        out["detail"] = f"no determinism switch known for backend {backend!r}"
    return out


def make_optimizer(name: str, lr):
    """The optimiser a config names at learning rate ``lr`` (a float or a Keras schedule):
    adam, sgd, sgd_nesterov (momentum 0.9), rmsprop."""
    import keras

    opts = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop,
            "sgd_nesterov": lambda learning_rate: keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)}
    if name not in opts:
        raise ValueError(f"unknown optimizer {name!r}; known: {sorted(opts)}")
    return opts[name](learning_rate=lr)


def make_loss(label_smoothing: float = 0.0):
    """Cross-entropy on logits with integer labels; with ``label_smoothing`` the targets put
    ``1 - label_smoothing`` on the label and spread the rest evenly over all classes."""
    import keras

    if not label_smoothing:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return _smoothed_loss_class()(label_smoothing)


@functools.cache
def _smoothed_loss_class():
    import keras

    @keras.saving.register_keras_serializable(package="fer_lib")
    class SmoothedSparseCrossentropy(keras.losses.Loss):
        """Label-smoothed cross-entropy from logits and integer labels (Keras has it for one-hot only)."""

        def __init__(self, label_smoothing: float = 0.1, name: str = "smoothed_sparse_crossentropy", **kwargs):
            super().__init__(name=name, **kwargs)
            self.label_smoothing = float(label_smoothing)

        def call(self, y_true, y_pred):
            ops = keras.ops
            logp = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
            y = ops.cast(ops.reshape(y_true, (-1,)), "int32")
            nll = -ops.squeeze(ops.take_along_axis(logp, y[:, None], axis=-1), -1)
            return (1.0 - self.label_smoothing) * nll - self.label_smoothing * ops.mean(logp, axis=-1)

        def get_config(self):
            return {**super().get_config(), "label_smoothing": self.label_smoothing}

    return SmoothedSparseCrossentropy


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


def _progress_bar_callback(steps: int):
    import keras
    from tqdm import tqdm

    class ProgressBar(keras.callbacks.Callback):
        """One bar over every batch of every epoch, with the last epoch's metrics. Keras' own bar
        restarts each epoch and redraws 20 times a second, which bloats an executed notebook.
        ``steps`` per epoch comes from the caller: with several steps per call Keras reports
        neither the count nor a step index below it."""

        def on_train_begin(self, logs=None):
            self._steps = steps
            self._epochs = self.params["epochs"]
            self._bar = tqdm(total=self._epochs * self._steps or None, unit="batch", mininterval=0.5, file=sys.stdout,
                             bar_format="{desc}{percentage:3.0f}%|{bar:25}| {n_fmt}/{total_fmt} "
                                        "[{elapsed}<{remaining}]{postfix}")

        def _advance_to(self, done: int) -> None:
            if done > self._bar.n:
                self._bar.update(done - self._bar.n)

        def on_epoch_begin(self, epoch, logs=None):
            self._advance_to(epoch * self._steps)  # resumed from a backup: count the finished epochs
            self._epoch = epoch
            self._bar.set_description(f"epoch {epoch + 1}/{self._epochs}")

        def on_train_batch_end(self, batch, logs=None):  # batch: the last step of the call
            self._advance_to(self._epoch * self._steps + min(batch + 1, self._steps))

        def on_epoch_end(self, epoch, logs=None):
            self._advance_to((epoch + 1) * self._steps)  # steps not reported one by one (a compiled epoch)
            shown = {"loss": "loss", "accuracy": "acc", "val_loss": "val_loss", "val_accuracy": "val_acc"}
            self._bar.set_postfix({v: f"{float(logs[k]):.3f}" for k, v in shown.items() if k in (logs or {})})

        def on_train_end(self, logs=None):
            self._bar.close()

    return ProgressBar()


def _resume_state_callback(path: Path, stateful: dict):
    """Carry the callbacks' best-so-far values and counters across a resume.

    Keras resets ``ModelCheckpoint.best`` to infinity (and the patience counters to 0) at every
    ``fit``, so without this the first resumed epoch would overwrite the best weights. One JSON
    line per finished epoch; placed before ``BackupAndRestore`` so that the epoch a backup holds
    always has its line. Restored at the first resumed epoch, after every ``on_train_begin``.
    """
    import keras

    attrs = ("best", "wait", "cooldown_counter", "best_epoch")

    class ResumeState(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self._started = False

        def on_epoch_begin(self, epoch, logs=None):
            if self._started:
                return
            self._started = True
            rows = {}
            if epoch > 0 and path.exists():
                rows = {r["epoch"]: r for r in map(json.loads, path.read_text().splitlines()) if r}
            for name, state in rows.get(epoch, {}).get("state", {}).items():  # the backup's epoch
                for k, v in state.items():
                    setattr(stateful[name], k, v)

        def on_epoch_end(self, epoch, logs=None):
            state = {name: {k: (None if getattr(cb, k) is None else float(getattr(cb, k)))
                            if k == "best" else int(getattr(cb, k)) for k in attrs if hasattr(cb, k)}
                     for name, cb in stateful.items()}
            with open(path, "a") as f:
                f.write(json.dumps({"epoch": epoch + 1, "state": state}) + "\n")

    return ResumeState()


#: The per-epoch log :func:`fit` appends to in its work folder (one JSON object per line).
EPOCH_LOG = "epochs.jsonl"


def epoch_log(path: Path) -> list[dict]:
    """Every line of an epoch log, in order (an epoch resumed after an interruption appears twice)."""
    if not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def read_history(path: Path) -> dict[str, list[float]]:
    """History from the epoch log, last entry per epoch winning (a resumed epoch is logged again)."""
    rows = {r["epoch"]: r for r in epoch_log(path)}
    keys = sorted({k for r in rows.values() for k in r if k != "epoch"})
    ordered = [rows[e] for e in sorted(rows)]
    return {"epoch": [r["epoch"] for r in ordered], **{k: [r.get(k) for r in ordered] for k in keys}}


#: Optimiser steps per compiled call of Keras ``fit`` (``compile(steps_per_execution=...)``): the
#: same batches in the same order, fewer Python round trips per step, which the papers' small
#: models feel (an Özer CNN step takes milliseconds on 2 CPU cores). Batch callbacks then fire once
#: per call; every callback of :func:`fit` works per epoch.
KERAS_STEPS_PER_EXECUTION = 8

#: ``trainer`` values of :func:`fit`: "auto" takes "device" on JAX and "keras" elsewhere.
TRAINERS = ("auto", "keras", "device")


def resolve_trainer(trainer: str = "auto") -> str:
    """The trainer :func:`fit` uses: Keras ``fit`` (any backend) or the device-resident loop (JAX)."""
    import keras

    if trainer not in TRAINERS:
        raise ValueError(f"unknown trainer {trainer!r}; use one of {', '.join(TRAINERS)}")
    backend = keras.backend.backend()
    if trainer == "auto":
        return "device" if backend == "jax" else "keras"
    if trainer == "device" and backend != "jax":
        raise ValueError(f"the device trainer needs the JAX backend (KERAS_BACKEND=jax), not {backend!r}; "
                         "use trainer='keras'")
    return trainer


#: Share of their initial values BatchNorm moving statistics may still hold when early stopping can
#: first fire; above it the validation loss early stopping watches is computed with statistics that
#: do not yet describe the data (see :func:`stale_batchnorm`).
STALE_BATCHNORM = 0.1


def stale_batchnorm(model, steps_per_epoch: int, patience: int) -> float:
    """Largest share of its initial moving statistics any BatchNorm layer of ``model`` still holds
    after ``patience`` epochs of ``steps_per_epoch`` steps: ``momentum ** steps``.

    Why: validation runs on the moving statistics. On a small training set (CK+: 5 steps an epoch)
    Keras' momentum 0.99 leaves 60 % of the initial mean 0 / variance 1 after 10 epochs, so the
    validation loss rises while the model learns, and early stopping keeps the first epoch.
    """
    import keras

    momenta = [layer.momentum for layer in model._flatten_layers(include_self=False)
               if isinstance(layer, keras.layers.BatchNormalization)]
    return float(max(momenta) ** (steps_per_epoch * patience)) if momenta else 0.0


def fit(model, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
        cfg: TrainConfig, workdir: Path, *, verbose: int = 2, extra_callbacks: tuple = (),
        trainer: str = "auto", steps_per_execution: int = KERAS_STEPS_PER_EXECUTION) -> dict:
    """Compile and train ``model``; returns history and timing. Restores the best val-loss weights.

    ``verbose``: 0 silent, 1 one progress bar for the whole run (tqdm), 2 one line per epoch.
    ``trainer``: "keras" is Keras ``fit`` from host arrays; "device" (JAX) keeps the arrays on the
    accelerator and runs many steps per compiled call (:mod:`fer_lib.device_train`); "keras" runs
    ``steps_per_execution`` steps per call. Both use the same callbacks, so early stopping,
    learning-rate schedule, checkpointing and resume behave the same.
    ``cfg.epoch_repeats`` > 1 makes an epoch that many shuffled passes over the training set (a
    small set such as CK+ then gets enough steps per early-stopping window); it warns when the
    BatchNorm statistics cannot have settled before early stopping may fire (:func:`stale_batchnorm`).
    """
    import keras

    trainer = resolve_trainer(trainer)
    if cfg.epoch_repeats > 1:  # one epoch = several passes; augmentation layers draw afresh on each copy
        x_train, y_train = np.concatenate([x_train] * cfg.epoch_repeats), np.concatenate([y_train] * cfg.epoch_repeats)
    steps_per_epoch = -(-len(y_train) // cfg.batch_size)
    if cfg.early_stopping_patience and cfg.epochs > cfg.early_stopping_patience:
        stale = stale_batchnorm(model, steps_per_epoch, cfg.early_stopping_patience)
        if stale > STALE_BATCHNORM:
            warnings.warn(f"model {model.name!r}: after {cfg.early_stopping_patience} epochs of {steps_per_epoch} steps "
                          f"its BatchNorm moving statistics still hold {stale:.0%} of their initial values, so early "
                          "stopping judges a validation loss computed with unfitted statistics; raise "
                          "train.epoch_repeats (or the batches per epoch) or lower the layers' momentum",
                          stacklevel=2)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if getattr(model.layers[-1], "activation", None) is keras.activations.softmax:
        raise ValueError(f"model {model.name!r} ends in a softmax; fit trains on logits (from_logits=True): "
                         "build its last Dense layer without activation (fer_lib.train.predict applies the "
                         "softmax)")
    lr = cfg.learning_rate
    if cfg.schedule == "cosine":  # decays with the optimiser's step count, which resume restores
        lr = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, cfg.epochs * steps_per_epoch)
    model.compile(optimizer=make_optimizer(cfg.optimizer, lr), loss=make_loss(cfg.label_smoothing),
                  metrics=["accuracy"], steps_per_execution=1 if trainer == "device" else steps_per_execution)
    best = workdir / "best.weights.h5"
    log = workdir / EPOCH_LOG
    stateful = {"checkpoint": keras.callbacks.ModelCheckpoint(str(best), monitor="val_loss", save_best_only=True,
                                                              save_weights_only=True)}
    if cfg.early_stopping_patience:
        stateful["early_stopping"] = keras.callbacks.EarlyStopping(monitor="val_loss",
                                                                   patience=cfg.early_stopping_patience)
    if cfg.reduce_lr_patience:
        stateful["reduce_lr"] = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=cfg.reduce_lr_patience,
                                                                  factor=cfg.reduce_lr_factor, min_lr=1e-6)
    callbacks = [_epoch_log_callback(log), *stateful.values(),
                 _resume_state_callback(workdir / "callbacks.jsonl", stateful),
                 keras.callbacks.BackupAndRestore(str(workdir / "backup"), delete_checkpoint=True)]
    callbacks.extend(extra_callbacks)
    if verbose == 1:
        callbacks.append(_progress_bar_callback(steps_per_epoch))
    class_weight = None
    if cfg.class_weight:
        counts = np.bincount(y_train, minlength=model.output_shape[-1]).astype(float)
        class_weight = {i: len(y_train) / (len(counts) * max(c, 1)) for i, c in enumerate(counts)}
    t0 = time.perf_counter()
    if trainer == "device":
        from fer_lib.device_train import device_fit  # JAX only

        device_fit(model, x_train, y_train, x_val, y_val, epochs=cfg.epochs, batch_size=cfg.batch_size,
                   callbacks=callbacks, class_weight=class_weight, verbose=verbose,
                   label_smoothing=cfg.label_smoothing)
    else:
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
            "trainer": trainer, "seconds_per_epoch": float(np.median(secs)) if secs else None,
            "train_images_per_s": float(len(x_train) / np.median(secs)) if secs else None}


def predict(model, x: np.ndarray, batch_size: int = 4096) -> tuple[np.ndarray, float]:
    """Class probabilities (the softmax of the model's logits) and images per second.

    On JAX one compiled inference function per model runs over fixed-size chunks (no retracing for
    the last one); elsewhere Keras ``predict``."""
    import keras

    t0 = time.perf_counter()
    if keras.backend.backend() == "jax":
        from fer_lib.device_train import predict_logits

        logits = predict_logits(model, x, batch_size=batch_size)
    else:
        logits = model.predict(x, batch_size=min(batch_size, 1024), verbose=0)
    ips = len(x) / max(time.perf_counter() - t0, 1e-9)
    return softmax(logits), ips


def softmax(logits) -> np.ndarray:
    """Row-wise softmax in float64 (shifted by the row maximum, so large logits do not overflow)."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


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
