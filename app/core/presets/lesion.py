"""Lesion study: delete one unit of a trained network at test time (Veit et al. 2016).

A residual network behaves like an ensemble of many paths of different
lengths; deleting one unit removes only the paths through it, and the
shortcut still carries the signal past the gap. A plain network has one
path, and every layer is on it.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from ..data import load
from ..models import UnitSpec
from ..training import KINDS
from .base import Preset, fit_pair, line_figure, num, series, train


class LesionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Literal["spiral", "moons", "circles", "xor", "gaussians", "digits"] = "spiral"
    depth: int = Field(12, ge=2, le=64, description="units per network")
    width: int = Field(24, ge=2, le=64, description="features per unit")
    batch_norm: bool = Field(True, description="lets the plain network train at this depth")
    steps: int = Field(400, ge=10, le=5000, description="Adam steps")
    learning_rate: float = Field(0.003, gt=0, le=0.1)
    seed: int = Field(0, ge=0, le=2**31 - 1)


@torch.no_grad()
def accuracy(net, x, y, skip: frozenset[int] = frozenset()) -> float:
    net.eval()
    pred = net(x, skip=skip).argmax(1)
    net.train()
    return float((pred == y).float().mean())


def lesion_curve(net, x, y, checkpoint) -> list[float]:
    """Accuracy with each unit deleted in turn, unit 1 first."""
    out = []
    for i in range(len(net.units)):
        checkpoint()
        out.append(accuracy(net, x, y, frozenset({i})))
    return out


def run(opts: LesionOptions, report, checkpoint) -> dict:
    data = load(opts.dataset, 1000, 0.03, opts.seed)
    spec = UnitSpec(batch_norm=opts.batch_norm)
    fitter = fit_pair(data, opts.depth, opts.width, spec, opts.learning_rate, opts.seed)
    nets = fitter.nets

    def on_row(step, curves):
        report(0.9 * step / opts.steps, f"training: step {step} of {opts.steps}")

    curves = train(fitter, opts.steps, checkpoint, on_row)
    intact = {k: accuracy(n, data.x_test, data.y_test) for k, n in nets.items()}
    lesioned = {}
    for kind, net in nets.items():
        lesioned[kind] = lesion_curve(net, data.x_test, data.y_test, checkpoint)
        figures = _figures(lesioned, intact, curves)
        report(0.9 + 0.05 * len(lesioned), f"deleted each unit of the {kind} network", figures)
    return {"figures": figures, "measures": _measures(intact, lesioned)}


def _figures(lesioned, intact, curves) -> dict:
    lines = []
    for kind, accs in lesioned.items():
        units = list(range(1, len(accs) + 1))
        lines.append(series(f"{kind}, one unit deleted", units, accs, kind))
        lines.append(series(f"{kind}, intact", units, [intact[kind]] * len(units), kind, True))
    return {
        "lesion": line_figure(
            "Test accuracy after deleting one unit", "deleted unit", "test accuracy", lines
        ),
        "curves": line_figure("Training curves", "step", "training loss", curves.lines()),
    }


def _measures(intact, lesioned) -> dict:
    out = {}
    for kind in KINDS:
        mean = sum(lesioned[kind]) / len(lesioned[kind])
        out[f"intact_accuracy_{kind}"] = num(intact[kind])
        out[f"mean_lesioned_accuracy_{kind}"] = num(mean)
        out[f"mean_drop_{kind}"] = num(intact[kind] - mean)
    return out


PRESET = Preset(
    name="lesion",
    title="Lesion: delete one unit at test time",
    paper="Veit et al. 2016, Figs. 3 and 4",
    explanation=(
        "Train a plain and a residual network of the same depth, then take one "
        "unit out at a time without any retraining and measure test accuracy. In "
        "a plain network every unit sits on the only path from input to output, "
        "so removing one hands the next unit an input it has never seen. In a "
        "residual network the shortcut carries the signal past the gap, and the "
        "remaining units were trained to add small corrections to it: the network "
        "behaves like an ensemble of many paths, and loses only a few of them."
    ),
    expected=(
        "Deleting a unit of the residual network costs a few points of accuracy on "
        "average (under 0.1); deleting a unit of the plain network drops it "
        "towards chance (0.5 on two classes), several times the residual loss."
    ),
    measure="Mean test accuracy over all single-unit deletions, against the intact network.",
    options=LesionOptions,
    run=run,
)
