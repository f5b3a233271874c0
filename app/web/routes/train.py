"""The paired-run socket: one plain and one residual network, streamed live."""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket

from ...core.config import RunConfig
from ...core.training import SURFACE_SPAN, PairedTrainer, run_paired
from ..jobs import JobControl, Outbox
from ..runs import new_run_id
from ..sockets import receive_start, run_job, session_id

log = logging.getLogger(__name__)
router = APIRouter()

MAX_SCATTER_POINTS = 1000  # training points drawn over the decision surface


def _merge_metrics(old: dict, new: dict) -> dict:
    """Fold an unsent metrics message into the next one: rows append."""
    for kind, rows in new["rows"].items():
        old["rows"][kind].extend(rows)
    return {**new, "rows": old["rows"]}


class StreamSink:
    """Turns a run's reports into socket messages in the job's outbox."""

    def __init__(self, outbox: Outbox, run_id: str, control: JobControl):
        self.outbox = outbox
        self.run_id = run_id
        self.control = control

    def on_start(self, trainer: PairedTrainer) -> None:
        self.steps = trainer.config.steps
        data = trainer.data
        message = {
            "type": "started",
            "run_id": self.run_id,
            "config": trainer.config.model_dump(),
            "layers": trainer.layer_names,
            "device": str(trainer.device),
            "dataset": {"name": data.name, "classes": data.classes, "is_2d": data.is_2d},
        }
        if data.is_2d:
            x, y = data.x_train[:MAX_SCATTER_POINTS], data.y_train[:MAX_SCATTER_POINTS]
            message["points"] = {
                "x": [round(v, 4) for v in x[:, 0].tolist()],
                "y": [round(v, 4) for v in x[:, 1].tolist()],
                "label": y.tolist(),
            }
        self.outbox.post(message)

    def on_record(self, step: int, rows: dict, steps_per_second: float) -> None:
        self.control.report_progress(step / self.steps)
        message = {
            "type": "metrics",
            "step": step,
            "steps_per_second": round(steps_per_second, 1),
            "rows": {kind: [row] for kind, row in rows.items()},
        }
        self.outbox.post(message, key="metrics", merge=_merge_metrics)

    def on_surface(self, step: int, surfaces: dict) -> None:
        rounded = {k: [[round(p, 3) for p in row] for row in z] for k, z in surfaces.items()}
        message = {"type": "surface", "step": step, "span": SURFACE_SPAN, **rounded}
        self.outbox.post(message, key="surface")


def paired_target(config: RunConfig, runs, device: str):
    """The job body of a paired run; returns the closing `done` message."""

    def target(control: JobControl, outbox: Outbox) -> dict:
        trainer = PairedTrainer(config, device=device)
        run_id = new_run_id()
        log.info("run %s started: %s", run_id, config.model_dump_json())
        result = run_paired(config, StreamSink(outbox, run_id, control), control, trainer)
        kept = result.reason == "completed" or control.reason == "stopped"
        if kept:  # a learner may look inside; a left tab or a diverged run won't
            runs.put(run_id, trainer)
        log.info(
            "run %s %s after %d steps in %.1f s (%.0f steps/s)",
            run_id,
            result.reason,
            result.steps,
            result.seconds,
            result.steps / max(result.seconds, 1e-9),
        )
        return {
            "type": "done",
            "run_id": run_id if kept else None,
            "reason": result.reason,
            "steps": result.steps,
            "seconds": round(result.seconds, 3),
            "final": result.final,
            "diverged": result.diverged,
            "detail": result.detail or control.reason,
        }

    return target


@router.websocket("/ws/train")
async def train_socket(websocket: WebSocket) -> None:
    """Train a plain and a residual network side by side; see docs/protocol.md."""
    await websocket.accept()
    config = await receive_start(websocket, RunConfig)
    if config is None:
        return
    app = websocket.app
    target = paired_target(config, app.state.runs, app.state.settings.torch_device())
    job = app.state.jobs.create(target, session_id(websocket), "paired run")
    await run_job(websocket, app.state.jobs, job)
