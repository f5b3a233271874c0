"""A class at once: 30 learners press Start together on one server.

Starts `residual-lab serve` on loopback with its default settings (one
training slot per CPU), opens N sessions that all start a paired run at the
same moment, and while they train or wait, requests the page, the health
check and a block-anatomy slider update in a loop. Prints the latency
percentiles of those requests and what each session was told (a queue
position or a running stream). Bounded: N sessions, D seconds.

Usage: python bench/class_load.py [--sessions 30] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.servers import start_server, stop_server  # noqa: E402

RUN = {"dataset": "spiral", "depth": 20, "width": 16, "steps": 3000}
SLIDER = {
    "w1": [[1.0, -0.5], [0.5, 1.0]],
    "b1": [0.0, -0.25],
    "w2": [[-0.6, 0.4], [0.3, -0.5]],
    "b2": [0.1, 0.0],
    "unit": "residual",
}


def learner(url: str, i: int, until: float, seen: dict, go: threading.Event) -> None:
    """One browser tab: start a run, then read whatever the server says."""
    ws_url = f"{url.replace('http', 'ws')}/ws/train?session=learner-{i:04d}"
    with connect(ws_url, open_timeout=30) as ws:
        go.wait()
        ws.send(json.dumps({"type": "start", "config": {**RUN, "seed": i}}))
        first = None
        while time.monotonic() < until:
            try:
                message = json.loads(ws.recv(timeout=max(until - time.monotonic(), 0.01)))
            except TimeoutError:
                break
            if first is None and message["type"] in ("queued", "started", "error"):
                first = message
                seen[i] = message
            if message["type"] in ("done", "error"):
                break


def timed_request(url: str, body: dict | None = None) -> float:
    data = json.dumps(body).encode() if body else None
    headers = {"content-type": "application/json"} if body else {}
    request = urllib.request.Request(url, data=data, headers=headers)
    began = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as r:
        r.read()
        assert r.status == 200, r.status
    return (time.perf_counter() - began) * 1000


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()

    url, process = start_server()
    try:
        until = time.monotonic() + args.seconds
        seen: dict[int, dict] = {}
        go = threading.Event()
        tabs = [
            threading.Thread(target=learner, args=(url, i, until, seen, go))
            for i in range(args.sessions)
        ]
        for t in tabs:
            t.start()
        time.sleep(1.0)  # every socket open, then all press Start at once
        go.set()

        latencies = {"page": [], "health": [], "slider": []}
        while time.monotonic() < until:
            latencies["page"].append(timed_request(f"{url}/"))
            latencies["health"].append(timed_request(f"{url}/healthz"))
            latencies["slider"].append(timed_request(f"{url}/api/anatomy/unit", SLIDER))
            time.sleep(0.05)
        for t in tabs:
            t.join()
    finally:
        stop_server(process)

    kinds = [m["type"] for m in seen.values()]
    print(f"{args.sessions} sessions, {args.seconds:.0f} s under load:")
    print(
        f"  first answer: {kinds.count('started')} started, {kinds.count('queued')} queued "
        f"(positions {sorted(m['position'] for m in seen.values() if m['type'] == 'queued')}), "
        f"{kinds.count('error')} errors, {args.sessions - len(seen)} silent"
    )
    for name, values in latencies.items():
        print(
            f"  {name:7s} n={len(values):4d}  p50 {percentile(values, 50):6.1f} ms  "
            f"p99 {percentile(values, 99):6.1f} ms  (target p99 < 200 ms)"
        )


if __name__ == "__main__":
    main()
