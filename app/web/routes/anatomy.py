"""Block-anatomy endpoints: one unit by hand, a 1-D fit, a trained run's units.

The maths lives in app/core/anatomy.py; these routes validate, call it and
pack tensors. Point clouds travel as base64 float32 (x coordinates, then y)
so that a slider update costs microseconds to encode, not milliseconds of
JSON floats.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import time
from typing import Annotated, Literal

import torch
from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ...core import anatomy
from ...core.data import TWO_D
from ..jobs import json_safe
from .pages import templates

log = logging.getLogger(__name__)

MAX_WEIGHT = 10.0
MAX_DEPTH = 50
MAX_FIT_STEPS = 1000
MAX_RUN_POINTS = 5000
DIGITS_RATIO_POINTS = 512  # images sent through a conv net for the ratio chart

Source = Literal[("grid", *TWO_D)]  # type: ignore[valid-type]
Weight = Annotated[float, Field(ge=-MAX_WEIGHT, le=MAX_WEIGHT, allow_inf_nan=False)]
Pair = Annotated[list[Weight], Field(min_length=2, max_length=2)]
Matrix = Annotated[list[Pair], Field(min_length=2, max_length=2)]


router = APIRouter(tags=["anatomy"])
API = "/api/anatomy"

# What `Reset` restores: a branch that visibly bends the grid but stays small
# next to x, as in a trained residual unit.
DEFAULT_UNIT = {
    "w1": [[1.0, -0.5], [0.5, 1.0]],
    "b1": [0.0, -0.25],
    "w2": [[-0.6, 0.4], [0.3, -0.5]],
    "b2": [0.1, 0.0],
    "alpha": 1.0,
}
SLIDER_LIMIT = 2.0  # the page's sliders; the API accepts up to MAX_WEIGHT


def pack(points: torch.Tensor) -> str:
    """(n, 2) tensor -> base64 of float32 x coordinates followed by y."""
    flat = points.detach().float().cpu().T.contiguous().numpy()
    return base64.b64encode(flat.tobytes()).decode("ascii")


def weight_sliders(layer: int) -> list[dict]:
    """One slider per weight and bias of a layer: name, label and default value."""
    w, b = DEFAULT_UNIT[f"w{layer}"], DEFAULT_UNIT[f"b{layer}"]
    sliders = []
    for i in range(2):
        for j in range(2):
            label = f"W{layer}[{i + 1},{j + 1}]"
            sliders.append({"name": f"w{layer}_{i}{j}", "label": label, "value": w[i][j]})
    for i in range(2):
        sliders.append({"name": f"b{layer}_{i}", "label": f"b{layer}[{i + 1}]", "value": b[i]})
    return sliders


@router.get("/block", include_in_schema=False)
def read_block(request: Request):
    """Block anatomy: x, F(x), x + F(x) and H(x) of one unit, by hand and trained."""
    context = {
        "active": "block",
        "layers": [(layer, weight_sliders(layer)) for layer in (1, 2)],
        "defaults": DEFAULT_UNIT,
        "limit": SLIDER_LIMIT,
        "sources": ("grid", *TWO_D),
        "targets": tuple(anatomy.TARGETS),
        "max_depth": MAX_DEPTH,
    }
    return templates.TemplateResponse(request, "block.html", context)


# --- One unit, by hand -------------------------------------------------------


class UnitRequest(BaseModel):
    """A width-2 unit's weights and the points it is applied to."""

    model_config = ConfigDict(extra="forbid")

    w1: Matrix = Field(description="weight 1, a 2x2 matrix (rows: outputs)")
    b1: Pair
    w2: Matrix
    b2: Pair
    alpha: float = Field(1.0, ge=-2, le=2, allow_inf_nan=False, description="branch scale")
    unit: anatomy.UnitChoice = "residual"
    depth: int = Field(1, ge=1, le=MAX_DEPTH, description="apply the unit this many times")
    source: Source = "grid"
    side: int = Field(50, ge=2, le=100, description="grid side (source 'grid')")
    span: float = Field(1.5, gt=0, le=5, description="grid half-width (source 'grid')")
    points: int = Field(1000, ge=10, le=anatomy.MAX_POINTS, description="2-D data sets")
    seed: int = Field(0, ge=0, le=2**31 - 1)


def unit_points(req: UnitRequest) -> tuple[torch.Tensor, list[int] | None]:
    """The request's cloud: (n, 2) points and class labels (None for the grid)."""
    if req.source == "grid":
        return anatomy.grid_points(req.side, req.span), None
    x, labels = anatomy.data_points(req.source, req.points, req.seed)
    return x, labels.tolist()


def compute_unit(req: UnitRequest) -> dict:
    """Every panel of the hand-set unit, packed; what a slider update costs."""
    unit = anatomy.hand_unit(req.w1, req.b1, req.w2, req.b2, req.unit, req.alpha)
    x, labels = unit_points(req)
    taps = anatomy.unit_anatomy(unit, x, req.depth)
    names = (*anatomy.PANELS, "stack") if req.depth > 1 else anatomy.PANELS
    return {
        "n": len(x),
        "panels": {name: pack(taps[name]) for name in names},
        "labels": labels,
    }


@router.post(f"{API}/unit")
def compute_unit_panels(req: UnitRequest) -> dict:
    """x, weight 1, ReLU, F(x), x + alpha F(x) and H(x) of one hand-set unit."""
    return compute_unit(req)


# --- The residual is what is learned -----------------------------------------


class FitRequest(BaseModel):
    """A 1-D target and how long to train a plain and a residual unit on it."""

    model_config = ConfigDict(extra="forbid")

    target: anatomy.TargetName = "wiggle"
    steps: int = Field(400, ge=1, le=MAX_FIT_STEPS)
    hidden: int = Field(16, ge=1, le=32, description="hidden width of the branch")
    learning_rate: float = Field(0.02, gt=0, le=0.5, allow_inf_nan=False)
    seed: int = Field(0, ge=0, le=2**31 - 1)


@router.post(f"{API}/fit")
async def fit_units(req: FitRequest, request: Request) -> dict:
    """Train a plain and a residual 1-D unit on a target H; curves and snapshots."""
    started = time.perf_counter()
    async with request.app.state.fit_slots:  # a fit is a small run: it takes a CPU too
        result = await asyncio.to_thread(
            anatomy.fit_residual, req.target, req.steps, req.hidden, req.learning_rate, req.seed
        )
    log.info(
        "1-D fit %s: %d steps in %.2f s, final loss plain %.3g residual %.3g",
        req.target,
        req.steps,
        time.perf_counter() - started,
        result.losses["plain"][-1],
        result.losses["residual"][-1],
    )
    return json_safe(dataclasses.asdict(result))  # a diverged fit reports nulls


# --- Through a trained network -----------------------------------------------

RunId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _trainer(request: Request, run_id: str):
    trainer = request.app.state.runs.get(run_id)
    if trainer is None:
        raise HTTPException(
            404,
            f"run_id: the server no longer keeps run {run_id!r} (it keeps the most recent "
            "runs only, and none after a restart); train it again on the lab page",
        )
    return trainer


def _not_2d(run_id: str, dataset: str) -> HTTPException:
    return HTTPException(
        422,
        f"run_id: run {run_id!r} used the {dataset} data set; the point cloud needs 2-D "
        "points (the ratio chart works for every run)",
    )


def compute_run_unit(trainer, unit: int, max_points: int) -> dict:
    """Both networks' clouds at one unit, projected; what the unit slider costs."""
    x = trainer.data.x_train[:max_points]
    nets = {}
    for kind, net in trainer.nets.items():
        view = anatomy.unit_view(net, x, unit)
        view["points"] = {k: pack(v) for k, v in view["points"].items()}
        nets[kind] = view
    return {"unit": unit, "depth": trainer.config.depth, "n": len(x), "nets": nets}


@router.get(API + "/runs/{run_id}/units/{unit}")
def read_run_unit(
    request: Request,
    run_id: RunId,
    unit: Annotated[int, Path(ge=0, le=1000, description="0 is the stem's output")],
    max_points: Annotated[int, Query(ge=10, le=MAX_RUN_POINTS)] = 2500,
) -> dict:
    """The data entering and leaving one unit of both networks of a finished run."""
    trainer = _trainer(request, run_id)
    if not trainer.data.is_2d:
        raise _not_2d(run_id, trainer.data.name)
    depth = trainer.config.depth
    if unit > depth:
        raise HTTPException(422, f"unit: must be in 0..{depth} for run {run_id!r}, got {unit}")

    body = compute_run_unit(trainer, unit, max_points)
    body["labels"] = trainer.data.y_train[:max_points].tolist()
    return json_safe(body)  # a diverged network has non-finite ratios


@router.get(API + "/runs/{run_id}/ratios")
def read_run_ratios(request: Request, run_id: RunId) -> dict:
    """||F(x)|| / ||x|| per unit for both networks of a finished run."""
    trainer = _trainer(request, run_id)
    data = trainer.data
    x = data.x_train if data.is_2d else data.x_train[:DIGITS_RATIO_POINTS]
    ratios = {kind: anatomy.run_ratios(net, x) for kind, net in trainer.nets.items()}
    return json_safe(
        {
            "run_id": run_id,
            "dataset": data.name,
            "is_2d": data.is_2d,
            "depth": trainer.config.depth,
            "width": trainer.config.width,
            "ratios": ratios,
        }
    )
