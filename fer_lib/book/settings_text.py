"""Each protocol setting of an experiment's spec in the book's words: the protocols page puts them
side by side (:data:`ROWS`), a paper's page lists its experiments with them."""
from __future__ import annotations

from fer_lib import preprocess


def split(spec: dict) -> str:
    s = spec.get("split", {"kind": "official"})
    if s["kind"] == "official" and s.get("validation") == "public":
        return "official FER2013 Usage split: train on all of Training, validation = PublicTest"
    if s["kind"] == "official":
        return (f"official FER2013 Usage split, validation = stratified {100 * s.get('val_fraction', 0.1):g} % "
                "of Training")
    if s["kind"] == "stratified":
        return "random stratified " + "/".join(f"{100 * f:g}" for f in s["fractions"]) + " train/val/test"
    if s["kind"] == "subject_kfold":
        return (f"subject-independent {s.get('k', 10)}-fold CV, validation = {100 * s.get('val_fraction', 0.1):g} % "
                "of each training fold's subjects")
    return str(s)


def test_set(spec: dict) -> str:
    s = spec.get("split", {"kind": "official"})
    if s["kind"] == "official":
        return {"public": "PublicTest only", "private": "PrivateTest only",
                "all": "PublicTest + PrivateTest"}.get(s.get("test", "all"), s.get("test"))
    if s["kind"] == "stratified":
        return f"random held-out {100 * s['fractions'][2]:g} % of the pool"
    if s["kind"] == "subject_kfold":
        return "each fold's held-out subjects, predictions pooled over folds"
    return "?"


def data_pool(spec: dict) -> str:
    if spec.get("dataset") == "ckplus":
        txt = "CK+48, labelled sequences as clips"
    else:
        txt = {"all": "FER2013, all images", "directory": "FER2013, Training images only ('directory format')",
               "csv": "FER2013 in the CSV schema, all rows ('CSV format')"}.get(spec.get("pool", "all"))
    if spec.get("classes"):
        txt += " — classes " + "/".join(spec["classes"])
    return txt


def model_selection(spec: dict) -> str:
    t = spec.get("train", {})
    p = t.get("early_stopping_patience")
    es = f"early stopping on val loss (patience {p})" if p else "no early stopping"
    return es + "; best val-loss epoch restored"


def lr_schedule(spec: dict) -> str:
    t = spec.get("train", {})
    if t.get("reduce_lr_patience"):
        return f"ReduceLROnPlateau (patience {t['reduce_lr_patience']}, factor {t.get('reduce_lr_factor', 0.1):g})"
    return "constant"


def augmentation(spec: dict) -> str:
    a = spec.get("augmentation")
    if not a:
        return "none"
    params = preprocess.augmentation_spec(a)
    names = {"flip": lambda v: "horizontal flip", "rotation_deg": lambda v: f"rotation ±{v:g}°",
             "shift": lambda v: f"shift {100 * v:g} %", "zoom": lambda v: f"zoom {100 * v:g} %",
             "shear": lambda v: f"shear {v:g}", "brightness": lambda v: f"brightness ±{v:g}",
             "contrast": lambda v: f"contrast ±{v:g}", "noise": lambda v: f"Gaussian noise σ {v:g}"}
    parts = [names[k](v) for k, v in params.items() if v]
    return (f"`{a}`: " if isinstance(a, str) else "") + ", ".join(parts)


def preprocessing(spec: dict) -> str:
    steps = {"align": "dlib eye alignment", "clahe": "CLAHE"}
    return " + ".join(steps.get(s, s) for s in spec.get("preprocess", [])) or "none"


def model_input(spec: dict) -> str:
    return {"gray01": "grey, [0, 1]", "rgb255": "grey as RGB, 0–255", "volume01": "1-frame clip, [0, 1]",
            "clip01": "3-frame clip, [0, 1]"}.get(spec.get("input", "gray01"), spec.get("input"))


def train_setting(key: str, fmt=str):
    return lambda spec: fmt(spec.get("train", {}).get(key, "–"))


#: The rows of the protocols page: a setting and how to word it for one experiment's spec.
ROWS = [
    ("Data", data_pool),
    ("Split", split),
    ("Test set", test_set),
    ("Model selection", model_selection),
    ("Epochs (paper protocol)", train_setting("epochs")),
    ("Batch size", train_setting("batch_size")),
    ("Passes over the training set per epoch", lambda s: str(s.get("train", {}).get("epoch_repeats", 1))),
    ("Optimiser, learning rate", lambda s: f"{s.get('train', {}).get('optimizer', 'adam')}, "
                                           f"{s.get('train', {}).get('learning_rate', '–'):g}"),
    ("Learning-rate schedule", lr_schedule),
    ("Class weights", lambda s: "yes" if s.get("train", {}).get("class_weight") else "no"),
    ("Preprocessing", preprocessing),
    ("Augmentation", augmentation),
    ("Model input", model_input),
]
