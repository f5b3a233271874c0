"""The degradation sweep: final training loss against depth (He et al. 2015, Fig. 6).

Deeper plain networks end with a higher *training* loss than shallower ones,
so the problem is optimisation, not over-fitting; residual networks of the
same depths, started from the same weights, keep improving.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..data import load
from ..models import paired_networks
from ..training import Trainer
from .base import Distinct, Preset, line_figure, num, series, train

Depth = Annotated[int, Field(ge=1, le=128)]


class DegradationOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Literal["spiral", "moons", "circles", "xor", "gaussians", "digits"] = "spiral"
    depths: Annotated[list[Depth], Distinct] = Field(
        [2, 8, 20, 56], min_length=2, max_length=6, description="units per network, 1 to 128"
    )
    width: int = Field(24, ge=2, le=64, description="features per unit")
    steps: int = Field(500, ge=10, le=5000, description="Adam steps per network")
    learning_rate: float = Field(0.003, gt=0, le=0.1)
    batch_size: int = Field(128, ge=8, le=1024)
    seed: int = Field(0, ge=0, le=2**31 - 1)


def _fit_depth(opts: DegradationOptions, data, depth: int, checkpoint, on_row):
    # Dense units for the digits too: the sweep is about depth, and convs
    # would cost ten times the time for the same lesson.
    plain, residual = paired_networks(opts.seed, data.in_features, data.classes, depth, opts.width)
    nets = {"plain": plain, "residual": residual}
    fitter = Trainer(
        nets, data.x_train, data.y_train, opts.learning_rate, opts.batch_size, opts.seed
    )
    curves = train(fitter, opts.steps, checkpoint, on_row)
    return curves, fitter.evaluate()


def run(opts: DegradationOptions, report, checkpoint) -> dict:
    data = load(opts.dataset, 1000, 0.03, opts.seed)
    depths = sorted(set(opts.depths))
    final = {"plain": [], "residual": []}
    curves_lines: list[dict] = []
    figures: dict = {}
    for i, depth in enumerate(depths):

        def on_row(step, curves, i=i, depth=depth):
            frac = (i + step / opts.steps) / len(depths)
            report(frac, f"depth {depth}: step {step} of {opts.steps}")

        curves, metrics = _fit_depth(opts, data, depth, checkpoint, on_row)
        for kind in final:
            final[kind].append(metrics[kind])
        curves_lines += curves.lines(names={k: f"{k}-{depth}" for k in final})

        figures = _figures(depths[: i + 1], final, curves_lines)
        report((i + 1) / len(depths), f"depth {depth} done", figures)

    return {"figures": figures, "measures": _measures(depths, final)}


def _figures(depths, final, curves_lines) -> dict:
    loss = [series(k, depths, [m["loss"] for m in v]) for k, v in final.items()]
    error = [series(k, depths, [1 - m["accuracy"] for m in v]) for k, v in final.items()]
    return {
        "loss_vs_depth": line_figure(
            "Final training loss against depth", "units", "training loss", loss, log_y=True
        ),
        "error_vs_depth": line_figure(
            "Final training error against depth", "units", "training error", error
        ),
        "curves": line_figure("Training curves", "step", "training loss", curves_lines),
    }


def _measures(depths, final) -> dict:
    return {
        "depths": depths,
        "plain_loss": [num(m["loss"]) for m in final["plain"]],
        "residual_loss": [num(m["loss"]) for m in final["residual"]],
        "plain_error": [num(1 - m["accuracy"]) for m in final["plain"]],
        "residual_error": [num(1 - m["accuracy"]) for m in final["residual"]],
    }


PRESET = Preset(
    name="degradation",
    title="Degradation: deeper plain networks train worse",
    paper="He et al. 2015, Fig. 6",
    explanation=(
        "Train a plain and a residual network at several depths, each pair from "
        "the same initial weights on the same batches, and plot the training loss "
        "each reaches. If depth only caused over-fitting, deeper networks would "
        "still fit the training set at least as well. They do not: a deep plain "
        "network cannot even find the solution a shallow one already has, because "
        "its signal and gradient fade through the stack. The shortcut fixes that."
    ),
    expected=(
        "The plain curve rises with depth: from 20 units on it stalls near "
        "ln 2 = 0.69 on the two-class spiral, far above the 2-unit plain network. "
        "The residual curve stays low at every depth (below about 0.05), so at "
        "20 and 56 units the residual network's loss is ten times lower or more."
    ),
    measure="Cross-entropy and error on the whole training set after the last step.",
    options=DegradationOptions,
    run=run,
)
