"""Gradient flow and layer responses, per layer (He et al. 2015, Fig. 7).

Through an identity shortcut, the gradient reaching unit l is the gradient at
the top times (1 + a term from the branches), so it does not fade with depth
(He et al. 2016, Eq. 5). Without the shortcut it is a product of one factor
per layer and shrinks geometrically. Fig. 7 of He et al. 2015 adds that the
residual branches' responses are small: each unit changes its input a little.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from ..data import load
from ..models import UnitSpec
from ..training import KINDS
from .base import Preset, fit_pair, grid_figure, line_figure, num, series, train


class GradientFlowOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Literal["spiral", "moons", "circles", "xor", "gaussians", "digits"] = "spiral"
    depth: int = Field(20, ge=2, le=128, description="units per network")
    width: int = Field(24, ge=2, le=64, description="features per unit")
    steps: int = Field(300, ge=10, le=5000, description="Adam steps")
    learning_rate: float = Field(0.003, gt=0, le=0.1)
    batch_norm: bool = Field(False, description="BN after each weight layer, as in Fig. 7")
    seed: int = Field(0, ge=0, le=2**31 - 1)


@torch.no_grad()
def response_std(net, x: torch.Tensor) -> list[float]:
    """Std of each unit's weight-layer response F(x), before the addition.

    That is the quantity of He et al. 2015, Fig. 7 (the output of the second
    layer of a unit, before the shortcut and the final ReLU).
    """
    taps: list = []
    net.eval()
    net(x, taps)
    net.train()
    return [float(t["f"].std()) for t in taps[1:]]  # taps[0] is the stem


def run(opts: GradientFlowOptions, report, checkpoint) -> dict:
    data = load(opts.dataset, 1000, 0.03, opts.seed)
    spec = UnitSpec(batch_norm=opts.batch_norm)
    fitter = fit_pair(data, opts.depth, opts.width, spec, opts.learning_rate, opts.seed)
    nets, residual = fitter.nets, fitter.nets["residual"]
    layers = [name for name, _ in residual.layer_groups()]
    grads = {k: [] for k in KINDS}  # one list of per-layer norms per recorded step

    def on_row(step, curves):
        for kind in KINDS:
            grads[kind].append(fitter.grad_norms[kind])
        figures = None
        if len(curves.step) % 10 == 1:  # heat maps every tenth row are plenty
            figures = _grad_figures(curves.step, layers, grads)
        report(step / opts.steps, f"step {step} of {opts.steps}", figures)

    curves = train(fitter, opts.steps, checkpoint, on_row, grads=True)
    stds = {k: response_std(n, data.x_train) for k, n in nets.items()}

    figures = _grad_figures(curves.step, layers, grads)
    figures.update(_other_figures(curves, stds))
    report(1.0, "done", figures)
    return {"figures": figures, "measures": _measures(layers, grads, stds, fitter)}


def _grad_figures(steps, layers, grads) -> dict:
    out = {}
    for kind in KINDS:
        z = [list(col) for col in zip(*grads[kind], strict=True)]  # (layers, steps)
        out[f"grads_{kind}"] = grid_figure(
            "heatmap",
            f"Gradient norm per layer, {kind}",
            ("step", "layer", "gradient norm"),
            steps[: len(grads[kind])],
            layers,
            z,
            log_z=True,
        )
    return out


def _other_figures(curves, stds) -> dict:
    units = list(range(1, len(stds["plain"]) + 1))
    return {
        "response_std": line_figure(
            "Std of each unit's response F(x), after training",
            "unit",
            "std",
            [series(k, units, v) for k, v in stds.items()],
            log_y=True,
        ),
        "curves": line_figure("Training curves", "step", "training loss", curves.lines()),
    }


def _geomean(values) -> float:
    values = [max(v, 1e-30) for v in values]
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _measures(layers, grads, stds, fitter) -> dict:
    # "First layer" is unit 1, the first layer the shortcut can help.
    first = {k: _geomean([row[1] for row in grads[k]]) for k in KINDS}
    final = fitter.evaluate()
    return {
        "first_unit_grad_plain": num(first["plain"]),
        "first_unit_grad_residual": num(first["residual"]),
        "first_unit_grad_ratio": num(first["residual"] / max(first["plain"], 1e-30)),
        "mean_response_std_plain": num(sum(stds["plain"]) / len(stds["plain"])),
        "mean_response_std_residual": num(sum(stds["residual"]) / len(stds["residual"])),
        "final_loss_plain": num(final["plain"]["loss"]),
        "final_loss_residual": num(final["residual"]["loss"]),
    }


PRESET = Preset(
    name="gradient-flow",
    title="Gradient flow through the layers",
    paper="He et al. 2015, Fig. 7; He et al. 2016, Eq. 5",
    explanation=(
        "Train a deep plain and a deep residual network from the same weights and "
        "record, every few steps, the size of the gradient that reaches each layer. "
        "In the plain network the gradient of an early layer is a product of one "
        "factor per layer above it, so it shrinks step by step towards the input. "
        "The shortcut adds a direct path, so an early layer receives the late "
        "layers' gradient plus the branches' share. The second chart is the std of "
        "each unit's weight-layer response F(x), the quantity of He et al.'s Fig. 7; "
        "tick batch norm for the paper's setting. With batch norm the plain "
        "network's gradients no longer vanish but grow towards the input instead."
    ),
    expected=(
        "In the plain network the gradient norm falls by orders of magnitude from "
        "the head to the first units; in the residual network it stays within about "
        "one order of magnitude across all layers, so the first unit gets a gradient "
        "100 times larger or more. (He et al. also find smaller responses in the "
        "residual network, after long training with batch norm. Not here: in these "
        "small, briefly trained networks without batch norm the residual branches "
        "respond more strongly than the plain layers, so the card does not promise it.)"
    ),
    measure=(
        "Geometric mean over training of the gradient norm at unit 1, residual over "
        "plain; mean std of the units' responses F(x) after training."
    ),
    options=GradientFlowOptions,
    run=run,
)
