"""Keras builders for every architecture in the five papers, and a registry by name.

Each builder cites the section of the paper it follows. Where the paper leaves a detail out,
the default chosen here is listed in the builder's docstring and in the experiment configs'
``assumptions``. Builders take ``augmentation`` (a list of Keras preprocessing layers, see
:func:`fer_lib.preprocess.augmentation_layers`) which is placed right after the input, so it
runs inside the graph and only during training. Builders never download weights.

Every builder ends in a Dense layer without activation: it outputs logits (the "softmax" of the
papers is applied by :func:`fer_lib.train.predict`). Training on logits
(``from_logits=True``) keeps the gradient alive when the softmax saturates; through clipped
probabilities (what the JAX and torch backends compute otherwise) it is exactly zero.
"""
from __future__ import annotations

import fnmatch
from typing import Callable, Sequence

import keras
from keras import layers

_REGISTRY: dict[str, Callable[..., keras.Model]] = {}


def register_model(fn: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
    """Store a builder under its function name (timm-style); a second builder of that name fails."""
    if fn.__name__ in _REGISTRY and _REGISTRY[fn.__name__] is not fn:
        raise ValueError(f"a model named {fn.__name__!r} is already registered "
                         f"(by {_REGISTRY[fn.__name__].__module__}); give the builder another name")
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def create_model(name: str, **kwargs) -> keras.Model:
    """Build the registered model ``name``; unknown names or arguments fail with the known ones."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known models: {list_models()}")
    fn = _REGISTRY[name]
    import inspect

    params = inspect.signature(fn).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ValueError(f"model {name!r} has no parameter(s) {unknown}; it takes {sorted(params)}")
    return fn(**kwargs)


def from_config(config: dict, classes: int, seed: int = 0) -> keras.Model:
    """The model an experiment spec, a run's recorded config or a shipped model's metadata names:
    its builder with ``model_kwargs``, ``classes`` outputs and the spec's augmentation layers (seeded)."""
    from fer_lib.preprocess import augmentation_layers

    kwargs = dict(config.get("model_kwargs") or {}, classes=classes)
    return create_model(config["model"], augmentation=augmentation_layers(config.get("augmentation"), seed=seed),
                        **kwargs)


def _check(classes: int, input_shape: Sequence[int], ndim: int = 3) -> None:
    if not isinstance(classes, int) or classes < 2:
        raise ValueError(f"classes must be an integer >= 2. Received: classes={classes}")
    if len(tuple(input_shape)) != ndim:
        raise ValueError(f"input_shape must have {ndim} dimensions. Received: input_shape={tuple(input_shape)}")


def _classifier(x, units: int, dropout: float, classes: int):
    """Dense ReLU ``fc1`` (+ ``fc1_dropout`` when ``dropout``) and the ``predictions`` layer (logits)."""
    x = layers.Dense(units, activation="relu", name="fc1")(x)
    if dropout:
        x = layers.Dropout(dropout, name="fc1_dropout")(x)
    return layers.Dense(classes, name="predictions")(x)


def _input(input_shape, augmentation, sequence: bool = False):
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = inputs
    for layer in augmentation or ():
        x = layers.TimeDistributed(layer, name=f"td_{layer.name}")(x) if sequence else layer(x)
    return inputs, x


# ----------------------------------------------------------------------------- Özer & Subaşı

def _ozer_trunk(inputs, filters, padding, rescale):
    """Optional Rescaling, then Conv2D (3x3, ReLU) + 2x2 max-pooling per filter count, with the
    layer names Keras' Sequential gave them in the paper's printed summaries."""
    x = layers.Rescaling(1.0 / 255, name="rescaling")(inputs) if rescale else inputs
    for i, f in enumerate(filters):
        sfx = f"_{i}" if i else ""
        x = layers.Conv2D(f, 3, padding=padding, activation="relu", name=f"conv2d{sfx}")(x)
        x = layers.MaxPooling2D(name=f"max_pooling2d{sfx}")(x)
    return layers.Flatten(name="flatten")(x)


@register_model
def ozer_cnn(input_shape=(48, 48, 3), classes: int = 7, rescale: bool = True, dropout: float = 0.0,
             augmentation=(), name: str = "sequential") -> keras.Model:
    """Pure CNN of Özer & Subaşı (§2.3a, Figure 2): 319,527 parameters at 48x48x3, 7 classes.

    Conv 16/32/64 (3x3, same, ReLU) each with 2x2 max-pooling, Dense 128, Dense softmax.
    Expects pixels in [0, 255] when ``rescale`` (the printed summary starts with Rescaling,
    as ``image_dataset_from_directory`` yields RGB 0-255). The text mentions dropout after the
    dense layers but the printed summary has none, so ``dropout`` defaults to 0 (no layer).
    """
    _check(classes, input_shape)
    inputs, x = _input(input_shape, augmentation)
    x = _ozer_trunk(x, (16, 32, 64), "same", rescale)
    x = layers.Dense(128, activation="relu", name="dense")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(classes, name="dense_1")(x)
    return keras.Model(inputs, outputs, name=name)


@register_model
def ozer_cnn_lstm(input_shape=(48, 48, 1), classes: int = 7, rescale: bool = False, timesteps: int = 16,
                  augmentation=(), name: str = "sequential") -> keras.Model:
    """Hybrid CNN-LSTM of Özer & Subaşı (§2.3b, Figure 4): 232,967 parameters at 48x48x1.

    Conv 32/64/128 (3x3, valid) with pooling -> Flatten (2,048) -> Reshape (16, 128) ->
    LSTM 128 -> Dense 64 -> Dense softmax. The text says "a sequence of length 36" but the
    printed summary reshapes to (16, 128); we follow the summary.
    """
    _check(classes, input_shape)
    inputs, x = _input(input_shape, augmentation)
    x = _ozer_trunk(x, (32, 64, 128), "valid", rescale)
    n = x.shape[-1]
    if n % timesteps:
        raise ValueError(f"flattened size {n} is not divisible by timesteps={timesteps}")
    x = layers.Reshape((timesteps, n // timesteps), name="reshape")(x)
    x = layers.LSTM(128, name="lstm")(x)
    x = layers.Dense(64, activation="relu", name="dense")(x)
    outputs = layers.Dense(classes, name="dense_1")(x)
    return keras.Model(inputs, outputs, name=name)


# ----------------------------------------------------------------------------- Wasey

def _wasey_trunk(x, filters, dropout):
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"block{i}_conv")(x)
        x = layers.BatchNormalization(name=f"block{i}_bn")(x)
        x = layers.MaxPooling2D(name=f"block{i}_pool")(x)
        x = layers.Dropout(dropout, name=f"block{i}_dropout")(x)
    return x


@register_model
def wasey_cnn_lstm(input_shape=(48, 48, 1), classes: int = 7, filters=(32, 64, 128), lstm_units: int = 128,
                   dropout: float = 0.25, augmentation=(), name: str = "wasey_cnn_lstm") -> keras.Model:
    """CNN-LSTM of Wasey (§7): three blocks (Conv2D + BatchNorm + MaxPool + Dropout), Flatten,
    Reshape, one LSTM, Dense softmax.

    Not given by the paper (our choices): filters 32/64/128 (3x3, same), dropout 0.25,
    LSTM 128 units, and the Reshape to (rows x cols, channels) of the last feature map, so
    the LSTM reads the 6x6 spatial positions as a 36-step sequence of 128 features.
    """
    _check(classes, input_shape)
    inputs, x = _input(input_shape, augmentation)
    x = _wasey_trunk(x, filters, dropout)
    h, w, c = x.shape[1:]
    x = layers.Flatten(name="flatten")(x)
    x = layers.Reshape((h * w, c), name="reshape")(x)
    x = layers.LSTM(lstm_units, name="lstm")(x)
    outputs = layers.Dense(classes, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


@register_model
def wasey_cnn(input_shape=(48, 48, 1), classes: int = 7, filters=(32, 64, 128), units: int = 128,
              dropout: float = 0.25, augmentation=(), name: str = "wasey_cnn") -> keras.Model:
    """Baseline of Wasey (§9, "a baseline CNN model"): the same three blocks, with the LSTM
    replaced by a Dense layer of the same width (our choice; the paper does not describe it)."""
    _check(classes, input_shape)
    inputs, x = _input(input_shape, augmentation)
    x = _wasey_trunk(x, filters, dropout)
    x = layers.Flatten(name="flatten")(x)
    outputs = _classifier(x, units, 0, classes)
    return keras.Model(inputs, outputs, name=name)


# ----------------------------------------------------------------------------- EmotionNet

EMOTIONNET_FILTERS = (32, 64, 128, 256, 256)
EMOTIONNET_DROPOUT = (0.3, 0.3, 0.4, 0.4, 0.5)


def _emotionnet_cnn(x, sequence: bool):
    """Five conv layers {32, 64, 128, 256, 256}, each + BatchNorm + MaxPool + Dropout (0.3-0.5).

    Pooling uses ``same`` padding so five poolings leave a 2x2 map at 48x48 (48/2^5 = 1.5). The
    layers sit in the model itself (``block3_conv``; ``td_block3_conv`` per frame of a clip), not in
    a nested sub-model, so Grad-CAM and feature extraction can address them by name.
    """
    for i, (f, d) in enumerate(zip(EMOTIONNET_FILTERS, EMOTIONNET_DROPOUT), start=1):
        for layer in (layers.Conv2D(f, 3, padding="same", activation="relu", name=f"block{i}_conv"),
                      layers.BatchNormalization(name=f"block{i}_bn"),
                      layers.MaxPooling2D(padding="same", name=f"block{i}_pool"),
                      layers.Dropout(d, name=f"block{i}_dropout")):
            x = layers.TimeDistributed(layer, name=f"td_{layer.name}")(x) if sequence else layer(x)
    return x


def _emotionnet(input_shape, classes, recurrent, augmentation, name) -> keras.Model:
    sequence = len(tuple(input_shape)) == 4
    inputs, x = _input(input_shape, augmentation, sequence=sequence)
    x = _emotionnet_cnn(x, sequence)
    if sequence:  # CK+ clips (frames, H, W, C): the recurrent layers read the frames in time order
        x = layers.TimeDistributed(layers.Flatten(), name="td_flatten")(x)
    else:  # one image: the recurrent layers read the final map's spatial positions
        h, w, c = x.shape[1:]
        x = layers.Reshape((h * w, c), name="to_sequence")(x)
    if recurrent is None:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(128, activation="relu", name="fc1")(x)
        x = layers.Dropout(0.5, name="fc1_dropout")(x)
    else:
        rnn = {"lstm": layers.LSTM, "gru": layers.GRU}[recurrent]
        x = rnn(128, activation="tanh", return_sequences=True, name=f"{recurrent}1")(x)
        x = layers.Dropout(0.3, name=f"{recurrent}1_dropout")(x)
        x = rnn(64, activation="tanh", name=f"{recurrent}2")(x)
        x = layers.Dropout(0.3, name=f"{recurrent}2_dropout")(x)
    outputs = layers.Dense(classes, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


@register_model
def emotionnet_cnn_lstm(input_shape=(48, 48, 1), classes: int = 7, augmentation=(),
                        name: str = "emotionnet_cnn_lstm") -> keras.Model:
    """EmotionNet (Bhardwaj & Singh, Proposed Methodology 1-3): the 5-conv CNN, then LSTM 128 ->
    LSTM 64 (tanh, dropout 0.3 after each; the rate is our choice), Dense softmax.

    ``input_shape`` of rank 4 (frames, H, W, C) builds the sequence model for CK+ clips.
    """
    _check(classes, input_shape, ndim=len(tuple(input_shape)))
    return _emotionnet(input_shape, classes, "lstm", augmentation, name)


@register_model
def emotionnet_cnn_gru(input_shape=(48, 48, 1), classes: int = 7, augmentation=(),
                       name: str = "emotionnet_cnn_gru") -> keras.Model:
    """CNN-GRU baseline of EmotionNet (Results and Evaluation): the LSTMs replaced by GRU 128 -> 64."""
    _check(classes, input_shape, ndim=len(tuple(input_shape)))
    return _emotionnet(input_shape, classes, "gru", augmentation, name)


@register_model
def emotionnet_cnn(input_shape=(48, 48, 1), classes: int = 7, augmentation=(),
                   name: str = "emotionnet_cnn") -> keras.Model:
    """CNN-only baseline and "without LSTM" ablation of EmotionNet: the 5-conv CNN, Dense 128, softmax."""
    _check(classes, input_shape, ndim=len(tuple(input_shape)))
    return _emotionnet(input_shape, classes, None, augmentation, name)


@register_model
def emotionnet_cnn3d(input_shape=(3, 48, 48, 1), classes: int = 7, augmentation=(),
                     name: str = "emotionnet_cnn3d") -> keras.Model:
    """3D-CNN baseline of EmotionNet (Results and Evaluation; not specified, our design):
    four Conv3D blocks 32/64/128/256 (kernel 3 in time when there are >= 3 frames), BatchNorm,
    spatial max-pooling, global average pooling, Dense 128, softmax.

    On single FER2013 images use ``input_shape=(1, 48, 48, 1)``: the time kernel is then 1 and
    the model is a 2D CNN in 3D clothing, which is all a 3D-CNN can be on a still image.
    """
    _check(classes, input_shape, ndim=4)
    inputs, x = _input(input_shape, augmentation, sequence=True)
    kt = 3 if input_shape[0] >= 3 else 1
    for i, f in enumerate((32, 64, 128, 256), start=1):
        x = layers.Conv3D(f, (kt, 3, 3), padding="same", activation="relu", name=f"block{i}_conv3d")(x)
        x = layers.BatchNormalization(name=f"block{i}_bn")(x)
        x = layers.MaxPooling3D((1, 2, 2), name=f"block{i}_pool")(x)
        x = layers.Dropout(0.3, name=f"block{i}_dropout")(x)
    x = layers.GlobalAveragePooling3D(name="gap")(x)
    outputs = _classifier(x, 128, 0.5, classes)
    return keras.Model(inputs, outputs, name=name)


# ----------------------------------------------------------------------------- Lamichhane & Karn

def _lamichhane_trunk(x, dropout):
    for i, f in enumerate((64, 128, 256), start=1):
        x = layers.Conv2D(f, 3, padding="same", name=f"block{i}_conv")(x)
        x = layers.BatchNormalization(name=f"block{i}_bn")(x)
        x = layers.Activation("relu", name=f"block{i}_relu")(x)
        x = layers.MaxPooling2D(name=f"block{i}_pool")(x)
        x = layers.Dropout(dropout, name=f"block{i}_dropout")(x)
    return x


@register_model
def lamichhane_cnn_bilstm(input_shape=(48, 48, 1), classes: int = 7, dropout: float = 0.1,
                          lstm_units: int = 128, dense_units: int = 0, augmentation=(),
                          name: str = "lamichhane_cnn_bilstm") -> keras.Model:
    """CNN-BiLSTM of Lamichhane & Karn (§3.3, Figure 3): conv blocks with pooling, batch
    normalisation and dropout (0.1, §4.2), flattened and fed to a bidirectional LSTM, then a
    Dense softmax. Filters 64/128/256 and 128 LSTM units per direction are our choices; the
    6x6 feature map is read as a 36-step sequence. ``dense_units`` > 0 adds the fully connected
    ReLU layer (+ dropout) before the output that §5 describes ("the third phase include fully
    connected and output layers"); §3.3 feeds the BiLSTM straight to the output layer."""
    _check(classes, input_shape)
    inputs, x = _input(input_shape, augmentation)
    x = _lamichhane_trunk(x, dropout)
    h, w, c = x.shape[1:]
    x = layers.Reshape((h * w, c), name="to_sequence")(x)
    x = layers.Bidirectional(layers.LSTM(lstm_units), name="bilstm")(x)
    if dense_units:
        outputs = _classifier(x, dense_units, dropout, classes)
    else:
        outputs = layers.Dense(classes, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


@register_model
def lamichhane_cnn(input_shape=(48, 48, 1), classes: int = 7, dropout: float = 0.1, units: int = 256,
                   augmentation=(), name: str = "lamichhane_cnn") -> keras.Model:
    """The CNN of Lamichhane & Karn (§5: "similar to the CNN-BiLSTM model but without the LSTM
    layers"): same blocks, Flatten, Dense 256 (the BiLSTM's output width), softmax."""
    _check(classes, input_shape)
    inputs, x = _input(input_shape, augmentation)
    x = _lamichhane_trunk(x, dropout)
    x = layers.Flatten(name="flatten")(x)
    outputs = _classifier(x, units, dropout, classes)
    return keras.Model(inputs, outputs, name=name)


# ----------------------------------------------------------------------------- Xu

@register_model
def xu_cnn(input_shape=(48, 48, 1), classes: int = 7, augmentation=(), name: str = "xu_cnn") -> keras.Model:
    """CNN of Xu (§2.2.1; architecture not given, our design in the spirit of the FERNet the
    paper cites): three VGG-style blocks of two 3x3 convs (64/128/256) + BatchNorm, max-pooling
    and dropout 0.25, then Dense 256 + dropout 0.5, softmax."""
    _check(classes, input_shape)
    inputs, x = _input(input_shape, augmentation)
    for i, f in enumerate((64, 128, 256), start=1):
        for j in (1, 2):
            x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"block{i}_conv{j}")(x)
            x = layers.BatchNormalization(name=f"block{i}_bn{j}")(x)
        x = layers.MaxPooling2D(name=f"block{i}_pool")(x)
        x = layers.Dropout(0.25, name=f"block{i}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = _classifier(x, 256, 0.5, classes)
    return keras.Model(inputs, outputs, name=name)


@register_model
def xu_rnn_lstm(input_shape=(48, 48, 1), classes: int = 7, units: int = 128, augmentation=(),
                name: str = "xu_rnn_lstm") -> keras.Model:
    """RNN-LSTM of Xu (§2.2.2; not specified, our design): the image read row by row as a
    48-step sequence of 48 pixels by two stacked LSTMs (128 units), Dense 64, softmax."""
    _check(classes, input_shape)
    inputs, x = _input(input_shape, augmentation)
    h, w, c = tuple(input_shape)
    x = layers.Reshape((h, w * c), name="rows")(x)
    x = layers.LSTM(units, return_sequences=True, name="lstm1")(x)
    x = layers.LSTM(units, name="lstm2")(x)
    outputs = _classifier(x, 64, 0, classes)
    return keras.Model(inputs, outputs, name=name)


# ----------------------------------------------------------------------------- our strong reference

@register_model
def reference_vgg(input_shape=(48, 48, 1), classes: int = 7, filters=(64, 128, 256, 512), units: int = 1024,
                  dropout: float = 0.3, augmentation=(), name: str = "reference_vgg") -> keras.Model:
    """Our strong FER2013 reference (not from the five papers): the VGG variant of Khaireddin &
    Chen (2021), four stages of two 3x3 conv + BatchNorm + ReLU with max-pooling, then global
    average pooling (instead of their flatten, 5 M parameters instead of 10 M), Dense 1024 and
    dropout; logits out. Trained by experiments/reference.yaml."""
    _check(classes, input_shape)
    inputs, x = _input(input_shape, augmentation)
    for i, f in enumerate(filters, start=1):
        for j in (1, 2):
            x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"block{i}_conv{j}")(x)
            x = layers.BatchNormalization(name=f"block{i}_bn{j}")(x)
            x = layers.Activation("relu", name=f"block{i}_relu{j}")(x)
        x = layers.MaxPooling2D(name=f"block{i}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="gap_dropout")(x)
    outputs = _classifier(x, units, dropout, classes)
    return keras.Model(inputs, outputs, name=name)
