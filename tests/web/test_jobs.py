"""The scheduler on its own: turns, and the grace for a nearly finished job."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from app.web.jobs import JobControl, JobManager


def endless(control: JobControl, outbox) -> dict:
    """A job that works until stopped, holding wherever it is told to."""
    while True:
        control.checkpoint()  # raises JobStopped once stopped
        time.sleep(0.005)


def run_in_own_loop(scenario) -> None:
    """asyncio.run in a thread: the browser tests' Playwright holds this
    thread's event loop for the whole session."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result()


async def over_turn(done_fraction: float):
    """Two jobs on one slot; the first has used its 0.2 s turn and reports
    `done_fraction` of its work done when the scheduler looks."""
    manager = JobManager(max_running=1, max_queued=4, quantum_s=0.2)
    first = manager.create(endless, "owner-a", "first")
    second = manager.create(endless, "owner-b", "second")
    manager.submit(first)
    manager.submit(second)
    await asyncio.sleep(0.3)

    first.control.report_progress(done_fraction)
    manager.rebalance()
    return manager, first, second


def test_a_job_over_its_turn_goes_to_the_back_and_says_it_resumes():
    async def scenario():
        # 60% done in 0.3 s: 0.2 s left, more than a quarter of the turn.
        manager, first, second = await over_turn(0.6)

        assert first in manager.queue and second.id in manager.running
        queued = [m for m in first.outbox.take() if m["type"] == "queued"]
        assert queued[-1] == {"type": "queued", "position": 1, "estimate_s": 5, "resumes": True}
        await manager.shutdown()

    run_in_own_loop(scenario)


def test_a_nearly_finished_job_keeps_its_slot():
    async def scenario():
        # 99.9% done in 0.3 s: a third of a millisecond left.
        manager, first, second = await over_turn(0.999)

        assert first.id in manager.running and second in manager.queue
        await manager.shutdown()

    run_in_own_loop(scenario)
