"""Shortcut and unit variants side by side (He et al. 2016, Tables 1 and 2).

Every variant is the same network, built from the same seed so that its
weight layers start from the same numbers, with one thing changed: how the
shortcut is scaled, where the branch starts, where BN and ReLU sit.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from ..data import load
from ..models import ResNet, UnitSpec
from ..training import Trainer
from .base import Distinct, Preset, line_figure, num, series, train

Variant = Literal["plain", "identity", "scaled", "rezero", "preact", "identity-bn", "preact-bn"]
VARIANTS: tuple[str, ...] = Variant.__args__  # type: ignore[attr-defined]
NAMES = {
    "plain": "plain (no shortcut)",
    "identity": "identity shortcut",
    "scaled": "scaled shortcut, lambda",
    "rezero": "branch scale alpha from 0 (ReZero)",
    "preact": "pre-activation",
    "identity-bn": "identity shortcut + BN",
    "preact-bn": "pre-activation + BN",
}


class ShortcutsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    variants: Annotated[list[Variant], Distinct] = Field(
        list(VARIANTS), min_length=1, max_length=len(VARIANTS)
    )
    shortcut_scale: float = Field(
        0.5, ge=0, le=2, description="lambda of the scaled variant: lambda * x + F(x)"
    )
    dataset: Literal["spiral", "moons", "circles", "xor", "gaussians", "digits"] = "spiral"
    depth: int = Field(20, ge=1, le=128, description="units per network")
    width: int = Field(24, ge=2, le=64, description="features per unit")
    steps: int = Field(400, ge=10, le=5000, description="Adam steps")
    learning_rate: float = Field(0.003, gt=0, le=0.1)
    seed: int = Field(0, ge=0, le=2**31 - 1)


def variant_spec(variant: str, shortcut_scale: float) -> UnitSpec:
    """The unit of each variant; everything not named stays at its default."""
    specs = {
        "plain": UnitSpec(shortcut=False),
        "identity": UnitSpec(),
        "scaled": UnitSpec(shortcut_scale=shortcut_scale),
        "rezero": UnitSpec(branch_scale=0.0, learn_branch_scale=True),
        "preact": UnitSpec(kind="preact"),
        "identity-bn": UnitSpec(batch_norm=True),
        "preact-bn": UnitSpec(kind="preact", batch_norm=True),
    }
    if variant not in specs:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    return specs[variant]


def build(variant: str, opts: ShortcutsOptions, data) -> ResNet:
    # The same seed before each build gives every variant the same weights:
    # BN and alpha draw no random numbers.
    torch.manual_seed(opts.seed)
    spec = variant_spec(variant, opts.shortcut_scale)
    return ResNet(data.in_features, data.classes, opts.depth, opts.width, spec)


def run(opts: ShortcutsOptions, report, checkpoint) -> dict:
    data = load(opts.dataset, 1000, 0.03, opts.seed)
    variants = list(dict.fromkeys(opts.variants))
    nets = {v: build(v, opts, data) for v in variants}
    fitter = Trainer(nets, data.x_train, data.y_train, opts.learning_rate, 128, opts.seed)
    names = {v: _name(v, opts) for v in variants}

    def on_row(step, curves):
        figures = None
        if len(curves.step) % 5 == 1:
            figures = {"curves": _curves_figure(curves, names)}
        report(step / opts.steps, f"step {step} of {opts.steps}", figures)

    curves = train(fitter, opts.steps, checkpoint, on_row)
    final = fitter.evaluate()
    figures = {"curves": _curves_figure(curves, names), "final": _final_figure(final, names)}
    report(1.0, "done", figures)
    measures = {f"final_loss_{v}": num(m["loss"]) for v, m in final.items()}
    return {"figures": figures, "measures": measures}


def _name(variant: str, opts: ShortcutsOptions) -> str:
    if variant == "scaled":
        return f"scaled shortcut, lambda = {opts.shortcut_scale:g}"
    return NAMES[variant]


def _curves_figure(curves, names) -> dict:
    roles = {v: v for v in names}
    return line_figure(
        "Training curves of each variant",
        "step",
        "training loss",
        curves.lines(roles, names),
        log_y=True,
    )


def _final_figure(final, names) -> dict:
    # One bar per variant, each its own series so that it keeps its colour.
    lines = [series(names[v], [names[v]], [m["loss"]], v) for v, m in final.items()]
    return line_figure(
        "Final training loss", "variant", "training loss", lines, log_y=True, kind="bar"
    )


PRESET = Preset(
    name="shortcuts",
    title="Shortcut and unit variants",
    paper="He et al. 2016, Tables 1 and 2; Bachlechner et al. 2020 (ReZero)",
    explanation=(
        "Change one thing about the unit and keep everything else, initial weights "
        "included. A shortcut scaled by lambda multiplies the signal and the "
        "gradient by lambda in every unit, so over 20 units 0.5 becomes 1e-6: the "
        "network behaves like a plain one. A branch scale alpha that starts at zero "
        "makes every unit the identity at the start, so depth costs nothing at "
        "first. Pre-activation units move BN and ReLU before the weights and leave "
        "the shortcut a pure identity; batch norm keeps each layer's signal at unit "
        "scale."
    ),
    expected=(
        "The identity shortcut, alpha from zero and pre-activation units train fast "
        "and end far below the plain network; a shortcut scaled by 0.5 ends near the "
        "plain network, far above the identity shortcut. Batch norm speeds up both "
        "kinds of unit: with it they end ten times lower again."
    ),
    measure="Cross-entropy on the whole training set after the last step, per variant.",
    options=ShortcutsOptions,
    run=run,
)
