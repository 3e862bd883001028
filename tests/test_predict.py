"""The predictor on real photographs, a blank image, a corrupt file and a video built from the photos."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_lib import cli
from fer_lib.export import best_runs, export_best, selected_val_accuracy
from fer_lib.predict import Predictor, shipped_models
from fer_lib.results import run_file


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    if not shipped_models():
        pytest.fail("no shipped model in weights/ (fer export-weights --profile paper makes them)")
    return Predictor()


@pytest.fixture(scope="module")
def photos(faces_root) -> list:
    found = sorted(faces_root.glob("*.jpg"))
    assert len(found) == 2
    return found


def test_one_face_per_photo_with_probabilities(photos):
    # dlib at a lowered threshold finds both faces; the woman's is half covered by her hand
    predictor = Predictor(detector="dlib", threshold=-0.6)
    for path in photos:
        _, faces = predictor.predict_file(path)
        assert len(faces) == 1, path
        f = faces[0]
        assert f.emotion in predictor.class_names and f.emotion == max(f.probabilities, key=f.probabilities.get)
        assert abs(sum(f.probabilities.values()) - 1) < 1e-3 and all(0 <= v <= 1 for v in f.probabilities.values())
        x, y, w, h = f.box
        assert w >= 48 and h >= 48


def test_haar_default_finds_the_uncovered_face_only(predictor, photos):
    # photos sorted: the angry man (frontal) first, the crying woman (hand over her face) second
    assert [len(predictor.predict_file(path)[1]) for path in photos] == [1, 0]


def test_no_face_is_an_empty_list(predictor):
    assert predictor.predict(np.full((480, 640, 3), 128, np.uint8)) == []


def test_cli_goes_on_past_a_corrupt_file(tmp_path, photos, capsys):
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    assert cli.main(["predict", str(bad), str(photos[0]), "--out", str(out)]) == 1
    assert str(bad) in capsys.readouterr().err
    lines = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["source"] for r in lines] == [str(bad), str(photos[0])]  # the unreadable one is recorded too
    assert "not a readable image" in lines[0]["error"] and len(lines[1]["faces"]) == 1
    assert cv2.imread(str(out / f"{photos[0].stem}.annotated.jpg")) is not None
    # a second call appends; a second input of the same name gets its own annotated copy
    twin = tmp_path / "other" / photos[0].name
    twin.parent.mkdir()
    twin.write_bytes(photos[0].read_bytes())
    assert cli.main(["predict", str(photos[0]), str(twin), "--out", str(out)]) == 0
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    stem = photos[0].stem  # no annotated copy is overwritten, by this call or an earlier one
    assert [r.get("annotated") for r in rows] == [None, f"{stem}.annotated.jpg", f"{stem}-2.annotated.jpg",
                                                  f"{stem}-3.annotated.jpg"]
    assert all(r["model"] for r in rows[1:]) and cv2.imread(str(out / f"{stem}-3.annotated.jpg")) is not None


def test_a_missing_video_is_one_error_line(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["predict", "--video", str(tmp_path / "nope.mp4"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "nope.mp4: no such video file" in err and "frame" not in err  # no progress bar drawn
    assert json.loads((out / "predictions.jsonl").read_text())["error"].endswith("check the path")


def test_a_missing_image_is_named_not_a_traceback(predictor, tmp_path):
    from fer_lib.predict import PredictError
    with pytest.raises(PredictError, match="predict_file"):
        predictor.predict(cv2.imread(str(tmp_path / "nope.jpg")))  # None
    with pytest.raises(PredictError, match="nope.jpg: no such file"):
        predictor.predict_file(tmp_path / "nope.jpg")


def test_cli_video_annotates_every_frame(tmp_path, photos):
    video = tmp_path / "two_faces.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (640, 480))
    for path in photos:
        img = cv2.imread(str(path))
        canvas = np.full((480, 640, 3), 90, np.uint8)
        small = cv2.resize(img, (int(img.shape[1] * 360 / img.shape[0]), 360))[:, :600]
        canvas[60:420, 20:20 + small.shape[1]] = small
        for _ in range(3):
            writer.write(canvas)
    writer.release()
    out = tmp_path / "out"
    assert cli.main(["predict", "--video", str(video), "--out", str(out), "--detector", "dlib",
                     "--detect-threshold", "-0.6"]) == 0
    lines = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(6))
    assert all(len(r["faces"]) == 1 for r in lines)
    cap = cv2.VideoCapture(str(out / "two_faces.annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6


def test_export_selects_on_validation_not_test():
    run = {"history": {"val_loss": [1.2, 0.9, 1.0], "val_accuracy": [0.40, 0.55, 0.60]}}
    assert selected_val_accuracy(run) == 0.55  # the epoch with the lowest validation loss


def _kept_run(base: Path, seed: int, val_acc: float) -> Path:
    """A paper run of Özer's CSV CNN with kept weights (bytes naming the seed) beside its result."""
    run = {"experiment": "ozer/csv-cnn", "paper": "ozer", "name": "csv-cnn", "profile": "paper", "seed": seed,
           "config": {"model": "ozer_cnn", "input": "rgb255"}, "class_names": ["a", "b"],
           "history": {"val_loss": [1.0], "val_accuracy": [val_acc]}, "metrics": {"accuracy": 0.5},
           "provenance": {"seed": seed}}
    result = run_file(base, "paper", "ozer", "csv-cnn", seed, ".json")
    result.parent.mkdir(parents=True, exist_ok=True)
    result.write_text(json.dumps(run))
    weights = run_file(base, "paper", "ozer", "csv-cnn", seed, ".weights.h5")
    weights.write_bytes(f"seed {seed}".encode())
    return weights


def test_export_keeps_a_better_shipped_model_whose_run_is_elsewhere(tmp_path):
    """Runs of one profile come back from several GPU leases: a later lease's weaker run of a model
    must not replace the shipped one, and a stronger one must."""
    base, out = tmp_path / "results", tmp_path / "weights"
    _kept_run(base, 0, 0.60)
    assert [w.name for w in export_best("paper", out, base)] == ["ozer_cnn.weights.h5"]
    run_file(base, "paper", "ozer", "csv-cnn", 0, ".json").unlink()  # seed 0 came from an earlier lease
    _kept_run(base, 1, 0.55)
    assert best_runs("paper", base)["ozer_cnn"][1]["seed"] == 1
    assert export_best("paper", out, base) == []
    assert (out / "ozer_cnn.weights.h5").read_bytes() == b"seed 0"
    _kept_run(base, 2, 0.65)
    export_best("paper", out, base)
    assert (out / "ozer_cnn.weights.h5").read_bytes() == b"seed 2"
    assert json.loads((out / "ozer_cnn.json").read_text())["seed"] == 2
