"""Shattered gradients: input gradients along a line of inputs (Balduzzi et al. 2017).

Feed a 1-D line of inputs through a freshly initialised network with one
output and take the gradient of the output with respect to each input. In a
deep plain network with batch norm, neighbouring inputs get unrelated
gradients, like white noise; with shortcuts they stay correlated, like brown
noise (Balduzzi et al. 2017, Figs. 1 and 2).
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ..models import UnitSpec, paired_networks
from ..training import KINDS
from .base import Distinct, Preset, line_figure, num, series

Depth = Annotated[int, Field(ge=1, le=128)]


class ShatteredOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    depths: Annotated[list[Depth], Distinct] = Field(
        [1, 2, 4, 7, 10, 15, 20], min_length=2, max_length=8, description="units per network"
    )
    width: int = Field(64, ge=2, le=256, description="features per unit")
    points: int = Field(256, ge=16, le=1024, description="inputs on the line [-2, 2]")
    repeats: int = Field(3, ge=1, le=10, description="random initialisations averaged")
    seed: int = Field(0, ge=0, le=2**31 - 1)


def input_gradients(net, x: torch.Tensor) -> torch.Tensor:
    """d output / d input at every point of the line: (points, 1) -> (points,).

    BN first takes its statistics from the whole line (momentum 1), then is
    frozen, so that each point's gradient is that of one fixed function and
    has no cross-terms through the batch mean and variance.
    """
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = 1.0
    with torch.no_grad():
        net(x)
    net.eval()

    x = x.clone().requires_grad_(True)
    net(x).sum().backward()  # points are independent now: one pass, all gradients
    return x.grad[:, 0]


def neighbour_correlation(g: torch.Tensor) -> float:
    """Pearson correlation of each gradient with its neighbour's: 1 smooth, 0 noise."""
    a, b = g[:-1] - g[:-1].mean(), g[1:] - g[1:].mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-30))


def _measure_depth(opts: ShatteredOptions, depth: int, x: torch.Tensor):
    corr = {k: 0.0 for k in KINDS}
    example = {}
    for r in range(opts.repeats):
        plain, residual = paired_networks(
            opts.seed + r, 1, 1, depth, opts.width, UnitSpec(batch_norm=True)
        )
        for kind, net in zip(KINDS, (plain, residual), strict=True):
            g = input_gradients(net, x)
            corr[kind] += neighbour_correlation(g) / opts.repeats
            if r == 0:
                example[kind] = (g / g.std().clamp_min(1e-30)).tolist()
    return corr, example


def run(opts: ShatteredOptions, report, checkpoint) -> dict:
    x = torch.linspace(-2, 2, opts.points)[:, None]  # (points, 1)
    depths = sorted(set(opts.depths))
    corr = {k: [] for k in KINDS}
    figures: dict = {}
    for i, depth in enumerate(depths):
        checkpoint()
        c, example = _measure_depth(opts, depth, x)
        for kind in KINDS:
            corr[kind].append(c[kind])
        figures = _figures(depths[: i + 1], corr, x[:, 0].tolist(), example, depth)
        report((i + 1) / len(depths), f"depth {depth} done", figures)

    measures = {"depths": depths}
    measures.update({f"correlation_{k}": [num(v) for v in corr[k]] for k in KINDS})
    return {"figures": figures, "measures": measures}


def _figures(depths, corr, line, example, depth) -> dict:
    xs = [num(v, 4) for v in line]
    return {
        "correlation_vs_depth": line_figure(
            "Correlation of neighbouring input gradients against depth",
            "units",
            "neighbour correlation",
            [series(k, depths, v) for k, v in corr.items()],
        ),
        "gradients": line_figure(
            f"Input gradient along the line, {depth} units (scaled to unit std)",
            "input x",
            "d output / dx",
            [series(k, xs, example[k]) for k in KINDS],
        ),
    }


PRESET = Preset(
    name="shattered",
    title="Shattered gradients",
    paper="Balduzzi et al. 2017, Figs. 1 and 2",
    explanation=(
        "Take freshly initialised networks with batch norm, one input and one "
        "output, and feed them a line of inputs from -2 to 2. For each input, ask "
        "how the output changes when that input moves: the input gradient. A "
        "learner can only exploit gradients that say something about nearby inputs. "
        "As a plain network gets deeper, the gradient at one point tells less and "
        "less about its neighbours; the shortcuts of a residual network keep "
        "a part of the signal that every unit passes on unchanged, so its "
        "gradients stay related."
    ),
    expected=(
        "The correlation between neighbouring gradients falls fast with depth in "
        "the plain networks and is near 0 (white noise) by about 7 units; the "
        "residual ones stay well above it at every depth and keep a clear "
        "correlation at 10 units. (It does decay slowly too: Balduzzi et al. find "
        "about 1 over the square root of depth.)"
    ),
    measure=(
        "Pearson correlation between the gradients at neighbouring inputs, averaged "
        "over a few random initialisations."
    ),
    options=ShatteredOptions,
    run=run,
)
