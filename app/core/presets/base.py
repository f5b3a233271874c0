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

from pydantic import AfterValidator, BaseModel

from ..models import paired_networks
from ..training import LR_DROP_AT, Trainer

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


def fit_pair(data, depth: int, width: int, spec, lr: float, seed: int) -> Trainer:
    """A plain/residual pair of `spec` units with identical initial weights,
    ready to train on `data`'s training set."""
    plain, residual = paired_networks(seed, data.in_features, data.classes, depth, width, spec)
    nets = {"plain": plain, "residual": residual}
    return Trainer(nets, data.x_train, data.y_train, lr, 128, seed)


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
    fitter: Trainer, steps: int, checkpoint: Checkpoint, on_row=None, grads: bool = False
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
        results = fitter.step(with_grads=grads and curves.due(step))
        losses = {kind: r["loss"] for kind, r in results.items()}
        if curves.add(step, losses) and on_row:
            on_row(step, curves)
    fitter.sync()
    return curves
