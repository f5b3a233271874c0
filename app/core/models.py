"""Residual and plain networks that differ by one flag: the shortcut.

A unit computes a residual function F(x) with two weight layers and a ReLU
between them, adds its input back and applies a ReLU (He et al. 2015, Fig. 2):

    H(x) = ReLU(F(x) + x),   F(x) = W2 ReLU(W1 x + b1) + b2

A plain unit is the same unit with the shortcut switched off: H(x) = ReLU(F(x)).
Variants used by the paper lab: a scaled shortcut (lambda * x, He et al. 2016
Table 1), a branch scale alpha (x + alpha * F(x); alpha = 0 at start is
ReZero/SkipInit) and the full pre-activation unit (He et al. 2016, Fig. 4e),
which applies BN and ReLU before each weight layer and leaves the sum alone.

Every forward pass takes an optional `taps` dict that records the unit's
intermediate tensors; the block-anatomy views read the same code path the
trainer runs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import nn

UnitKind = Literal["original", "preact"]


@dataclass(frozen=True)
class UnitSpec:
    """How every unit of a network is built; `shortcut` is the one flag."""

    shortcut: bool = True
    kind: UnitKind = "original"
    batch_norm: bool = False
    shortcut_scale: float = 1.0  # lambda in lambda * x
    branch_scale: float = 1.0  # alpha in x + alpha * F(x)
    learn_branch_scale: bool = False


def _tap(taps: dict | None, name: str, value: torch.Tensor) -> torch.Tensor:
    if taps is not None:
        taps[name] = value
    return value


class _Unit(nn.Module):
    """The unit's logic; subclasses only choose dense or 3x3 conv layers."""

    def __init__(self, spec: UnitSpec, layer1, layer2, norm):
        super().__init__()
        self.spec = spec
        self.shortcut = spec.shortcut
        self.layer1, self.layer2 = layer1, layer2
        self.bn1 = norm() if spec.batch_norm else nn.Identity()
        self.bn2 = norm() if spec.batch_norm else nn.Identity()
        alpha = torch.tensor(float(spec.branch_scale))
        if spec.learn_branch_scale:
            self.alpha = nn.Parameter(alpha)
        else:
            self.register_buffer("alpha", alpha)

    def branch(self, x: torch.Tensor, taps: dict | None = None) -> torch.Tensor:
        """F(x): weight 1, ReLU, weight 2 (BN placed as the unit kind says)."""
        if self.spec.kind == "preact":
            h = _tap(taps, "weight1", self.layer1(torch.relu(self.bn1(x))))
            h = _tap(taps, "relu", torch.relu(self.bn2(h)))
            return self.layer2(h)

        h = _tap(taps, "weight1", self.bn1(self.layer1(x)))
        h = _tap(taps, "relu", torch.relu(h))
        return self.bn2(self.layer2(h))

    def forward(self, x: torch.Tensor, taps: dict | None = None) -> torch.Tensor:
        _tap(taps, "x", x)
        f = _tap(taps, "f", self.branch(x, taps))

        # The only difference between the two networks: add x back or not.
        out = self.alpha * f
        if self.shortcut:
            out = out + self.spec.shortcut_scale * x
        _tap(taps, "sum", out)

        # The original unit applies ReLU after the addition; pre-activation
        # leaves the sum untouched so the shortcut stays a pure identity.
        if self.spec.kind == "original":
            out = torch.relu(out)
        return _tap(taps, "out", out)


class ResidualUnit(_Unit):
    """Fully connected unit for 2-D data: (batch, width) -> (batch, width)."""

    def __init__(self, width: int, spec: UnitSpec = UnitSpec()):
        layers = nn.Linear(width, width), nn.Linear(width, width)
        super().__init__(spec, *layers, lambda: nn.BatchNorm1d(width))


class BasicBlock(_Unit):
    """3x3 convolutional unit at constant width, no projection needed.

    (batch, width, h, w) -> (batch, width, h, w)
    """

    def __init__(self, width: int, spec: UnitSpec = UnitSpec()):
        bias = not spec.batch_norm
        layers = [nn.Conv2d(width, width, 3, padding=1, bias=bias) for _ in range(2)]
        super().__init__(spec, *layers, lambda: nn.BatchNorm2d(width))


class ResNet(nn.Module):
    """A stem, `depth` units and a head.

    Dense: (batch, in_features) -> (batch, classes).
    Conv:  (batch, 1, side, side) -> (batch, classes), global average pool.
    """

    def __init__(
        self,
        in_features: int,
        classes: int,
        depth: int,
        width: int,
        spec: UnitSpec = UnitSpec(),
        conv: bool = False,
        image_side: int = 8,
    ):
        super().__init__()
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.conv = conv
        self.image_side = image_side
        self.spec = spec
        if conv:
            self.stem = nn.Conv2d(1, width, 3, padding=1)
            units = [BasicBlock(width, spec) for _ in range(depth)]
        else:
            self.stem = nn.Linear(in_features, width)
            units = [ResidualUnit(width, spec) for _ in range(depth)]
        self.units = nn.ModuleList(units)
        # Pre-activation units leave the last sum un-normalised (He et al. 2016).
        self.final_relu = spec.kind == "preact"
        self.head = nn.Linear(width, classes)

    def features(
        self,
        x: torch.Tensor,
        taps: list | None = None,
        skip: frozenset[int] = frozenset(),
    ) -> torch.Tensor:
        """Stem and units; `skip` deletes units at test time (Veit et al. 2016)."""
        if self.conv:
            x = x.view(-1, 1, self.image_side, self.image_side)
        h = torch.relu(self.stem(x))
        if taps is not None:
            taps.append({"out": h})

        for i, unit in enumerate(self.units):
            if i in skip:
                if taps is not None:
                    taps.append({"x": h, "out": h})
                continue
            unit_taps = {} if taps is not None else None
            h = unit(h, unit_taps)
            if taps is not None:
                taps.append(unit_taps)
        return h

    def forward(
        self,
        x: torch.Tensor,
        taps: list | None = None,
        skip: frozenset[int] = frozenset(),
    ) -> torch.Tensor:
        h = self.features(x, taps, skip)
        if self.final_relu:
            h = torch.relu(h)
        if self.conv:
            h = h.mean(dim=(2, 3))  # (batch, width, s, s) -> (batch, width)
        return self.head(h)

    def layer_groups(self) -> list[tuple[str, list[nn.Parameter]]]:
        """Parameters grouped per layer, input to output: stem, units, head."""
        groups = [("stem", list(self.stem.parameters()))]
        for i, unit in enumerate(self.units):
            groups.append((f"unit {i + 1}", list(unit.parameters())))
        groups.append(("head", list(self.head.parameters())))
        return groups


def set_shortcut(net: ResNet, on: bool) -> ResNet:
    net.spec = replace(net.spec, shortcut=on)
    for unit in net.units:
        unit.shortcut = on
        unit.spec = net.spec
    return net


def paired_networks(
    seed: int,
    in_features: int,
    classes: int,
    depth: int,
    width: int,
    spec: UnitSpec = UnitSpec(),
    conv: bool = False,
    image_side: int = 8,
) -> tuple[ResNet, ResNet]:
    """A plain and a residual network with identical initial weights.

    The plain one is a copy of the residual one with the shortcut switched
    off, so every shared layer starts from the same numbers.
    """
    torch.manual_seed(seed)
    residual = ResNet(
        in_features, classes, depth, width, replace(spec, shortcut=True), conv, image_side
    )
    plain = set_shortcut(copy.deepcopy(residual), False)
    return plain, residual
