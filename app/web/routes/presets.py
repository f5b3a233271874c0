"""The paper lab: a page of preset experiments, their cards and their socket.

The presets themselves live in app.core.presets and know nothing of the web;
this module lists them, serves the page and runs one per socket as a job.
"""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, HTTPException, Request, WebSocket

from ...core.presets import PRESETS
from ..jobs import JobControl, Outbox
from ..sockets import BadMessage, receive_start, reject, run_job, session_id
from .pages import templates

log = logging.getLogger(__name__)
router = APIRouter()


class PresetSink:
    """A preset's reports as socket messages; keyed so that a slow client
    gets the latest progress and the latest state of each figure."""

    def __init__(self, outbox: Outbox, control: JobControl):
        self.outbox, self.control = outbox, control

    def __call__(self, fraction: float, label: str, figures: dict | None = None) -> None:
        self.control.report_progress(fraction)
        progress = {"type": "progress", "fraction": round(fraction, 4), "label": label}
        self.outbox.post(progress, key="progress")
        for figure_id, figure in (figures or {}).items():
            message = {"type": "figure", "id": figure_id, "figure": figure}
            self.outbox.post(message, key=f"figure:{figure_id}")


def preset_target(name: str, options):
    """The job body of one preset run; returns the closing `done` message."""
    preset = PRESETS[name]

    def target(control: JobControl, outbox: Outbox) -> dict:
        outbox.post({"type": "started", "preset": name, "options": options.model_dump()})
        log.info("preset %s started: %s", name, options.model_dump_json())
        started = time.perf_counter()
        result = preset.run(options, PresetSink(outbox, control), control.checkpoint)
        seconds = time.perf_counter() - started
        log.info("preset %s completed in %.1f s", name, seconds)
        return {
            "type": "done",
            "reason": "completed",
            "preset": name,
            "options": options.model_dump(),
            "figures": result["figures"],
            "measures": result["measures"],
            "seconds": round(seconds, 3),
        }

    return target


def _card(name: str) -> dict:
    if name not in PRESETS:
        known = ", ".join(PRESETS)
        raise HTTPException(404, f"unknown preset {name!r}; known presets: {known}")
    return PRESETS[name].describe()


@router.get("/api/presets")
def list_presets() -> dict:
    """Every preset's card: explanation, expected result and options schema."""
    return {"presets": [p.describe() for p in PRESETS.values()]}


@router.get("/api/presets/{name}")
def read_preset(name: str) -> dict:
    """One preset's card, with its options' JSON schema and defaults."""
    return _card(name)


@router.get("/papers", include_in_schema=False)
def read_papers(request: Request):
    """The paper lab: one card per classic experiment."""
    cards = [p.describe() for p in PRESETS.values()]
    context = {"active": "papers", "cards": cards}
    return templates.TemplateResponse(request, "papers.html", context)


@router.websocket("/ws/preset/{name}")
async def preset_socket(websocket: WebSocket, name: str) -> None:
    """Run one preset, streaming progress and figures; see docs/presets.md."""
    await websocket.accept()
    if name not in PRESETS:
        known = ", ".join(PRESETS)
        await reject(websocket, BadMessage("name", f"unknown preset {name!r}; known: {known}"))
        return
    options = await receive_start(websocket, PRESETS[name].options)
    if options is None:
        return
    jobs = websocket.app.state.jobs
    job = jobs.create(preset_target(name, options), session_id(websocket), f"preset {name}")
    await run_job(websocket, jobs, job)
