"""`residual-lab run`: the paper lab's presets from the command line."""

import json
import subprocess
import sys

import pytest

from app.cli import main
from app.core.presets import PRESETS


def test_run_list_names_every_preset(capsys):
    code = main(["run", "--list"])

    out = capsys.readouterr().out
    assert code == 0
    for name in PRESETS:
        assert name in out


def test_run_preset_writes_options_and_figures_as_strict_json(tmp_path, capsys):
    path = tmp_path / "identity.json"
    argv = ["run", "identity", "--depths", "1,3", "--steps", "20", "--seed", "3"]
    code = main([*argv, "--json", str(path)])

    report = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(c))
    assert code == 0
    assert report["preset"] == "identity"
    assert report["options"]["depths"] == [1, 3] and report["options"]["seed"] == 3
    assert set(report["figures"]) == {"error_vs_depth", "curves"}
    assert report["figures"]["error_vs_depth"]["series"][0]["x"] == [1, 3]
    assert "100.0%" in capsys.readouterr().err  # the progress bar reached the end


def test_run_enum_list_and_bool_flags_reach_the_options(tmp_path):
    path = tmp_path / "shortcuts.json"
    argv = ["run", "shortcuts", "--variants", "plain,rezero", "--depth", "2", "--steps", "10"]
    main([*argv, "--json", str(path)])

    report = json.loads(path.read_text())
    assert report["options"]["variants"] == ["plain", "rezero"]
    assert set(report["measures"]) == {"final_loss_plain", "final_loss_rezero"}


def test_run_out_of_range_option_names_the_flag_and_bound(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["run", "identity", "--depths", "1,300"])

    assert stopped.value.code == 2
    assert "residual-lab run identity: error: --depths: must be at most 64, got 300" in (
        capsys.readouterr().err
    )


def test_run_unknown_preset_names_the_known_ones():
    with pytest.raises(SystemExit, match="degradation"):
        main(["run", "nope"])


def test_run_list_works_as_a_module():
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "run", "--list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "loss-surface" in out
