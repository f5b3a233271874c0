"""The degradation sweep's wall time: 4 depths x plain/residual on the spiral.

Target of the brief (section 5): under 15 s on 2 cores. Runs the preset as
the page and the command line do (its default depths and steps) with one
torch thread, as the server gives each run on a 2-core machine (these
networks are too small for intra-op threads to pay), and prints the total;
then times each kind of network on its own, to show where the time goes.

Usage: python bench/degradation_sweep.py [--threads N] [--steps N]
"""

from __future__ import annotations

import argparse
import logging
import time

import torch

from app.core.data import load
from app.core.models import paired_networks
from app.core.presets import PRESETS
from app.core.presets.base import train
from app.core.presets.degradation import DegradationOptions
from app.core.training import Trainer

log = logging.getLogger("bench.degradation_sweep")
TARGET_S = 15.0


def time_preset(opts: DegradationOptions) -> float:
    started = time.perf_counter()
    PRESETS["degradation"].run(opts, lambda *a, **k: None, lambda: None)
    return time.perf_counter() - started


def time_kind(opts: DegradationOptions, kind: str) -> float:
    """One kind of network at every depth, alone: the sweep's share of that kind."""
    data = load(opts.dataset, 1000, 0.03, opts.seed)
    total = 0.0
    for depth in opts.depths:
        nets = paired_networks(opts.seed, data.in_features, data.classes, depth, opts.width)
        net = dict(zip(("plain", "residual"), nets, strict=True))[kind]
        fitter = Trainer(
            {kind: net}, data.x_train, data.y_train, opts.learning_rate, opts.batch_size, opts.seed
        )
        started = time.perf_counter()
        train(fitter, opts.steps, lambda: None)
        fitter.evaluate()
        total += time.perf_counter() - started
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=None, help="default: the preset's")
    args = parser.parse_args()
    logging.basicConfig(level="INFO", format="%(message)s")
    torch.set_num_threads(args.threads)

    opts = DegradationOptions() if args.steps is None else DegradationOptions(steps=args.steps)
    log.info(
        "degradation sweep: %s, depths %s, width %d, %d steps, %d threads",
        opts.dataset,
        opts.depths,
        opts.width,
        opts.steps,
        args.threads,
    )
    total = time_preset(opts)
    per_kind = {kind: time_kind(opts, kind) for kind in ("plain", "residual")}
    for kind, seconds in per_kind.items():
        log.info("  %-8s %6.2f s (alone, all depths)", kind, seconds)
    verdict = "meets" if total < TARGET_S else "MISSES"
    log.info("  preset total %6.2f s: %s the %.0f s target", total, verdict, TARGET_S)


if __name__ == "__main__":
    main()
