"""A 2-D slice of the training loss around trained weights (Li et al. 2018).

The slice is L(theta + a d1 + b d2) over a grid of (a, b), with d1 and d2
random directions that are *filter-normalised*: each row of a weight matrix
(one output unit, the dense "filter") is rescaled to the norm of the same row
of theta, so the slice is comparable across layers and networks whose
weights differ in scale (Li et al. 2018, Sec. 4). Biases and BN parameters
are not moved, as in the paper.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from ..data import load
from ..models import UnitSpec
from .base import Preset, fit_pair, grid_figure, line_figure, num, train

EVAL_POINTS = 500  # training points the loss is measured on, per grid point


class LossSurfaceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Literal["spiral", "moons", "circles", "xor", "gaussians", "digits"] = "spiral"
    depth: int = Field(20, ge=1, le=64, description="units per network")
    width: int = Field(24, ge=2, le=64, description="features per unit")
    batch_norm: bool = Field(True, description="as in the networks of Li et al. 2018")
    steps: int = Field(300, ge=10, le=5000, description="Adam steps before the slice")
    learning_rate: float = Field(0.003, gt=0, le=0.1)
    side: int = Field(21, ge=5, le=41, description="grid points per axis")
    span: float = Field(0.3, gt=0, le=2, description="the grid covers [-span, span]^2")
    seed: int = Field(0, ge=0, le=2**31 - 1)


def filter_normalised_direction(net, gen: torch.Generator) -> list[torch.Tensor]:
    """A Gaussian direction with each weight row scaled to the row's norm in theta."""
    out = []
    for p in net.parameters():
        if p.dim() < 2:  # biases, BN scales and shifts, alpha: not moved
            out.append(torch.zeros_like(p))
            continue
        d = torch.randn(p.shape, generator=gen)
        rows, d_rows = p.detach().flatten(1), d.flatten(1)  # (out_features, fan_in)
        scale = rows.norm(dim=1, keepdim=True) / (d_rows.norm(dim=1, keepdim=True) + 1e-10)
        out.append((d_rows * scale).view_as(p))
    return out


@torch.no_grad()
def loss_slice(net, x, y, axis: list[float], gen: torch.Generator, checkpoint) -> list[list]:
    """Loss over the grid, rows along the second direction: z[b][a].

    The network stays in training mode: BN normalises with the statistics of
    the evaluation points, which is the loss the optimiser saw. Running
    statistics gathered at theta would be stale away from it and blow the
    loss up to 1e4 at the edges, hiding the shape. They are restored after.
    """
    params = list(net.parameters())
    theta = [p.detach().clone() for p in params]
    buffers = {k: v.clone() for k, v in net.named_buffers()}
    d1 = filter_normalised_direction(net, gen)
    d2 = filter_normalised_direction(net, gen)
    z = []
    for b in axis:
        checkpoint()
        row = []
        for a in axis:
            for p, t, u, v in zip(params, theta, d1, d2, strict=True):
                p.copy_(t + a * u + b * v)
            row.append(float(F.cross_entropy(net(x), y)))
        z.append(row)
    for p, t in zip(params, theta, strict=True):
        p.copy_(t)
    net.load_state_dict(buffers, strict=False)
    return z


def roughness(z: list[list[float]]) -> dict:
    """How rough a slice is, independent of its height and scale.

    `ratio`: mean |second difference| over mean |first difference|, along both
    axes. A smooth bowl changes steadily, so its second differences are small
    next to its first ones (ratio well below 1); a chaotic surface turns at
    every step (ratio near sqrt 3 = 1.73, its value for white noise). `minima`: grid points
    lower than all eight neighbours.
    """
    t = torch.tensor(z, dtype=torch.float64)
    first = torch.cat([t.diff(dim=0).flatten(), t.diff(dim=1).flatten()]).abs().mean()
    second = torch.cat([t.diff(n=2, dim=0).flatten(), t.diff(n=2, dim=1).flatten()])
    ratio = float(second.abs().mean() / first.clamp_min(1e-12))

    padded = F.pad(t[None, None], (1, 1, 1, 1), value=float("inf"))
    neighbours = F.unfold(padded, 3).view(9, *t.shape)
    neighbours = torch.cat([neighbours[:4], neighbours[5:]])  # drop the centre
    minima = int((t < neighbours.min(0).values).sum())
    return {"ratio": ratio, "minima": minima}


def run(opts: LossSurfaceOptions, report, checkpoint) -> dict:
    data = load(opts.dataset, 1000, 0.03, opts.seed)
    spec = UnitSpec(batch_norm=opts.batch_norm)
    fitter = fit_pair(data, opts.depth, opts.width, spec, opts.learning_rate, opts.seed)
    nets = fitter.nets

    def on_row(step, curves):
        report(0.5 * step / opts.steps, f"training: step {step} of {opts.steps}")

    curves = train(fitter, opts.steps, checkpoint, on_row)
    x, y = data.x_train[:EVAL_POINTS], data.y_train[:EVAL_POINTS]
    axis = torch.linspace(-opts.span, opts.span, opts.side).tolist()
    figures = {"curves": line_figure("Training curves", "step", "training loss", curves.lines())}
    measures = {}
    for i, (kind, net) in enumerate(nets.items()):
        gen = torch.Generator().manual_seed(opts.seed)  # same directions' draw for both
        z = loss_slice(net, x, y, axis, gen, checkpoint)
        figures[f"surface_{kind}"] = _surface_figure(kind, axis, z)
        measures.update(_measures(kind, z))
        report(0.5 + 0.25 * (i + 1), f"sliced the {kind} network", figures)
    return {"figures": figures, "measures": measures}


def _surface_figure(kind, axis, z) -> dict:
    axis = [num(v, 4) for v in axis]
    title = f"Training loss around the trained {kind} network"
    axes = ("direction 1", "direction 2", "training loss")
    return grid_figure("contour", title, axes, axis, axis, z, log_z=True)


def _measures(kind, z) -> dict:
    rough = roughness(z)
    centre = z[len(z) // 2][len(z) // 2]
    return {
        f"roughness_{kind}": num(rough["ratio"]),
        f"local_minima_{kind}": rough["minima"],
        f"centre_loss_{kind}": num(centre),
    }


PRESET = Preset(
    name="loss-surface",
    title="Loss surface: a 2-D slice around the trained weights",
    paper="Li et al. 2018, Figs. 1 and 5",
    explanation=(
        "Train a plain and a residual network of the same depth, then walk away "
        "from the trained weights along two random directions and measure the "
        "training loss on a grid. Each direction is filter-normalised: every row "
        "of a weight matrix is scaled to the size of the same row of the trained "
        "weights, so both networks are probed by steps of the same relative size. "
        "Both slices use the same random draw. At these depths the plain network "
        "trains far less well than the residual one in the same steps (its final "
        "loss is shown below), so the slice also shows where each optimisation "
        "got to, as in Li et al., whose plain nets also trained worse."
    ),
    expected=(
        "The residual network sits in a smooth, wide bowl; the plain network's "
        "slice is jagged, with ridges and several local minima, and its roughness "
        "ratio is clearly higher."
    ),
    measure=(
        "Roughness ratio: mean |second difference| over mean |first difference| of "
        "the slice along both axes (a smooth bowl: well below 1; white noise: sqrt 3, about 1.7); "
        "and the number of local minima on the grid."
    ),
    options=LossSurfaceOptions,
    run=run,
)
