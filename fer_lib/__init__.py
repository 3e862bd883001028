"""fer_lib: data, preprocessing, models, training and statistics for replicating FER papers.

The flow: data (load, validate, cache, split) -> preprocess (normalise, CLAHE, align,
augment) -> models (one builder per paper architecture) -> train -> metrics/stats ->
runner (one experiment = config -> results JSON).
"""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow start-up chatter out of logs

__version__ = "0.1.0"
