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
    """Pause, resume and stop, shared by the event loop and the job's thread.

    Two things can hold a job between steps: the learner's own pause, and
    the scheduler taking its slot away so that a waiting job gets a turn.
    """

    def __init__(self, pause_limit_s: float = PAUSE_LIMIT_S):
        self._running = threading.Event()  # clear: paused by the learner
        self._slot = threading.Event()  # clear: waiting for a training slot
        self._stop = threading.Event()
        self._running.set()
        self._slot.set()
        self.pause_limit_s = pause_limit_s
        self.paused_since = 0.0
        self.progress = 0.0
        self._turn = (0.0, time.monotonic())  # progress and time at this turn's start
        self.reason = ""

    def pause(self) -> None:
        if self._running.is_set():
            self.paused_since = time.monotonic()
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def paused_too_long(self) -> bool:
        return self.paused and time.monotonic() - self.paused_since > self.pause_limit_s

    def revoke_slot(self) -> None:
        self._slot.clear()

    def grant_slot(self) -> None:
        self._slot.set()
        self._turn = (self.progress, time.monotonic())

    def report_progress(self, fraction: float) -> None:
        """Called by the job: how much of its work is done, 0 to 1."""
        self.progress = min(max(fraction, 0.0), 1.0)

    def remaining_s(self) -> float:
        """Seconds of work left at this turn's pace; infinite until known."""
        done_before, began = self._turn
        gained = self.progress - done_before
        if gained <= 0:
            return math.inf
        return (1.0 - self.progress) * (time.monotonic() - began) / gained

    def stop(self, reason: str = "stopped") -> None:
        if not self._stop.is_set():
            self.reason = reason
        self._stop.set()
        self._running.set()  # wake a held job so that it can end
        self._slot.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait_if_paused(self) -> None:
        if not self._running.wait(self.pause_limit_s):
            self.stop("paused too long")
        self._slot.wait()

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

    def pop(self, key: str) -> None:
        """Drop an unsent keyed message that no longer holds."""
        with self._lock:
            self._pending.pop(key, None)

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

    def __init__(
        self,
        target: Target,
        owner: str,
        label: str,
        loop: asyncio.AbstractEventLoop,
        pause_limit_s: float = PAUSE_LIMIT_S,
    ):
        self.id = f"job-{next(self._ids)}"
        self.target = target
        self.owner = owner
        self.label = label
        self.control = JobControl(pause_limit_s)
        self.outbox = Outbox(loop)
        self.state = "queued"  # queued -> running -> done
        self.result: dict | None = None
        self.finished = asyncio.Event()
        self.thread: threading.Thread | None = None
        self.started_at = self.slot_since = time.monotonic()
        self.announced: dict | None = None  # the last queue place it was told

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
    """Runs at most `max_running` jobs at once; the rest wait in a queue.

    Fair share: while jobs wait, a job that has trained for `quantum_s` on
    its slot, or that its learner paused, goes back to the end of the queue
    (its thread holds between steps) and the next job gets the slot.
    """

    def __init__(
        self,
        max_running: int,
        max_queued: int,
        quantum_s: float = 20.0,
        pause_limit_s: float = PAUSE_LIMIT_S,
    ):
        self.max_running = max_running
        self.max_queued = max_queued
        self.quantum_s = quantum_s
        self.pause_limit_s = pause_limit_s
        self.running: dict[str, Job] = {}
        self.queue: list[Job] = []
        self.by_owner: dict[str, Job] = {}
        self.recent_seconds: list[float] = []  # durations, for queue estimates

    def create(self, target: Target, owner: str, label: str) -> Job:
        return Job(target, owner, label, asyncio.get_running_loop(), self.pause_limit_s)

    def submit(self, job: Job) -> None:
        """Start `job` now or queue it; an owner's earlier job is stopped."""
        previous = self.by_owner.get(job.owner)
        if previous is not None and previous.state != "done":
            self.cancel(previous, "replaced by a new run")
        if len(self.queue) >= self.max_queued and len(self.running) >= self.max_running:
            raise QueueFull(f"the queue is full ({self.max_queued} runs waiting)")
        self.by_owner[job.owner] = job
        self.queue.append(job)
        self.wake()

    def cancel(self, job: Job, reason: str = "stopped") -> None:
        job.control.stop(reason)
        if job.state == "queued" and job.thread is None:
            self.queue.remove(job)
            done = {
                "type": "done",
                "reason": "stopped",
                "steps": 0,
                "seconds": 0.0,
                "run_id": None,
                "final": None,
                "diverged": None,
                "detail": reason,
            }
            self._finish(job, done)
            self._announce_positions()
        # A job with a thread ends when the thread sees the stop.

    def wake(self) -> None:
        """Hand free slots to ready jobs (after a resume, say)."""
        self._fill_slots()
        self._announce_positions()

    def estimate_wait_s(self, position: int) -> float | None:
        """Seconds until `position` trains: one turn per round of slots."""
        now = time.monotonic()
        lengths = self.recent_seconds + [now - j.started_at for j in self.running.values()]
        if not lengths:
            return None
        # A turn lasts a typical run, or the quantum when runs are longer.
        turn = min(max(sum(lengths) / len(lengths), max(lengths)), self.quantum_s)
        return 5 * math.ceil(turn * math.ceil(position / self.max_running) / 5)

    def rebalance(self) -> None:
        """Give waiting jobs a turn: requeue paused and long-running jobs."""
        for job in list(self.queue) + list(self.running.values()):
            if job.control.paused_too_long():  # wherever it waits
                self.cancel(job, "paused too long")
        now = time.monotonic()
        waiting = sum(1 for job in self.queue if not job.control.paused)
        for job in sorted(self.running.values(), key=lambda j: j.slot_since):
            if waiting <= 0:
                break
            # A run about to finish keeps its slot: sending it to the back of the
            # queue would cost it a whole round for seconds of work.
            nearly_done = job.control.remaining_s() < self.quantum_s / 4
            over_time = now - job.slot_since >= self.quantum_s and not nearly_done
            if job.control.paused or over_time:
                self._preempt(job)
                waiting -= 1
        self.wake()

    async def rebalance_forever(self, interval_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.rebalance()

    def _preempt(self, job: Job) -> None:
        job.control.revoke_slot()  # the thread holds at its next step
        del self.running[job.id]
        job.state = "queued"
        self.queue.append(job)

    def _fill_slots(self) -> None:
        # Paused jobs wait for their learner, not for a slot: skip them.
        ready = [job for job in self.queue if not job.control.paused]
        while ready and len(self.running) < self.max_running:
            job = ready.pop(0)
            self.queue.remove(job)
            job.state = "running"
            job.slot_since = time.monotonic()
            job.control.grant_slot()
            self.running[job.id] = job
            job.outbox.pop("queued")
            job.announced = None
            if job.thread is None:
                self._start_thread(job)
            else:
                job.outbox.post({"type": "running"}, key="queued")

    def _start_thread(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        job.started_at = time.monotonic()

        def on_exit():
            loop.call_soon_threadsafe(self._thread_exited, job)

        name = f"residual-lab-{job.id}"
        job.thread = threading.Thread(target=job._run, args=(on_exit,), name=name, daemon=True)
        job.thread.start()

    def _thread_exited(self, job: Job) -> None:
        self.running.pop(job.id, None)
        if job in self.queue:  # stopped while waiting for its next turn
            self.queue.remove(job)
        self.recent_seconds = (self.recent_seconds + [time.monotonic() - job.started_at])[-20:]
        self._finish(job, job.result)
        self.wake()

    def _finish(self, job: Job, result: dict | None) -> None:
        job.state = "done"
        job.result = result
        if self.by_owner.get(job.owner) is job:
            del self.by_owner[job.owner]
        job.finished.set()

    def _announce_positions(self) -> None:
        """Tell each waiting job its place, when it has changed."""
        for i, job in enumerate(self.queue, start=1):
            message = {"type": "queued", "position": i, "estimate_s": self.estimate_wait_s(i)}
            if job.thread is not None:
                message["resumes"] = True  # it has trained and will pick up from there
            if message != job.announced:
                job.announced = message
                job.outbox.post(message, key="queued")

    async def shutdown(self) -> None:
        for job in list(self.queue) + list(self.running.values()):
            self.cancel(job, "server shutting down")
        threads = [job.thread for job in self.running.values() if job.thread is not None]
        for thread in threads:
            await asyncio.to_thread(thread.join, 5)


class QueueFull(Exception):
    pass
