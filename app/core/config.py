"""The run configuration: every setting of a paired run, seed included.

One validated object is enough to replay a run; the page, the socket and
the command line all build it from the same fields and bounds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .data import DATASETS
from .models import UnitSpec

DatasetName = Literal[DATASETS]  # type: ignore[valid-type]

MAX_DEPTH = 128
MAX_WIDTH = 128
MAX_STEPS = 100_000
# Multiply-accumulates of one forward pass of one network over one batch.
# Bounds a step's time (about 1 s on one core) and its activation memory.
MAX_MACS_PER_STEP = 2_000_000_000


class RunConfig(BaseModel):
    """A paired run: one plain and one residual network, same everything else."""

    # strict: no silent coercion (true is not depth 1, "yes" is not a bool)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    dataset: DatasetName = "spiral"
    depth: int = Field(20, ge=1, le=MAX_DEPTH, description="residual units")
    width: int = Field(16, ge=2, le=MAX_WIDTH, description="features per unit")
    learning_rate: float = Field(0.003, gt=0, le=10, allow_inf_nan=False)
    steps: int = Field(600, ge=1, le=MAX_STEPS)
    batch_size: int = Field(128, ge=1, le=2048)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    noise: float = Field(0.03, ge=0, le=1, allow_inf_nan=False, description="2-D sets only")
    points: int = Field(1000, ge=100, le=5000, description="2-D sets only")
    optimizer: Literal["adam", "sgd"] = "adam"
    unit: Literal["original", "preact"] = "original"
    batch_norm: bool = False
    schedule: Literal["step", "constant"] = Field(
        "step", description="step: the rate drops tenfold for the last quarter"
    )
    layer: Literal["auto", "dense", "conv"] = Field(
        "auto", description="auto: 3x3 conv units for images, dense for 2-D"
    )

    @model_validator(mode="after")
    def _check_combination(self):
        if self.layer == "conv" and self.dataset != "digits":
            raise ValueError("layer 'conv' needs an image data set (digits)")
        if self.macs_per_step() > MAX_MACS_PER_STEP:
            raise ValueError(
                f"depth x width^2 x batch_size is too large for this server "
                f"({self.macs_per_step():.2g} multiply-adds per step, at most "
                f"{MAX_MACS_PER_STEP:.2g}): lower depth, width or batch_size"
            )
        return self

    def macs_per_step(self) -> float:
        """Multiply-adds of one forward pass of one network over one batch."""
        per_sample = 2 * self.width * self.width * self.depth  # two layers a unit
        if self.uses_conv():
            per_sample *= 8 * 8 * 9  # 3x3 kernels over the 8x8 image
        return float(per_sample * self.batch_size)

    def unit_spec(self) -> UnitSpec:
        return UnitSpec(kind=self.unit, batch_norm=self.batch_norm)

    def uses_conv(self) -> bool:
        if self.layer == "auto":
            return self.dataset == "digits"
        return self.layer == "conv"
