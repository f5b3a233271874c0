"""What every preset shares: its card, its options, its reports and figures.

A preset is one classic experiment, run with one click. It knows nothing of
the web: it calls `report(fraction, label, figures)` as it goes and
`checkpoint()` between steps (which may raise to stop it), and returns its
figures and measures. The page, the socket and the command line only wrap it.

A figure is plain data, drawn the same way by every front end:

    {"kind": "line" | "bar", "title", "x_label", "y_label", "log_x", "log_y",
     "series": [{"name", "role", "x": [...], "y": [...], "dash"?: true}]}
    {"kind": "heatmap" | "contour", "title", "x_label", "y_label", "z_label",
     "log_z", "x": [...], "y": [...], "z": [[...], ...]}      # z[row y][col x]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from pydantic import AfterValidator, BaseModel
from torch import nn

from ..fused import FusedPair, supports
from ..models import ResNet, paired_networks
from ..training import KINDS, LR_DROP_AT, predict

Report = Callable[..., None]  # report(fraction, label, figures=None)
Checkpoint = Callable[[], None]
Runner = Callable[[BaseModel, Report, Checkpoint], dict]


@dataclass(frozen=True)
class Preset:
    """One experiment's card: what it shows, what to expect, how to run it."""

    name: str
    title: str
    paper: str  # the result it reproduces, e.g. "He et al. 2015, Fig. 6"
    explanation: str
    expected: str
    measure: str
    options: type[BaseModel]
    run: Runner

    def describe(self) -> dict:
        """The card as plain data, the options' JSON schema included."""
        return {
            "name": self.name,
            "title": self.title,
            "paper": self.paper,
            "explanation": self.explanation,
            "expected": self.expected,
            "measure": self.measure,
            "options": self.options.model_json_schema(),
            "defaults": self.options().model_dump(),
        }


def distinct(values: list) -> list:
    """Options that list depths or variants name each one once."""
    repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
    if repeated:
        raise ValueError(f"lists {', '.join(map(str, repeated))} more than once")
    return values


Distinct = AfterValidator(distinct)


def no_report(fraction: float, label: str, figures: dict | None = None) -> None:
    pass


def no_checkpoint() -> None:
    pass


# --- figures --------------------------------------------------------------


def num(value: float, digits: int = 5) -> float | None:
    """A float rounded to `digits` significant digits; None if not finite."""
    value = float(value)
    if not math.isfinite(value):
        return None
    if value == 0:
        return 0.0
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def nums(values) -> list:
    return [num(v) for v in values]


def series(name: str, x, y, role: str | None = None, dash: bool = False) -> dict:
    """One line; `role` ("plain", "residual") picks the project's colour.

    `dash` marks a reference line (a baseline, not a measurement).
    """
    out = {"name": name, "role": role or name, "x": list(x), "y": nums(y)}
    if dash:
        out["dash"] = True
    return out


def line_figure(title: str, x_label: str, y_label: str, lines: list[dict], **scales) -> dict:
    """Lines over a shared x axis; kind="bar" draws the same data as bars."""
    return {
        "kind": scales.get("kind", "line"),
        "title": title,
        "x_label": x_label,
        "y_label": y_label,
        "log_x": scales.get("log_x", False),
        "log_y": scales.get("log_y", False),
        "series": lines,
    }


def grid_figure(kind: str, title: str, axes: tuple[str, str, str], x, y, z, log_z=False) -> dict:
    """A heat map or contour plot; z is a list of rows, one per y value."""
    return {
        "kind": kind,
        "title": title,
        "x_label": axes[0],
        "y_label": axes[1],
        "z_label": axes[2],
        "log_z": log_z,
        "x": list(x),
        "y": list(y),
        "z": [nums(row) for row in z],
    }


# --- training -------------------------------------------------------------


def _adam(net: nn.Module, lr: float) -> torch.optim.Optimizer:
    # The fused kernel takes about a third off a small network's step on CPU.
    return torch.optim.Adam(net.parameters(), lr=lr, fused=True)


def _norm(params) -> float:
    """The gradient norm of a group of parameters, as one vector."""
    grads = [p.grad.reshape(-1) for p in params if p.grad is not None]
    return float(torch.cat(grads).norm()) if grads else 0.0


class Fitter:
    """Trains several networks on the same batches, one Adam optimiser each.

    Every network sees the same batch at every step, so two runs differ only
    in their networks (the paired design of the main lab).
    """

    def __init__(self, nets: dict[str, nn.Module], x, y, lr: float, batch_size: int, seed: int):
        self.nets = nets
        self.x, self.y = x, y
        self.batch_size = min(batch_size, len(x))
        # A dense plain/residual pair trains as one batched computation
        # (fused.py); sync() hands the weights back to the two modules.
        pair = tuple(nets.values())
        self.fused = None
        if list(nets) == list(KINDS) and all(isinstance(n, ResNet) for n in pair):
            self.fused = FusedPair(*pair) if supports(*pair) else None
        if self.fused is not None:
            self.optimizers = {"pair": _adam(self.fused, lr)}
        else:
            self.optimizers = {k: _adam(n, lr) for k, n in nets.items()}
        self.regression = y.dtype.is_floating_point
        self._gen = torch.Generator().manual_seed(seed)
        self._order = torch.empty(0, dtype=torch.long)
        self.grad_norms: dict[str, list[float]] = {}

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(out, y) if self.regression else F.cross_entropy(out, y)

    def _batch(self) -> torch.Tensor:
        if len(self._order) < self.batch_size:  # a fresh epoch
            self._order = torch.randperm(len(self.x), generator=self._gen)
        idx, self._order = self._order[: self.batch_size], self._order[self.batch_size :]
        return idx

    def step(self, with_grads: bool = False) -> dict[str, float]:
        """One step of every network on one shared batch; the batch losses.

        With `with_grads`, `self.grad_norms` holds each network's gradient
        norm per layer group (stem, units, head) for this step.
        """
        idx = self._batch()
        x, y = self.x[idx], self.y[idx]
        if self.fused is not None:
            return self._fused_step(x, y, with_grads)
        losses = {}
        for kind, net in self.nets.items():
            opt = self.optimizers[kind]
            opt.zero_grad(set_to_none=True)
            loss = self.loss(net(x), y)
            loss.backward()
            if with_grads:
                self.grad_norms[kind] = [_norm(p) for _, p in net.layer_groups()]
            value = float(loss.detach())
            if math.isfinite(value):  # a diverged net stops moving, not the run
                opt.step()
            losses[kind] = value
        return losses

    def _fused_step(self, x, y, with_grads: bool) -> dict[str, float]:
        opt = self.optimizers["pair"]
        opt.zero_grad(set_to_none=True)
        out = self.fused(x)  # (2, batch, outputs)
        losses = torch.stack([self.loss(o, y) for o in out])
        losses.sum().backward()  # the sum keeps the two gradients apart
        if with_grads:
            self.grad_norms = dict(zip(KINDS, self.fused.grad_norms().tolist(), strict=True))
        # Adam is elementwise: a diverged network's NaNs stay in its own half.
        opt.step()
        return dict(zip(KINDS, losses.tolist(), strict=True))

    def sync(self) -> None:
        """Bring the modules up to date with the fused weights, if fused."""
        if self.fused is not None:
            self.fused.write_back()

    def scale_learning_rate(self, factor: float) -> None:
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] *= factor

    @torch.no_grad()
    def evaluate(self, x=None, y=None) -> dict[str, dict]:
        """Loss (and accuracy for classifiers) of every network on a whole set."""
        x = self.x if x is None else x
        y = self.y if y is None else y
        out = {}
        for kind, pred in self._predict(x).items():
            out[kind] = {"loss": float(self.loss(pred, y))}
            if not self.regression:
                out[kind]["accuracy"] = float((pred.argmax(1) == y).float().mean())
        return out

    def _predict(self, x) -> dict[str, torch.Tensor]:
        return predict(self.nets, self.fused, x)


def fit_pair(data, depth: int, width: int, spec, lr: float, seed: int) -> Fitter:
    """A plain/residual pair of `spec` units with identical initial weights,
    ready to train on `data`'s training set."""
    plain, residual = paired_networks(seed, data.in_features, data.classes, depth, width, spec)
    nets = {"plain": plain, "residual": residual}
    return Fitter(nets, data.x_train, data.y_train, lr, 128, seed)


class Curves:
    """Training loss per network, averaged over windows of `every` steps."""

    def __init__(self, kinds, every: int):
        self.every = every
        self.step: list[int] = []
        self.loss = {k: [] for k in kinds}
        self._sum = dict.fromkeys(kinds, 0.0)
        self._n = 0

    def due(self, step: int) -> bool:
        return step % self.every == 0 or step == 1

    def add(self, step: int, losses: dict[str, float]) -> bool:
        """Add one step's losses; True when a row was recorded."""
        for k, v in losses.items():
            self._sum[k] += v
        self._n += 1
        if not self.due(step):
            return False
        self.step.append(step)
        for k in self.loss:
            self.loss[k].append(self._sum[k] / self._n)
            self._sum[k] = 0.0
        self._n = 0
        return True

    def lines(self, roles: dict[str, str] | None = None, names=None) -> list[dict]:
        roles = roles or {}
        names = names or {}
        return [
            series(names.get(k, k), self.step, v, roles.get(k, k)) for k, v in self.loss.items()
        ]


def record_every(steps: int, points: int = 100) -> int:
    return max(1, math.ceil(steps / points))


def train(
    fitter: Fitter, steps: int, checkpoint: Checkpoint, on_row=None, grads: bool = False
) -> Curves:
    """Run `steps` steps; `on_row(step, curves)` after every recorded row.

    With `grads`, recorded steps also fill `fitter.grad_norms` for `on_row`.

    The learning rate drops tenfold for the last quarter, as in the step
    schedule of He et al. 2015 (Sec. 4.2), so the final loss is not one of
    Adam's late spikes.
    """
    curves = Curves(fitter.nets, record_every(steps))
    drop_step = int(steps * LR_DROP_AT)
    for step in range(1, steps + 1):
        checkpoint()
        if step == drop_step:
            fitter.scale_learning_rate(0.1)
        losses = fitter.step(with_grads=grads and curves.due(step))
        if curves.add(step, losses) and on_row:
            on_row(step, curves)
    fitter.sync()
    return curves
