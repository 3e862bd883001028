"""Loaders on small slices of the real datasets, and every kind of bad input."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_lib import data
from fer_lib.data import DataError

PER_CLASS = 3


def _mini_fer(fer_root: Path, dest: Path, per_class: int = PER_CLASS) -> Path:
    """A copy of the first few real images of every class in both splits."""
    for split in ("train", "test"):
        for cls in data.FER2013_CLASSES:
            (dest / split / cls).mkdir(parents=True)
            for f in sorted((fer_root / split / cls).iterdir())[:per_class]:
                shutil.copy(f, dest / split / cls / f.name)
    return dest


@pytest.fixture()
def mini_fer(fer_root, tmp_path, tmp_cache) -> Path:
    return _mini_fer(fer_root, tmp_path / "fer2013")


def test_folder_loader_keeps_labels_and_usage(mini_fer):
    ds = data.load_fer2013(mini_fer)
    assert len(ds) == 2 * 7 * PER_CLASS
    assert ds.images.shape[1:] == (48, 48) and ds.images.dtype == np.uint8
    assert ds.class_counts() == {c: 2 * PER_CLASS for c in data.FER2013_CLASSES}
    train = ds.usage == "Training"
    assert train.sum() == 7 * PER_CLASS
    assert set(ds.usage[~train]) <= {"PublicTest", "PrivateTest"}
    i = int(np.flatnonzero(ds.labels == data.FER2013_CLASSES.index("fear"))[0])
    assert "/fear/" in ds.ids[i]
    ref = cv2.imread(str(mini_fer / ds.ids[i]), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(ds.images[i], ref)


def test_cache_is_reused_and_invalidated(mini_fer, tmp_cache):
    a = data.load_fer2013(mini_fer)
    files = sorted(tmp_cache.glob("fer2013-folders-*.npz"))
    assert len(files) == 1
    b = data.load_fer2013(mini_fer)
    assert a.source_hash == b.source_hash and np.array_equal(a.images, b.images)
    # changing one image changes the content hash and makes a new cache entry
    victim = next((mini_fer / "train" / "happy").iterdir())
    img = cv2.imread(str(victim), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(victim), 255 - img)
    c = data.load_fer2013(mini_fer)
    assert c.source_hash != a.source_hash
    assert len(sorted(tmp_cache.glob("fer2013-folders-*.npz"))) == 2


def test_csv_round_trip_matches_folder_pixels(mini_fer, tmp_path):
    ds = data.load_fer2013(mini_fer)
    out = data.write_fer2013_csv(ds, tmp_path / "fer2013.csv")
    header = out.read_text().splitlines()[0]
    assert header == "emotion,pixels,Usage"
    back = data.load_fer2013(out, use_cache=False)
    view = data.csv_view(ds)
    assert np.array_equal(back.images, view.images) and np.array_equal(back.labels, view.labels)
    assert list(back.usage[: 7 * PER_CLASS]) == ["Training"] * 7 * PER_CLASS  # CSV order: Training first


def test_bundle_with_raw_files_decodes_identically(mini_fer, tmp_path):
    ds = data.load_fer2013(mini_fer)
    raw = data.load_fer2013(data.save_bundle(ds, tmp_path / "raw.npz", raw_files_root=mini_fer))
    px = data.load_fer2013(data.save_bundle(ds, tmp_path / "px.npz"))
    for b in (raw, px):
        assert b.source_hash == ds.source_hash and list(b.ids) == list(ds.ids)


def test_ckplus_metadata(ck_root):
    ck = data.load_ckplus(ck_root)
    assert len(ck) == 981 and ck.class_names == data.CKPLUS_CLASSES
    assert len(np.unique(ck.subject)) == 118
    clips, labels, subjects, ids = data.ck_sequences(ck, frames=3)
    assert clips.shape == (327, 3, 48, 48)
    assert len(set(ids)) == 327 and len(labels) == len(subjects) == 327


def test_select_classes_relabels(mini_fer):
    ds = data.load_fer2013(mini_fer).select_classes(["happy", "sad", "neutral"])
    assert ds.class_names == ("happy", "sad", "neutral")
    assert sorted(set(ds.labels.tolist())) == [0, 1, 2] and len(ds) == 3 * 2 * PER_CLASS


# ----------------------------------------------------------------------------- bad input

def test_corrupt_image_names_file_and_can_be_skipped(mini_fer):
    bad = mini_fer / "train" / "angry" / "Training_00000001.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(DataError, match="Training_00000001.jpg.*not a readable image"):
        data.load_fer2013(mini_fer)
    ds = data.load_fer2013(mini_fer, on_error="skip")
    assert len(ds) == 2 * 7 * PER_CLASS and len(ds.skipped) == 1 and "Training_00000001" in ds.skipped[0]
    also = mini_fer / "train" / "sad" / "Training_00000002.png"
    also.write_bytes(b"")
    with pytest.raises(DataError, match=r"(?s)2 bad images:.*Training_0000000[12].*Training_0000000[12]"):
        data.load_fer2013(mini_fer)  # every bad file in one error, not one per attempt


def test_fer_run_stops_before_any_run_on_bad_input(mini_fer, tmp_path, monkeypatch, capsys):
    from fer_lib import cli
    (mini_fer / "train" / "angry" / "Training_00000001.jpg").write_bytes(b"this is not a jpeg")
    monkeypatch.setenv("FER_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("FER_WORK", str(tmp_path / "work"))
    assert cli.main(["run", "--profile", "smoke", "--paper", "ozer", "--fer2013", str(mini_fer)]) == 2
    out = capsys.readouterr()
    assert "Training_00000001.jpg: not a readable image" in out.err and "Traceback" not in out.err
    assert "[runner] (1/" not in out.out and not (tmp_path / "work").exists()  # no run started


def test_wrong_size_and_channels(mini_fer):
    big = mini_fer / "train" / "sad" / "Training_00000002.png"
    cv2.imwrite(str(big), np.zeros((64, 64), np.uint8))
    with pytest.raises(DataError, match=r"Training_00000002.png: image is 64x64, expected 48x48"):
        data.load_fer2013(mini_fer)
    big.unlink()
    colour = mini_fer / "train" / "sad" / "Training_00000003.png"
    rgb = np.zeros((48, 48, 3), np.uint8)
    rgb[..., 2] = 200
    cv2.imwrite(str(colour), rgb)
    with pytest.raises(DataError, match="3 colour channels"):
        data.load_fer2013(mini_fer)


def test_missing_or_misspelt_class_folder(mini_fer):
    (mini_fer / "test" / "surprise").rename(mini_fer / "test" / "suprise")
    with pytest.raises(DataError, match=r"missing \['surprise'\].*did you mean 'surprise'"):
        data.load_fer2013(mini_fer)
    (mini_fer / "test" / "suprise").rename(mini_fer / "test" / "surprise")
    (mini_fer / "test" / "contempt").mkdir()
    with pytest.raises(DataError, match=r"'contempt' is not a class\. Rename or move the extra") as e:
        data.load_fer2013(mini_fer)
    assert "missing [" not in str(e.value)


def test_empty_class_folder_and_stray_file(mini_fer):
    stray = mini_fer / "train" / "happy" / "notes.txt"
    stray.write_text("x")
    with pytest.raises(DataError, match="notes.txt: not an image file"):
        data.load_fer2013(mini_fer)
    stray.unlink()
    for f in (mini_fer / "train" / "disgust").iterdir():
        f.unlink()
    with pytest.raises(DataError, match="disgust: empty class folder"):
        data.load_fer2013(mini_fer)


@pytest.mark.parametrize("row, message", [
    ("9,1 2 3,Training", "emotion 9 is outside 0-6"),
    ("x," + " ".join(["0"] * 2304) + ",Training", "not an integer"),
    ("3," + " ".join(["0"] * 2303) + ",Training", "2303 values, expected 2304"),
    ("3," + " ".join(["300"] * 2304) + ",Training", "outside 0-255"),
    ("3," + " ".join(["0"] * 2304) + ",Validation", "Usage 'Validation'"),
    ("3", "expected 3 columns"),
])
def test_malformed_csv_row_names_line(tmp_path, row, message):
    good = "0," + " ".join(["7"] * 2304) + ",Training"
    path = tmp_path / "fer2013.csv"
    path.write_text("emotion,pixels,Usage\n" + good + "\n" + row + "\n")
    with pytest.raises(DataError, match=f"fer2013.csv, line 3: malformed row: .*{message}"):
        data.load_fer2013_csv(path, use_cache=False)
    ds = data.load_fer2013_csv(path, on_error="skip")
    assert len(ds) == 1 and len(ds.skipped) == 1


def test_missing_paths_and_wrong_header(tmp_path):
    with pytest.raises(DataError, match="FER2013 folder not found|not found or not a FER2013 source"):
        data.load_fer2013(tmp_path / "nowhere")
    bad = tmp_path / "other.csv"
    bad.write_text("label,image\n1,2\n")
    with pytest.raises(DataError, match="header is"):
        data.load_fer2013_csv(bad, use_cache=False)
    with pytest.raises(ValueError, match="on_error must be"):
        data.load_fer2013_csv(bad, on_error="warn")


def test_csv_columns_are_read_by_name(tmp_path):
    """Kaggle's icml_face_data.csv: the same columns as fer2013.csv in another order, spaced names."""
    path = tmp_path / "icml_face_data.csv"
    path.write_text("emotion, Usage, pixels\n3,PublicTest," + " ".join(["9"] * 2304) + "\n")
    ds = data.load_fer2013_csv(path, use_cache=False)
    assert ds.labels.tolist() == [3] and ds.usage.tolist() == ["PublicTest"] and ds.images[0, 0, 0] == 9
