"""The socket side of a job: validate the start message, then pump messages.

Every long-running socket (a paired run, a preset) follows one protocol,
documented in docs/protocol.md: the client sends one `start` message, the
server answers `queued` / `started`, streams the job's messages, and ends
with `done` (or `error`) and a normal close. `pause`, `resume` and `stop`
may be sent at any time; closing the socket stops the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import TypeVar

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ValidationError

from .errors import first_problem
from .jobs import Job, JobManager, QueueFull, json_safe

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

START_TIMEOUT_S = 30.0
MAX_MESSAGE_BYTES = 16_384
SEND_INTERVAL_S = 0.05  # at most about 20 socket messages a second per job
SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013


class BadMessage(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def dumps(message: dict) -> str:
    return json.dumps(json_safe(message), allow_nan=False, separators=(",", ":"))


def parse_message(text: str) -> dict:
    if len(text) > MAX_MESSAGE_BYTES:
        raise BadMessage("message", f"message too long (at most {MAX_MESSAGE_BYTES} bytes)")
    try:
        message = json.loads(text)
    except ValueError:
        raise BadMessage("message", "message is not valid JSON") from None
    except RecursionError:
        raise BadMessage("message", "message is nested too deeply") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise BadMessage("type", "message must be a JSON object with a string 'type'")
    return message


async def receive_text(websocket: WebSocket) -> str:
    """The next text frame; a binary frame is a client error, not a crash."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    if message.get("text") is None:
        raise BadMessage("message", "binary frames are not accepted: send JSON text")
    return message["text"]


def describe(err: ValidationError, prefix: str = "") -> BadMessage:
    """The first validation problem as a field name and one short sentence."""
    return BadMessage(*first_problem(err.errors(), prefix))


def session_id(websocket: WebSocket) -> str:
    """The browser session a socket belongs to (one active job per session)."""
    raw = websocket.query_params.get("session", "")
    if SESSION_RE.match(raw):
        return raw
    return f"anon-{id(websocket)}"


async def reject(websocket: WebSocket, err: BadMessage, code: int = POLICY_VIOLATION) -> None:
    """Tell the client what was wrong, then close with a reason naming the field."""
    with contextlib.suppress(Exception):
        await websocket.send_text(
            dumps({"type": "error", "field": err.field, "message": err.message})
        )
        await websocket.close(code, err.message[:120])


async def receive_start(websocket: WebSocket, model: type[M]) -> M | None:
    """Wait for a valid start message; on a bad one, reject and return None."""
    try:
        text = await asyncio.wait_for(receive_text(websocket), START_TIMEOUT_S)
        message = parse_message(text)
        if message["type"] != "start":
            raise BadMessage("type", "the first message must have type 'start'")
        try:
            return model.model_validate(message.get("config", {}))
        except ValidationError as err:
            raise describe(err, "config") from None
    except BadMessage as err:
        await reject(websocket, err)
    except TimeoutError:
        await reject(websocket, BadMessage("start", "no start message in time"))
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client left before starting
    return None


async def _send_loop(websocket: WebSocket, job: Job) -> None:
    while True:
        await job.outbox.wait(SEND_INTERVAL_S * 4)
        for message in job.outbox.take():
            await websocket.send_text(dumps(message))
        if job.finished.is_set() and not len(job.outbox):
            return
        await asyncio.sleep(SEND_INTERVAL_S)  # lets a fast job's messages coalesce


async def _receive_loop(websocket: WebSocket, job: Job, manager: JobManager) -> None:
    while True:
        try:
            message = parse_message(await receive_text(websocket))
        except BadMessage as err:
            await websocket.send_text(
                dumps({"type": "error", "field": err.field, "message": err.message})
            )
            continue
        kind = message["type"]
        if kind == "pause":
            job.control.pause()
            job.outbox.post({"type": "paused"}, key="pause-state")
        elif kind == "resume":
            job.control.resume()
            job.outbox.post({"type": "resumed"}, key="pause-state")
            manager.wake()
        elif kind == "stop":
            manager.cancel(job, "stopped")
        else:
            await websocket.send_text(
                dumps({"type": "error", "field": "type", "message": f"unknown type {kind!r}"})
            )


async def run_job(websocket: WebSocket, manager: JobManager, job: Job) -> None:
    """Queue or start `job`, stream its messages, stop it if the client leaves."""
    try:
        manager.submit(job)
    except QueueFull as err:
        await reject(websocket, BadMessage("queue", str(err)), TRY_AGAIN_LATER)
        return

    sender = asyncio.create_task(_send_loop(websocket, job))
    receiver = asyncio.create_task(_receive_loop(websocket, job, manager))
    try:
        done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if receiver in done:
            receiver.result()  # re-raises the disconnect that ended it
        if sender in done:
            sender.result()  # re-raise a send failure
            result = job.result or {"type": "done", "reason": "stopped"}
            await websocket.send_text(dumps(result))
            await websocket.close(1000)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client went away; the finally below stops the job
    finally:
        for task in (sender, receiver):
            task.cancel()
        if job.state != "done":
            manager.cancel(job, "client disconnected")
