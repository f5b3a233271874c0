"""Pages, the health check and the bundled Plotly bundle."""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from pathlib import Path

import plotly
from fastapi import APIRouter, Request, Response
from fastapi.templating import Jinja2Templates

from ...core.config import RunConfig
from ...core.data import DATASETS

ROOT = Path(__file__).resolve().parents[3]
templates = Jinja2Templates(directory=ROOT / "templates")
router = APIRouter()

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@lru_cache(maxsize=1)
def _plotly_bundle() -> tuple[bytes, bytes, str]:
    raw = PLOTLY_JS.read_bytes()
    return raw, gzip.compress(raw, 6), hashlib.sha256(raw).hexdigest()[:16]


def config_fields() -> dict:
    """Bounds and defaults of every run setting, for the page's controls."""
    return RunConfig.model_json_schema()["properties"]


@router.get("/", include_in_schema=False)
def read_lab(request: Request):
    """The lab: a plain and a residual network trained side by side."""
    context = {"fields": config_fields(), "datasets": DATASETS, "active": "lab"}
    return templates.TemplateResponse(request, "lab.html", context)


@router.get("/healthz")
def read_health() -> dict:
    """Liveness: the server answers."""
    return {"status": "ok"}


@router.get("/api/status")
def read_status(request: Request) -> dict:
    """Load: runs training now, runs waiting, and how many may train at once."""
    jobs = request.app.state.jobs
    return {
        "running": len(jobs.running),
        "queued": len(jobs.queue),
        "max_running": jobs.max_running,
    }


@router.get("/vendor/plotly.min.js", include_in_schema=False)
def read_plotly(request: Request) -> Response:
    """Plotly.js from the installed plotly package, gzipped once."""
    raw, packed, etag = _plotly_bundle()
    headers = {
        "ETag": f'"{etag}"',
        "Cache-Control": "public, max-age=86400",
        "Vary": "Accept-Encoding",
    }
    if request.headers.get("if-none-match") == f'"{etag}"':
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type="text/javascript", headers=headers)
    return Response(raw, media_type="text/javascript", headers=headers)
