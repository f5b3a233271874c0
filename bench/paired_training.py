"""Paired-run throughput against a plain eager PyTorch loop over the same models.

Setting of the brief (section 5): 20 units, width 16, batch 512, one thread,
spiral data. Prints steps per second (a step trains both networks) for:

- eager: the textbook loop, zero_grad / forward / loss / backward / step for
  each model in turn, nothing recorded;
- engine: `run_paired` as the server runs it, with history, gradient norms
  and a sink that serialises every message as the socket would.

and their ratio. Usage: python bench/paired_training.py [--steps N] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from app.core.config import RunConfig
from app.core.training import PairedTrainer, run_paired
from app.web.jobs import json_safe


class SerialisingSink:
    """Does the socket's per-message work (JSON), without a socket."""

    def __init__(self):
        self.bytes = 0

    def on_start(self, trainer):
        pass

    def on_record(self, step, rows, steps_per_second):
        self.bytes += len(json.dumps(json_safe(rows), allow_nan=False))

    def on_surface(self, step, surfaces):
        self.bytes += len(json.dumps(json_safe(surfaces), allow_nan=False))


def eager_steps_per_second(config: RunConfig, steps: int) -> float:
    trainer = PairedTrainer(config)  # same data, same two models
    nets = list(trainer.nets.values())
    opts = [torch.optim.Adam(n.parameters(), lr=config.learning_rate) for n in nets]
    x_all, y_all = trainer.data.x_train, trainer.data.y_train

    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, len(x_all), (config.batch_size,))
        x, y = x_all[idx], y_all[idx]
        for net, opt in zip(nets, opts, strict=True):
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
    return steps / (time.perf_counter() - start)


def engine_steps_per_second(config: RunConfig, sink=None) -> float:
    result = run_paired(config, sink)
    return result.steps / result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = RunConfig(depth=20, width=16, batch_size=512, steps=args.steps)

    eager, engine, quiet = [], [], []
    for _ in range(args.repeats):
        eager.append(eager_steps_per_second(config, args.steps))
        engine.append(engine_steps_per_second(config, SerialisingSink()))
        quiet.append(engine_steps_per_second(config))
    e, s, q = (statistics.median(v) for v in (eager, engine, quiet))
    print(f"eager loop        {e:8.1f} paired steps/s  ({1000 / e:.2f} ms/step)")
    print(f"engine, streaming {s:8.1f} paired steps/s  ({1000 / s:.2f} ms/step)")
    print(f"engine, no sink   {q:8.1f} paired steps/s")
    print(f"ratio engine/eager (streaming on): {s / e:.2f}x   target >= 2x")
    print(f"streaming cost: {100 * (1 - s / q):.1f}% of throughput   target <= 10%")


if __name__ == "__main__":
    main()
