"""The command line: every command answers, bad input is a clear error with exit 2 (or 1 for a
book that cannot be built), and nothing is lost."""
from __future__ import annotations

import pytest

from fer_lib import cli
from fer_lib.config import PROFILES


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["-h"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("audit", "to-csv", "bundle", "align", "run", "results", "models", "notebooks", "book", "lab",
                "predict", "export-weights"):
        assert cmd in out


def test_unknown_profile_is_refused_with_the_known_ones(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "--profile", "huge"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "huge" in err and all(p in err for p in PROFILES)


def test_results_lists_committed_runs(capsys):
    assert cli.main(["results", "--profile", "quick"]) == 0
    out = capsys.readouterr().out
    assert "ozer/csv-cnn_lstm" in out and "accuracy" in out


def test_models_lists_and_summarises(capsys):
    assert cli.main(["models"]) == 0
    names = capsys.readouterr().out.split()
    assert "ozer_cnn" in names and "emotionnet_cnn_lstm" in names
    assert cli.main(["models", "ozer_cnn", "--kwargs", '{"input_shape": [48, 48, 3]}']) == 0
    assert "319,527" in capsys.readouterr().out


def test_bad_data_path_names_the_path(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert cli.main(["audit", "--fer2013", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err


def test_an_explicit_ckplus_path_that_is_missing_is_an_error(tmp_path, capsys):
    assert cli.main(["audit", "--ckplus", str(tmp_path / "nope")]) == 2
    assert "nope: CK+48 folder not found (--ckplus)" in capsys.readouterr().err
    assert cli.main(["run", "--profile", "smoke", "--paper", "emotionnet", "--ckplus", str(tmp_path / "nope")]) == 2
    assert "leave --ckplus out to skip its" in capsys.readouterr().err


def test_unknown_notebook_is_an_error(capsys):
    assert cli.main(["notebooks", "--profile", "smoke", "--only", "no_such_notebook"]) == 2
    assert "no_such_notebook" in capsys.readouterr().err


def test_book_without_executed_notebooks_says_what_to_run(tmp_path, capsys):
    assert cli.main(["book", "smoke", "--notebooks", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "missing" in err and "fer notebooks --profile smoke" in err
