"""Block anatomy: what one unit does to a cloud of points, and what it learns.

Three views, all computed with the project's own units and their `taps`:

- one width-2 unit with hand-set weights applied to 2-D points, every
  intermediate of H(x) = ReLU(x + alpha * F(x)) kept (He et al. 2015, Fig. 2);
- a 1-D unit fitted to a target H, to show that the branch learns H(x) - x;
- the data at every unit of a trained paired run, with ||F(x)|| / ||x|| per
  unit (residual units make small corrections, He et al. 2015, Fig. 7).

Nothing here knows about the web.
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import torch
from torch import nn

from .data import make_2d
from .models import ResidualUnit, ResNet, UnitSpec, _Unit

UnitChoice = Literal["residual", "preact", "plain"]
TargetName = Literal["wiggle", "abs", "identity", "relu"]

PANELS = ("x", "weight1", "relu", "f", "sum", "out")
MAX_POINTS = 10_000

TARGETS = {
    "wiggle": lambda x: x + 0.3 * torch.sin(3 * x),
    "abs": torch.abs,
    "identity": lambda x: x,
    "relu": torch.relu,
}


class NotTwoD(ValueError):
    """The run's data are not 2-D points, so there is no point cloud to draw."""


def unit_spec(choice: UnitChoice, alpha: float = 1.0) -> UnitSpec:
    """The UnitSpec behind each choice of the page's `Unit` select."""
    if choice == "residual":
        return UnitSpec(kind="original", branch_scale=alpha)
    if choice == "preact":
        return UnitSpec(kind="preact", branch_scale=alpha)
    if choice == "plain":
        return UnitSpec(shortcut=False, kind="original", branch_scale=alpha)
    raise ValueError(f"unknown unit choice {choice!r}; expected residual, preact or plain")


# --- One unit, by hand -------------------------------------------------------


def hand_unit(w1, b1, w2, b2, choice: UnitChoice = "residual", alpha: float = 1.0) -> ResidualUnit:
    """A width-2 ResidualUnit whose two layers carry the given weights."""
    unit = ResidualUnit(2, unit_spec(choice, alpha))
    params = (unit.layer1.weight, unit.layer1.bias, unit.layer2.weight, unit.layer2.bias)
    with torch.no_grad():
        for param, value in zip(params, (w1, b1, w2, b2), strict=True):
            param.copy_(torch.as_tensor(value, dtype=param.dtype))
    return unit.eval()


@lru_cache(maxsize=8)
def grid_points(side: int = 50, span: float = 1.5) -> torch.Tensor:
    """side x side points over [-span, span]^2, rows of constant x2: (side^2, 2)."""
    axis = torch.linspace(-span, span, side)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)


@lru_cache(maxsize=16)
def data_points(name: str, n: int = 1000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """All n points of a seeded 2-D data set (train and test) and their labels."""
    if not 1 <= n <= MAX_POINTS:
        raise ValueError(f"n must be in 1..{MAX_POINTS}, got {n}")
    data = make_2d(name, n, noise=0.05, seed=seed, test_fraction=0.0)
    return data.x_train, data.y_train


@torch.no_grad()
def unit_anatomy(unit: nn.Module, x: torch.Tensor, depth: int = 1) -> dict[str, torch.Tensor]:
    """Every intermediate of one unit on x: (n, 2) tensors keyed as in PANELS.

    With depth > 1 the same unit is applied `depth` times in a row and the
    result is kept as "stack": how a deep stack of this unit bends the cloud.
    """
    taps: dict[str, torch.Tensor] = {}
    h = unit(x, taps)

    if depth > 1:
        for _ in range(depth - 1):
            h = unit(h)
        taps["stack"] = h
    return taps


# --- The residual is what is learned (1-D) -----------------------------------


class LiftedUnit(_Unit):
    """A dense unit on 1-D input whose branch is wider inside: 1 -> hidden -> 1."""

    def __init__(self, hidden: int, spec: UnitSpec):
        super().__init__(spec, nn.Linear(1, hidden), nn.Linear(hidden, 1), nn.Identity)

    def fit_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """H(x) and F(x), both (n, 1).

        H is read before the after-addition ReLU (the "sum" tap), so H may go
        negative; the branch F is exactly the unit's own.
        """
        taps: dict[str, torch.Tensor] = {}
        self(x, taps)
        return taps["sum"], taps["f"]


def _seeded_init(module: nn.Module, seed: int) -> None:
    # PyTorch's default Linear init, drawn from a private generator so that
    # concurrent requests never share or disturb the global RNG.
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in (m for m in module.modules() if isinstance(m, nn.Linear)):
            bound = 1 / math.sqrt(layer.in_features)
            layer.weight.uniform_(-bound, bound, generator=gen)
            layer.bias.uniform_(-bound, bound, generator=gen)


def lifted_pair(hidden: int = 8, seed: int = 0) -> dict[str, LiftedUnit]:
    """A plain and a residual 1-D unit with identical initial weights."""
    residual = LiftedUnit(hidden, unit_spec("residual"))
    _seeded_init(residual, seed)
    plain = LiftedUnit(hidden, unit_spec("plain"))
    plain.load_state_dict(residual.state_dict())
    return {"plain": plain, "residual": residual}


@dataclass
class FitResult:
    x: list[float]
    target: list[float]  # H(x)
    residual_target: list[float]  # H(x) - x
    steps: list[int] = field(default_factory=list)  # snapshot steps
    snapshots: dict[str, list[dict]] = field(default_factory=dict)  # kind -> [{h, f}]
    losses: dict[str, list[float]] = field(default_factory=dict)  # kind -> loss per step


def _snapshot(unit: LiftedUnit, x: torch.Tensor) -> dict[str, list[float]]:
    with torch.no_grad():
        h, f = unit.fit_forward(x)
    return {"h": h.squeeze(1).tolist(), "f": f.squeeze(1).tolist()}


def fit_residual(
    target: TargetName = "wiggle",
    steps: int = 400,
    hidden: int = 16,
    lr: float = 0.02,
    seed: int = 0,
    points: int = 101,
    snapshots: int = 30,
    span: float = 2.0,
) -> FitResult:
    """Fit a plain and a residual 1-D unit to H on [-span, span], full batch, Adam."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of {tuple(TARGETS)}")
    x = torch.linspace(-span, span, points).unsqueeze(1)  # (points, 1)
    h = TARGETS[target](x)
    units = lifted_pair(hidden, seed)
    opts = {k: torch.optim.Adam(u.parameters(), lr=lr) for k, u in units.items()}
    every = max(1, steps // snapshots)

    result = FitResult(x.squeeze(1).tolist(), h.squeeze(1).tolist(), (h - x).squeeze(1).tolist())
    result.steps.append(0)
    result.snapshots = {k: [_snapshot(u, x)] for k, u in units.items()}
    result.losses = {k: [] for k in units}
    for step in range(1, steps + 1):
        for kind, unit in units.items():
            loss = torch.mean((unit.fit_forward(x)[0] - h) ** 2)
            opts[kind].zero_grad(set_to_none=True)
            loss.backward()
            opts[kind].step()
            result.losses[kind].append(float(loss.detach()))

        if step % every == 0 or step == steps:
            result.steps.append(step)
            for kind, unit in units.items():
                result.snapshots[kind].append(_snapshot(unit, x))
    return result


# --- Through a trained network -----------------------------------------------


@dataclass(frozen=True)
class Projection:
    """An affine map from unit width to 2-D, fitted once per network."""

    mean: torch.Tensor  # (width,)
    basis: torch.Tensor  # (width, 2)
    explained: float  # share of the variance the two directions keep

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        return (h - self.mean) @ self.basis  # (n, width) -> (n, 2)


def fit_projection(h: torch.Tensor) -> Projection:
    """Width 2 is drawn as it is; wider features go through their top-2 PCA axes."""
    width = h.shape[1]
    if width == 2:
        return Projection(torch.zeros(2), torch.eye(2), 1.0)

    mean = h.mean(0)
    _, s, vh = torch.linalg.svd(h - mean, full_matrices=False)
    basis = vh[:2].T.contiguous()  # (width, 2)
    # SVD signs are arbitrary: make each axis's largest entry positive so the
    # picture does not flip between fits.
    signs = torch.sign(basis.gather(0, basis.abs().argmax(0, keepdim=True)))
    variance = s.pow(2)
    explained = float(variance[:2].sum() / variance.sum().clamp_min(1e-12))
    return Projection(mean, basis * signs, explained)


_projections: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_forward_lock = threading.Lock()


@torch.no_grad()
def trace(net: ResNet, x: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """Taps of every unit (index 0: the stem output), in eval mode."""
    # Eval mode so BatchNorm uses its running statistics and updates nothing;
    # the lock keeps another view from switching the mode mid-pass.
    with _forward_lock:
        was_training = net.training
        net.eval()
        taps: list[dict[str, torch.Tensor]] = []
        try:
            net.features(x.to(next(net.parameters()).device), taps)
        finally:
            net.train(was_training)
    return taps


def branch_ratios(taps: list[dict[str, torch.Tensor]]) -> list[float]:
    """||F(x)|| / ||x|| per unit, norms taken over all points and features."""
    ratios = []
    for unit_taps in taps[1:]:
        f = unit_taps.get("f")
        if f is None:  # a unit deleted at test time
            ratios.append(0.0)
            continue
        norm_x = float(unit_taps["x"].norm())
        ratios.append(float(f.norm()) / max(norm_x, 1e-12))
    return ratios


def projection_for(net: ResNet, stem_out: torch.Tensor) -> Projection:
    """The network's PCA projection, fitted on its stem output the first time."""
    projection = _projections.get(net)
    if projection is None:
        projection = fit_projection(stem_out.float().cpu())
        _projections[net] = projection
    return projection


def _half_range(points: list[torch.Tensor]) -> float:
    # Axes fitted to each unit's clouds: features of a residual stream grow
    # with depth, and one range for all units would shrink the early ones to a
    # dot. The 99.5th percentile keeps a few outliers from shrinking the rest.
    values = torch.cat([p.abs().reshape(-1) for p in points])
    values = values[torch.isfinite(values)]
    if len(values) == 0:
        return 1.0
    return float(torch.quantile(values, 0.995)) * 1.15 + 1e-6


@dataclass(frozen=True)
class NetworkTrace:
    """A trained network's cloud entering and leaving every unit, in 2-D."""

    key: tuple  # which points: (data pointer, shape) of the input
    clouds: list[dict[str, torch.Tensor]]  # per unit (0: stem): x, sum, out, each (n, 2)
    half_ranges: list[float]
    ratios: list[float]
    explained: float
    width: int


_traces: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def network_trace(net: ResNet, x: torch.Tensor) -> NetworkTrace:
    """Every unit of a finished network on x, projected once and kept.

    A finished run's weights no longer change, so the unit slider only reads
    this (about 3 MB for 50 units and 2,500 points) instead of a forward pass.
    """
    key = (x.data_ptr(), tuple(x.shape))
    cached = _traces.get(net)
    if cached is not None and cached.key == key:
        return cached

    taps = trace(net, x)
    projection = projection_for(net, taps[0]["out"])
    clouds = []
    for unit_taps in taps:
        names = [k for k in ("x", "sum", "out") if k in unit_taps]
        clouds.append({k: projection(unit_taps[k].float().cpu()) for k in names})
    result = NetworkTrace(
        key,
        clouds,
        [_half_range(list(c.values())) for c in clouds],
        branch_ratios(taps),
        projection.explained,
        taps[0]["out"].shape[1],
    )
    _traces[net] = result
    return result


def unit_view(net: ResNet, x: torch.Tensor, unit: int) -> dict:
    """The cloud entering and leaving unit `unit` (0: the stem), projected to 2-D."""
    if net.conv:
        raise NotTwoD("convolutional networks have no point cloud")
    depth = len(net.units)
    if not 0 <= unit <= depth:
        raise ValueError(f"unit must be in 0..{depth}, got {unit}")

    traced = network_trace(net, x)
    return {
        "points": traced.clouds[unit],
        "ratios": traced.ratios,
        "half_range": traced.half_ranges[unit],
        "explained": traced.explained,
        "width": traced.width,
    }


def run_ratios(net: ResNet, x: torch.Tensor) -> list[float]:
    """||F(x)|| / ||x|| per unit of a trained network, dense or convolutional."""
    return branch_ratios(trace(net, x))
