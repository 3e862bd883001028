"""fer_lib: data, preprocessing, models, training and statistics for replicating FER papers.

The flow: data (load, validate, cache, split) -> preprocess (normalise, CLAHE, align,
augment) -> models (one builder per paper architecture) -> train -> metrics/stats ->
runner (one experiment = config -> results JSON).
"""
__version__ = "0.1.0"
