"""The paper lab: classic residual-network experiments, one click each.

`PRESETS` maps each preset's name to its card (`Preset`): title, the
project's own explanation, the expected result, an options model with
defaults and bounds, and `run(options, report, checkpoint)`.
"""

from __future__ import annotations

import time

from . import degradation, gradient_flow, identity, lesion, loss_surface, shattered, shortcuts
from .base import Checkpoint, Preset, Report, no_checkpoint, no_report

PRESETS: dict[str, Preset] = {
    module.PRESET.name: module.PRESET
    for module in (identity, degradation, gradient_flow, shortcuts, lesion, loss_surface, shattered)
}


def get(name: str) -> Preset:
    """The preset called `name`; ValueError naming the known ones otherwise."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    return PRESETS[name]


def run_preset(name: str, options: dict | None = None, report=no_report, checkpoint=no_checkpoint):
    """Validate `options` against the preset's model and run it.

    Returns {"preset", "options", "figures", "measures", "seconds"}.
    """
    preset = get(name)
    opts = preset.options.model_validate(options or {})
    started = time.perf_counter()
    result = preset.run(opts, report, checkpoint)
    return {
        "preset": name,
        "options": opts.model_dump(),
        "figures": result["figures"],
        "measures": result["measures"],
        "seconds": round(time.perf_counter() - started, 3),
    }


__all__ = ["PRESETS", "Checkpoint", "Preset", "Report", "get", "run_preset"]
