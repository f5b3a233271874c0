"""Learn the identity: fit H(x) = x with plain and residual stacks.

With its branch at zero a pre-activation residual unit is exactly the
identity (He et al. 2016, Sec. 3), so a residual stack only has to find
small branches. A plain stack has to build the identity through every
non-linear layer, and in practice fails to (He et al. 2015, Sec. 3.1).
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import BaseModel, ConfigDict, Field

from ..models import UnitSpec, paired_networks
from ..training import Trainer
from .base import Distinct, Preset, line_figure, num, series, train

Depth = Annotated[int, Field(ge=1, le=64)]


class IdentityOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    depths: Annotated[list[Depth], Distinct] = Field(
        [1, 3, 10, 30], min_length=1, max_length=6, description="units per stack, 1 to 64"
    )
    features: int = Field(4, ge=1, le=32, description="dimension of x")
    width: int = Field(16, ge=2, le=64, description="features per unit")
    steps: int = Field(400, ge=10, le=5000, description="Adam steps per stack")
    learning_rate: float = Field(0.003, gt=0, le=0.1)
    points: int = Field(512, ge=32, le=4096, description="training inputs x ~ N(0, 1)")
    seed: int = Field(0, ge=0, le=2**31 - 1)


def _fit_depth(opts: IdentityOptions, depth: int, checkpoint, on_row):
    """Train one plain and one residual stack of `depth` units on H(x) = x."""
    gen = torch.Generator().manual_seed(opts.seed)
    x = torch.randn(opts.points, opts.features, generator=gen)  # (points, features)

    # Pre-activation units leave the sum alone, so the residual stack can be
    # the identity exactly; a regression head (classes = features) and MSE.
    spec = UnitSpec(kind="preact")
    plain, residual = paired_networks(
        opts.seed, opts.features, opts.features, depth, opts.width, spec
    )
    nets = {"plain": plain, "residual": residual}
    fitter = Trainer(nets, x, x, opts.learning_rate, 128, opts.seed)
    curves = train(fitter, opts.steps, checkpoint, on_row)
    return curves, fitter.evaluate()


def run(opts: IdentityOptions, report, checkpoint) -> dict:
    depths = sorted(set(opts.depths))
    final = {"plain": [], "residual": []}
    curves_lines = []
    figures = {}
    for i, depth in enumerate(depths):

        def on_row(step, curves, i=i, depth=depth):
            frac = (i + step / opts.steps) / len(depths)
            report(frac, f"depth {depth}: step {step} of {opts.steps}")

        curves, metrics = _fit_depth(opts, depth, checkpoint, on_row)
        for kind in final:
            final[kind].append(metrics[kind]["loss"])
        names = {k: f"{k}, {depth} units" for k in final}
        curves_lines += curves.lines(names=names)

        figures = _figures(depths[: i + 1], final, curves_lines)
        report((i + 1) / len(depths), f"depth {depth} done", figures)

    return {"figures": figures, "measures": _measures(depths, final)}


def _figures(depths, final, curves_lines) -> dict:
    error = [series(k, depths, v) for k, v in final.items()]
    return {
        "error_vs_depth": line_figure(
            "Final error of H(x) = x against depth",
            "units",
            "mean squared error",
            error,
            log_y=True,
        ),
        "curves": line_figure(
            "Training curves", "step", "mean squared error", curves_lines, log_y=True
        ),
    }


def _measures(depths, final) -> dict:
    deep = [i for i, d in enumerate(depths) if d >= 10] or [len(depths) - 1]
    ratio = min(final["plain"][i] / max(final["residual"][i], 1e-12) for i in deep)
    return {
        "depths": depths,
        "plain_mse": [num(v) for v in final["plain"]],
        "residual_mse": [num(v) for v in final["residual"]],
        "min_ratio_at_depth_10_plus": num(ratio),
    }


PRESET = Preset(
    name="identity",
    title="Learn the identity",
    paper="He et al. 2015, Sec. 3.1; He et al. 2016, Sec. 3",
    explanation=(
        "Ask a stack of units to output its own input, H(x) = x. A residual unit "
        "only has to drive its branch F(x) to zero, because the shortcut already "
        "carries x; a plain unit has to rebuild x through two weight layers and a "
        "ReLU, and a deep plain stack has to do so in every unit at once. Both "
        "stacks start from the same weights and see the same batches."
    ),
    expected=(
        "From about 10 units up, the plain stacks stall at a mean squared error "
        "near the variance of x (about 1), while the residual stacks reach 1e-3 "
        "or less: at least 100 times lower."
    ),
    measure="Mean squared error on the training inputs after the last step.",
    options=IdentityOptions,
    run=run,
)
