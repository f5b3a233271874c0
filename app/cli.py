"""The `residual-lab` command: serve the app, or train a paired run headless."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import get_args

from pydantic import ValidationError

from .core.config import RunConfig

log = logging.getLogger("residual_lab")


def configure_logging(level: str = "info") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


class ProgressBar:
    """A one-line text progress bar on stderr, redrawn at most 10 times a second."""

    def __init__(self, total: int, label: str = "", stream=None, width: int = 30):
        self.total, self.label, self.width = total, label, width
        self.stream = stream or sys.stderr
        self._last = 0.0

    def update(self, done: float, note: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        frac = min(max(done / max(self.total, 1), 0.0), 1.0)
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {frac:6.1%} {note}".ljust(80))
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def add_model_options(parser: argparse.ArgumentParser, model) -> None:
    """One --flag per field of a pydantic model, defaults and bounds from it."""
    for name, field in model.model_fields.items():
        flag = "--" + name.replace("_", "-")
        choices = get_args(field.annotation) or None
        if field.annotation is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction)
            continue
        help_text = f"{field.description or name} (default {field.default})"
        parser.add_argument(flag, dest=name, choices=choices, help=help_text)


def model_from_args(model, args: argparse.Namespace):
    given = {k: v for k, v in vars(args).items() if k in model.model_fields and v is not None}
    try:
        return model.model_validate(given)
    except ValidationError as err:
        first = err.errors()[0]
        field = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "options"
        raise SystemExit(f"residual-lab: error: {field}: {first['msg']}") from None


class _CliSink:
    def __init__(self, bar: ProgressBar):
        self.bar = bar

    def on_start(self, trainer) -> None:
        pass

    def on_record(self, step, rows, steps_per_second) -> None:
        losses = "  ".join(f"{k} {r['train_loss']:.3f}" for k, r in rows.items())
        self.bar.update(step, f"{steps_per_second:5.0f} steps/s  loss {losses}")

    def on_surface(self, step, surfaces) -> None:
        pass


def cmd_train(args: argparse.Namespace) -> int:
    """Train the paired run the page would, without a browser."""
    from .core.training import run_paired

    config = model_from_args(RunConfig, args)
    bar = ProgressBar(config.steps, "training")
    result = run_paired(config, _CliSink(bar))
    bar.update(result.steps, result.reason, force=True)
    bar.close()
    for kind, h in result.histories.items():
        if h.train_loss:
            log.info("%s: final train loss %.4f", kind, h.train_loss[-1])
    if result.detail:
        log.warning("%s", result.detail)
    if args.json:
        report = {
            "config": config.model_dump(),
            "reason": result.reason,
            "final": result.final,
            "runs": [{"kind": k, "history": h.as_dict()} for k, h in result.histories.items()],
        }
        with open(args.json, "w") as f:
            json.dump(report, f)
        log.info("wrote %s", args.json)
    return 0 if result.reason == "completed" else 1


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the web app with uvicorn."""
    import uvicorn

    uvicorn.run(
        "app.web.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        # Pings detect dead clients and keep proxies from closing idle sockets.
        ws_ping_interval=15,
        ws_ping_timeout=15,
        ws_max_size=65_536,
        server_header=False,  # no version banner
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="residual-lab", description=__doc__)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the web app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=cmd_serve)

    train = sub.add_parser("train", help="train a plain and a residual network headless")
    add_model_options(train, RunConfig)
    train.add_argument("--json", metavar="PATH", help="write config and histories here")
    train.set_defaults(func=cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
