"""Every benchmark under bench/ still runs end to end (at a tiny size).

These check that the scripts work and print their figures; the figures
themselves are read from full-size runs, never asserted here.
"""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize(
    "script, args, expected",
    [
        ("paired_training.py", ["--steps", "20", "--repeats", "1"], "ratio engine/eager"),
        ("degradation_sweep.py", ["--steps", "10"], "preset total"),
        ("class_load.py", ["--sessions", "3", "--seconds", "3"], "p99"),
        ("anatomy_latency.py", ["--updates", "5", "--moves", "3"], "painted"),
    ],
)
def test_benchmark_runs_and_reports(script, args, expected):
    process = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=240
    )

    assert process.returncode == 0, process.stderr[-2000:]
    assert expected in process.stdout + process.stderr
