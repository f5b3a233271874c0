"""Long work off the event loop: jobs, their controls, outboxes and slots.

A job is a blocking function (a paired run, a preset) that runs in a worker
thread of its own. It talks to the event loop through two objects only:

- `JobControl`: pause, resume and stop, checked by the job between steps;
- `Outbox`: the messages it posts, bounded and coalesced, so that a browser
  that falls behind gets the latest state instead of an ever longer queue.

`JobManager` holds at most `max_running` jobs in worker threads at once and
queues the rest in arrival order, telling each queued job its position.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

log = logging.getLogger(__name__)

PAUSE_LIMIT_S = 300.0  # a paused job gives its slot back after this long


class JobStopped(Exception):
    """Raised inside a job's thread when it has been asked to stop."""


class JobControl:
    """Pause, resume and stop, shared by the event loop and the job's thread."""

    def __init__(self, pause_limit_s: float = PAUSE_LIMIT_S):
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self.pause_limit_s = pause_limit_s
        self.reason = ""

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self, reason: str = "stopped") -> None:
        if not self._stop.is_set():
            self.reason = reason
        self._stop.set()
        self._running.set()  # wake a paused job so that it can end

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait_if_paused(self) -> None:
        if self._running.is_set():
            return
        if not self._running.wait(self.pause_limit_s):
            self.stop("paused too long")

    def checkpoint(self) -> None:
        """For jobs without a natural stop: pause here, raise if stopped."""
        self.wait_if_paused()
        if self.stop_requested():
            raise JobStopped(self.reason)


def json_safe(value):
    """Replace NaN and infinities by None so that strict JSON parsers agree."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


class Outbox:
    """Messages from a job's thread to its socket, bounded and coalesced.

    A message posted with a `key` replaces any unsent message with the same
    key (latest state wins); a message posted with `merge` folds into the
    unsent one of that key instead. At most `limit` messages wait; past that
    the oldest keyed message is dropped first.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int = 64):
        self._loop = loop
        self._lock = threading.Lock()
        self._pending: OrderedDict[object, dict] = OrderedDict()
        self._serial = itertools.count()
        self._ready = asyncio.Event()
        self.limit = limit
        self.dropped = 0

    def post(self, message: dict, key: str | None = None, merge=None) -> None:
        with self._lock:
            if key is not None and key in self._pending:
                old = self._pending.pop(key)
                message = merge(old, message) if merge else message
            self._pending[key if key is not None else next(self._serial)] = message
            while len(self._pending) > self.limit:
                self._drop_one()
        self._loop.call_soon_threadsafe(self._ready.set)

    def _drop_one(self) -> None:
        for k in self._pending:
            if isinstance(k, str):
                del self._pending[k]
                break
        else:
            self._pending.popitem(last=False)
        self.dropped += 1

    def take(self) -> list[dict]:
        with self._lock:
            messages = list(self._pending.values())
            self._pending.clear()
            self._ready.clear()
        return messages

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            pass

    def __len__(self) -> int:
        return len(self._pending)


Target = Callable[[JobControl, Outbox], dict]


class Job:
    """One unit of long work, owned by one browser session."""

    _ids = itertools.count(1)

    def __init__(self, target: Target, owner: str, label: str, loop: asyncio.AbstractEventLoop):
        self.id = f"job-{next(self._ids)}"
        self.target = target
        self.owner = owner
        self.label = label
        self.control = JobControl()
        self.outbox = Outbox(loop)
        self.state = "queued"  # queued -> running -> done
        self.result: dict | None = None
        self.finished = asyncio.Event()
        self.thread: threading.Thread | None = None
        self.queued_at = time.monotonic()

    def _run(self, on_exit: Callable[[], None]) -> None:
        try:
            self.result = self.target(self.control, self.outbox)
        except JobStopped as err:
            self.result = {"type": "done", "reason": "stopped", "detail": str(err)}
        except Exception:
            log.exception("%s (%s) failed", self.id, self.label)
            self.result = {"type": "error", "message": "the run failed on the server"}
        finally:
            on_exit()


class JobManager:
    """Runs at most `max_running` jobs at once; the rest wait in a queue."""

    def __init__(self, max_running: int, max_queued: int):
        self.max_running = max_running
        self.max_queued = max_queued
        self.running: dict[str, Job] = {}
        self.queue: list[Job] = []
        self.by_owner: dict[str, Job] = {}
        self.recent_seconds: list[float] = []  # durations, for queue estimates

    def create(self, target: Target, owner: str, label: str) -> Job:
        return Job(target, owner, label, asyncio.get_running_loop())

    def submit(self, job: Job) -> None:
        """Start `job` now or queue it; an owner's earlier job is stopped."""
        previous = self.by_owner.get(job.owner)
        if previous is not None and previous.state != "done":
            self.cancel(previous, "replaced by a new run")
        if len(self.queue) >= self.max_queued and len(self.running) >= self.max_running:
            raise QueueFull(f"the queue is full ({self.max_queued} runs waiting)")
        self.by_owner[job.owner] = job
        self.queue.append(job)
        self._fill_slots()
        self._announce_positions()

    def cancel(self, job: Job, reason: str = "stopped") -> None:
        job.control.stop(reason)
        if job.state == "queued":
            self.queue.remove(job)
            self._finish(job, {"type": "done", "reason": "stopped", "detail": reason})
            self._announce_positions()

    def position(self, job: Job) -> int:
        return self.queue.index(job) + 1 if job in self.queue else 0

    def estimate_wait_s(self, position: int) -> float | None:
        if not self.recent_seconds:
            return None
        mean = sum(self.recent_seconds) / len(self.recent_seconds)
        return mean * math.ceil(position / self.max_running)

    def _fill_slots(self) -> None:
        loop = asyncio.get_running_loop()
        while self.queue and len(self.running) < self.max_running:
            job = self.queue.pop(0)
            job.state = "running"
            job.started_at = time.monotonic()
            self.running[job.id] = job

            def on_exit(job=job):
                loop.call_soon_threadsafe(self._thread_exited, job)

            name = f"residual-lab-{job.id}"
            job.thread = threading.Thread(target=job._run, args=(on_exit,), name=name, daemon=True)
            job.thread.start()

    def _thread_exited(self, job: Job) -> None:
        self.running.pop(job.id, None)
        self.recent_seconds = (self.recent_seconds + [time.monotonic() - job.started_at])[-20:]
        self._finish(job, job.result)
        self._fill_slots()
        self._announce_positions()

    def _finish(self, job: Job, result: dict | None) -> None:
        job.state = "done"
        job.result = result
        if self.by_owner.get(job.owner) is job:
            del self.by_owner[job.owner]
        job.finished.set()

    def _announce_positions(self) -> None:
        for i, job in enumerate(self.queue, start=1):
            message = {"type": "queued", "position": i, "estimate_s": self.estimate_wait_s(i)}
            job.outbox.post(message, key="queued")

    async def shutdown(self) -> None:
        for job in list(self.queue) + list(self.running.values()):
            self.cancel(job, "server shutting down")
        for job in list(self.running.values()):
            if job.thread is not None:
                await asyncio.to_thread(job.thread.join, 5)


class QueueFull(Exception):
    pass
