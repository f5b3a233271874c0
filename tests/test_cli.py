"""The residual-lab command line: a headless paired run with a JSON report."""

import json
import subprocess
import sys
import time

import pytest

from app.cli import main


def test_train_writes_config_and_both_histories(tmp_path, capsys):
    path = tmp_path / "run.json"
    code = main(["train", "--depth", "3", "--steps", "40", "--seed", "2", "--json", str(path)])

    report = json.loads(path.read_text())
    assert code == 0
    assert report["config"]["depth"] == 3 and report["config"]["seed"] == 2
    assert [r["kind"] for r in report["runs"]] == ["plain", "residual"]
    for run in report["runs"]:
        history = run["history"]
        assert set(history) == {"step", "train_loss", "train_accuracy", "test_accuracy"}
        assert history["step"][-1] == 40
        assert len(history["train_loss"]) == len(history["step"])
    assert "100.0%" in capsys.readouterr().err  # the progress bar reached the end


def test_train_is_reproducible_from_its_config(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    main(["train", "--depth", "2", "--steps", "20", "--json", str(a)])
    main(["train", "--depth", "2", "--steps", "20", "--json", str(b)])

    assert json.loads(a.read_text())["runs"] == json.loads(b.read_text())["runs"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--depth", "500"], "--depth: must be at most 128, got 500"),
        (["--learning-rate", "0"], "--learning-rate: must be above 0.0, got 0.0"),
        (["--dataset", "nope"], "invalid choice: 'nope'"),
    ],
)
def test_train_rejects_bad_options_naming_them(args, message):
    process = subprocess.run(
        [sys.executable, "-m", "app.cli", "train", *args], capture_output=True, text=True
    )

    assert process.returncode != 0
    assert message in process.stderr


@pytest.mark.parametrize("path", ["/nonexistent/dir/out.json", "/tmp"])
def test_an_unwritable_report_path_fails_before_training(path):
    began = time.monotonic()
    process = subprocess.run(
        [sys.executable, "-m", "app.cli", "train", "--steps", "100000", "--json", path],
        capture_output=True,
        text=True,
    )

    assert process.returncode != 0
    assert f"--json: cannot write {path}" in process.stderr
    assert "Traceback" not in process.stderr
    assert time.monotonic() - began < 30  # it did not train 100,000 steps first


def test_console_reports_the_same_final_loss_as_the_json(tmp_path, caplog):
    path = tmp_path / "run.json"
    with caplog.at_level("INFO"):
        main(["train", "--depth", "3", "--steps", "30", "--json", str(path)])

    final = json.loads(path.read_text())["final"]["train"]["residual"]["loss"]
    assert f"residual: training loss {final:.4f}" in caplog.text
