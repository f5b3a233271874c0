"""A class at once: slots, queue, lifecycles and memory, on a real server.

Each test starts its own server on loopback (one training slot, so queueing
is easy to provoke) and talks to it over real sockets.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from contextlib import ExitStack

import pytest
from websockets.sync.client import connect

from tests.servers import start_server, stop_server

LONG_RUN = {"depth": 4, "width": 16, "steps": 100_000}


@pytest.fixture
def server():
    url, process = start_server({"RESIDUAL_LAB_MAX_RUNNING": "1", "RESIDUAL_LAB_MAX_QUEUED": "4"})
    yield url, process
    stop_server(process)


def status(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/api/status", timeout=5) as r:
        return json.load(r)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def socket_to(url: str, session: str):
    return connect(f"{url.replace('http', 'ws')}/ws/train?session={session}", open_timeout=10)


def start(ws, config: dict) -> None:
    ws.send(json.dumps({"type": "start", "config": config}))


def next_of(ws, kind: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        if message["type"] == kind:
            return message


def queue_behind(first, second) -> dict:
    """`first` takes the only slot, `second` waits: its `queued` message."""
    start(first, LONG_RUN)
    next_of(first, "started")
    start(second, LONG_RUN)
    return next_of(second, "queued")


def wait_until(predicate, timeout: float) -> float:
    """Seconds until `predicate()` held; fails after `timeout`."""
    began = time.monotonic()
    while not predicate():
        assert time.monotonic() - began < timeout, "condition not met in time"
        time.sleep(0.02)
    return time.monotonic() - began


def test_second_run_queues_and_closing_the_first_frees_its_slot_within_a_second(server):
    url, _ = server
    stack = ExitStack()
    first = stack.enter_context(socket_to(url, "session-aaaa"))
    second = stack.enter_context(socket_to(url, "session-bbbb"))
    start(first, LONG_RUN)
    next_of(first, "started")
    start(second, LONG_RUN)

    queued = next_of(second, "queued")
    assert queued["position"] == 1
    assert status(url) == {"running": 1, "queued": 1, "max_running": 1}

    next_of(first, "metrics")  # past the first, slower step
    first.close()
    began = time.monotonic()
    next_of(second, "started", timeout=5)
    assert time.monotonic() - began < 1.0
    assert status(url)["running"] == 1 and status(url)["queued"] == 0
    stack.close()
    wait_until(lambda: status(url)["running"] == 0, timeout=1.0)


def test_a_new_start_from_the_same_session_replaces_its_run(server):
    url, _ = server
    with socket_to(url, "session-same") as old, socket_to(url, "session-same") as new:
        replace_run(old, new)


def replace_run(old, new) -> None:
    start(old, LONG_RUN)
    next_of(old, "started")
    start(new, {"depth": 2, "steps": 20})

    replaced = next_of(old, "done")
    assert replaced["reason"] == "stopped" and replaced["detail"] == "replaced by a new run"
    assert next_of(new, "done")["reason"] == "completed"


def test_a_full_queue_closes_with_try_again_later(server):
    url, _ = server
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket_to(url, f"session-q{i:04d}")) for i in range(6)]
        overflow_queue(sockets)


def overflow_queue(sockets) -> None:
    start(sockets[0], LONG_RUN)
    next_of(sockets[0], "started")
    for ws in sockets[1:5]:
        start(ws, LONG_RUN)
        next_of(ws, "queued")
    start(sockets[5], LONG_RUN)

    error = next_of(sockets[5], "error")
    assert error["field"] == "queue" and "full" in error["message"]
    with pytest.raises(Exception) as closed:
        sockets[5].recv(timeout=5)
    assert closed.value.rcvd.code == 1013


def test_two_sessions_never_see_each_others_data(server):
    url, _ = server
    with socket_to(url, "session-iso-a") as a, socket_to(url, "session-iso-b") as b:
        run_side_by_side(a, b)


def run_side_by_side(a, b) -> None:
    start(a, {"depth": 3, "width": 8, "steps": 40, "seed": 1, "dataset": "moons"})
    start(b, {"depth": 5, "width": 12, "steps": 40, "seed": 2, "dataset": "xor"})

    for ws, depth, name in ((a, 3, "moons"), (b, 5, "xor")):
        started = next_of(ws, "started")
        assert started["config"]["depth"] == depth and started["dataset"]["name"] == name
        metrics = next_of(ws, "metrics")
        assert all(len(r["grad_norms"]) == depth + 2 for r in metrics["rows"]["plain"])
        done = next_of(ws, "done")
        assert done["run_id"] == started["run_id"] and done["steps"] == 40


@pytest.fixture
def few_kept_runs():
    env = {"RESIDUAL_LAB_MAX_RUNNING": "1", "RESIDUAL_LAB_KEPT_RUNS": "5"}
    url, process = start_server(env)
    yield url, process
    stop_server(process)


def test_start_stop_cycles_leave_memory_and_threads_flat(few_kept_runs):
    url, process = few_kept_runs

    def cycle(i: int) -> None:
        with socket_to(url, f"cycle-{i:06d}") as ws:
            start(ws, {"depth": 8, "width": 32, "steps": 100_000, "seed": i})
            next_of(ws, "started")
            ws.send(json.dumps({"type": "stop"}))
            assert next_of(ws, "done")["reason"] == "stopped"

    for i in range(10):  # warm up allocators and caches, fill the store
        cycle(i)
    wait_until(lambda: status(url)["running"] == 0, timeout=2)
    before_mb, before_threads = rss_mb(process.pid), threads(process.pid)
    for i in range(10, 110):
        cycle(i)
    wait_until(lambda: status(url)["running"] == 0, timeout=2)

    # The store of finished runs is full after the warm-up (5 runs here), so
    # whatever a cycle leaves behind shows; and no worker thread may remain.
    assert rss_mb(process.pid) - before_mb < 20, (before_mb, rss_mb(process.pid))
    assert threads(process.pid) <= before_threads


def test_a_client_that_stops_reading_leaves_server_memory_bounded(server):
    url, process = server
    with socket_to(url, "session-slow") as ws:
        start(ws, {"depth": 2, "width": 8, "steps": 100_000, "dataset": "spiral"})
        next_of(ws, "started")
        time.sleep(1)
        early = rss_mb(process.pid)
        time.sleep(8)  # read nothing while about 100,000 steps' worth of updates pile up
        late = rss_mb(process.pid)
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
            assert r.status == 200
        # The stream resumes with the latest state once the client reads again.
        assert next_of(ws, "metrics", timeout=10)["step"] > 0

    assert late - early < 30, (early, late)


@pytest.fixture
def short_turns():
    env = {"RESIDUAL_LAB_MAX_RUNNING": "1", "RESIDUAL_LAB_QUANTUM_S": "1"}
    url, process = start_server(env)
    yield url
    stop_server(process)


def test_runs_take_turns_on_a_busy_slot(short_turns):
    url = short_turns
    with socket_to(url, "turn-aaaa") as a, socket_to(url, "turn-bbbb") as b:
        assert queue_behind(a, b)["position"] == 1

        next_of(b, "started", timeout=5)  # a's turn ended after about a second
        requeued = next_of(a, "queued", timeout=5)
        assert requeued["position"] == 1 and requeued["resumes"] is True
        next_of(a, "running", timeout=5)  # and a gets the slot back
        assert status(url) == {"running": 1, "queued": 1, "max_running": 1}


def test_a_paused_run_gives_its_slot_to_a_waiting_one(server):
    url, _ = server
    with socket_to(url, "pause-aaaa") as a, socket_to(url, "pause-bbbb") as b:
        queue_behind(a, b)
        a.send(json.dumps({"type": "pause"}))

        next_of(b, "started", timeout=3)
        a.send(json.dumps({"type": "resume"}))
        b.send(json.dumps({"type": "pause"}))
        next_of(a, "running", timeout=3)


def test_responses_carry_no_server_banner(server):
    url, _ = server
    with urllib.request.urlopen(f"{url}/healthz", timeout=5) as r:
        assert r.headers.get("server") is None


def test_queue_places_are_announced_only_when_they_change(server):
    url, _ = server
    with socket_to(url, "calm-aaaa") as a, socket_to(url, "calm-bbbb") as b:
        queue_behind(a, b)
        time.sleep(3)  # three rebalancing rounds with nothing changed

        with pytest.raises(TimeoutError):
            next_of(b, "queued", timeout=0.5)


@pytest.fixture
def short_pauses():
    env = {"RESIDUAL_LAB_MAX_RUNNING": "1", "RESIDUAL_LAB_PAUSE_LIMIT_S": "2"}
    url, process = start_server(env)
    yield url
    stop_server(process)


def test_a_run_paused_while_queued_ends_after_the_pause_limit(short_pauses):
    url = short_pauses
    with socket_to(url, "qpause-aaaa") as a, socket_to(url, "qpause-bbbb") as b:
        queue_behind(a, b)
        b.send(json.dumps({"type": "pause"}))
        next_of(b, "paused")

        done = next_of(b, "done", timeout=6)
        assert done == {
            "type": "done",
            "reason": "stopped",
            "steps": 0,
            "seconds": 0.0,
            "run_id": None,
            "final": None,
            "diverged": None,
            "detail": "paused too long",
        }
        assert status(url)["queued"] == 0
