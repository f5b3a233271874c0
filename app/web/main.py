"""The FastAPI application: wraps the core maths, adds pages and sockets."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path

import torch
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles

from .errors import request_validation_error
from .jobs import JobManager
from .limits import BodyLimit
from .routes import anatomy, pages, presets, train
from .runs import RunStore
from .security import SecurityHeaders
from .settings import Settings

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # One intra-op thread a run: these networks are too small for more to
        # pay, and a second OpenMP thread beside a run waiting for its turn
        # slowed the running one fourfold. Runs <= CPUs: never oversubscribed.
        torch.set_num_threads(settings.torch_threads)
        log.info(
            "serving on device %s, %d runs at once", settings.torch_device(), settings.max_running
        )
        rebalancer = asyncio.create_task(app.state.jobs.rebalance_forever())
        yield
        rebalancer.cancel()
        await app.state.jobs.shutdown()

    app = FastAPI(
        title="Residual Lab",
        summary="Train plain and residual networks side by side.",
        lifespan=lifespan,
        # The interactive docs load scripts from a CDN; the schema stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.jobs = JobManager(
        settings.max_running, settings.max_queued, settings.quantum_s, settings.pause_limit_s
    )
    app.state.runs = RunStore(settings.kept_runs)
    app.state.fit_slots = asyncio.Semaphore(settings.max_running)
    app.add_exception_handler(RequestValidationError, request_validation_error)
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    app.include_router(pages.router)
    app.include_router(train.router)
    app.include_router(anatomy.router)
    app.include_router(presets.router)
    return app
