"""Block-anatomy slider latency: server compute, HTTP round trip, browser redraw.

Targets of the brief (section 5): a weight-slider change re-renders the block
view in under 100 ms at the 95th percentile in a real browser; the server
part stays under 15 ms for a 50-unit network on a 2,500-point grid.

Prints p50 / p95 in milliseconds for:

- in-process: the functions the endpoints call, for (a) the hand-set width-2
  unit repeated 50 times on the 50 x 50 grid and (b) one unit of a trained
  50-unit, width-16 paired run on 2,500 spiral points (both networks; the
  run's clouds are traced once and kept, so its first request is timed apart);
- HTTP: the same two requests to a uvicorn server this script starts on
  127.0.0.1 (a bounded number of sequential requests, one keep-alive link);
- browser: Chromium moving a weight slider on /block, from the `input`
  event to the panels redrawn and painted, for 1 and for 50 repeated units.

Usage: python bench/anatomy_latency.py [--updates 200] [--moves 50] [--no-browser]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
import uvicorn

from app.core import anatomy
from app.core.config import RunConfig
from app.core.training import PairedTrainer, run_paired
from app.web.main import create_app
from app.web.routes.anatomy import DEFAULT_UNIT, UnitRequest, compute_run_unit, compute_unit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.servers import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

RUN_ID = "bench-50"
RUN_UNITS = 50
RUN_POINTS = 2500


def percentiles(samples_s: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples_s)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"p50 {statistics.median(ms):6.2f} ms   p95 {p95:6.2f} ms   (n={len(ms)})"


def timed(fn: Callable[[int], object], count: int) -> list[float]:
    fn(0)  # warm-up: caches, allocator, first-call overheads
    samples = []
    for i in range(count):
        start = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - start)
    return samples


def slider_body(i: int, depth: int) -> dict:
    """The default unit with one weight moved, as a drag produces."""
    rng = random.Random(i)
    w2 = [row[:] for row in DEFAULT_UNIT["w2"]]
    w2[0][0] = round(rng.uniform(-2, 2), 2)
    return {**DEFAULT_UNIT, "w2": w2, "depth": depth}


def trained_run() -> PairedTrainer:
    # 2,500 training points (a quarter of the set is held out), 50 units.
    points = round(RUN_POINTS / 0.75)
    config = RunConfig(dataset="spiral", depth=RUN_UNITS, width=16, steps=30, points=points)
    trainer = PairedTrainer(config)
    run_paired(config, trainer=trainer)
    return trainer


def bench_in_process(trainer: PairedTrainer, count: int) -> None:
    print("in-process (the functions the endpoints call):")
    hand = timed(lambda i: compute_unit(UnitRequest(**slider_body(i, 50))), count)
    print(f"  hand unit x50, 2,500-point grid    {percentiles(hand)}")
    run = timed(lambda i: compute_run_unit(trainer, i % (RUN_UNITS + 1), RUN_POINTS), count)
    print(f"  trained 50-unit run, both nets     {percentiles(run)}")

    def cold(i: int) -> None:
        anatomy._traces.clear()  # the first unit request of a run: forward and PCA
        compute_run_unit(trainer, i % (RUN_UNITS + 1), RUN_POINTS)

    first = timed(cold, max(10, count // 10))
    print(f"  ...the run's first request (cold)  {percentiles(first)}")


def start_server(trainer: PairedTrainer) -> tuple[uvicorn.Server, threading.Thread, int]:
    app = create_app()
    app.state.runs.put(RUN_ID, trainer)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, port


def request(conn: http.client.HTTPConnection, method: str, path: str, body=None) -> None:
    payload = None if body is None else json.dumps(body)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, payload, headers)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"{method} {path}: HTTP {response.status}")


def bench_http(port: int, count: int) -> None:
    print("HTTP round trip (uvicorn on 127.0.0.1, sequential, keep-alive):")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    hand = timed(lambda i: request(conn, "POST", "/api/anatomy/unit", slider_body(i, 50)), count)
    print(f"  POST /unit, x50, 2,500 points      {percentiles(hand)}")
    path = "/api/anatomy/runs/" + RUN_ID + "/units/{}"
    run = timed(lambda i: request(conn, "GET", path.format(i % (RUN_UNITS + 1))), count)
    print(f"  GET one unit of the 50-unit run    {percentiles(run)}")
    conn.close()


# Runs in the page: move one slider, then wait until block.js has drawn the
# answer to the latest state (no request in flight) and the browser painted.
MOVE_JS = """async (value) => {
  const slider = document.getElementById('s-w2_00');
  const counters = window.blockAnatomy;
  const before = counters.renders;
  const start = performance.now();
  slider.value = value;
  slider.dispatchEvent(new Event('input', { bubbles: true }));
  while (counters.renders === before || counters.busy.hand) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const drawn = performance.now();
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  return [drawn - start, performance.now() - start];
}"""


def bench_browser(port: int, moves: int) -> None:
    from playwright.sync_api import sync_playwright

    print("browser (Chromium, `input` event to panels redrawn / painted):")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for depth in (1, 50):
            page.goto(f"http://127.0.0.1:{port}/block#depth={depth}")
            page.wait_for_function("() => window.blockAnatomy && window.blockAnatomy.renders > 0")
            # A drag: the slider swept across its range in small steps.
            values = [f"{-2 + 4 * i / moves:.2f}" for i in range(moves + 1)]
            page.evaluate(MOVE_JS, values[0])  # warm-up
            samples = [page.evaluate(MOVE_JS, v) for v in values[1:]]
            drawn = [s[0] / 1000 for s in samples]
            painted = [s[1] / 1000 for s in samples]
            panels = 6 if depth == 1 else 7
            print(f"  {depth:2d} unit(s), {panels} panels, drawn     {percentiles(drawn)}")
            print(f"  {depth:2d} unit(s), {panels} panels, painted   {percentiles(painted)}")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200, help="server updates (1..2000)")
    parser.add_argument("--moves", type=int, default=50, help="browser slider moves (1..500)")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    updates = min(max(args.updates, 1), 2000)
    moves = min(max(args.moves, 1), 500)

    torch.set_num_threads(1)  # one thread, as the server gives each request
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread")
    trainer = trained_run()

    # Over HTTP first: after this process has run the hand unit on its main
    # thread, the server thread's POSTs were seen to slow down 10-100x in this
    # script (not in a server on its own); measuring in-process last avoids it.
    server, thread, port = start_server(trainer)
    try:
        bench_http(port, updates)
        if not args.no_browser:
            bench_browser(port, moves)
    finally:
        server.should_exit = True
        thread.join(10)
    bench_in_process(trainer, updates)


if __name__ == "__main__":
    main()
