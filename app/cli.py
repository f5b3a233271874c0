"""The `residual-lab` command: serve the app, or train a paired run headless."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
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
        parser.add_argument(
            flag,
            dest=name,
            choices=choices,
            type=field.annotation if field.annotation in (int, float) else None,
            help=_help(name, field),
        )


def _help(name: str, field) -> str:
    """The field's description, bounds and default, as --help shows them."""
    bounds = []
    for rule in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(rule, attr, None) is not None:
                bounds.append(f"{sign} {getattr(rule, attr)}")
    text = field.description or name.replace("_", " ")
    if bounds:
        text += f"; {', '.join(bounds)}"
    return f"{text} (default {field.default})"


def model_from_args(model, args: argparse.Namespace, parser: argparse.ArgumentParser):
    """The options as `model`; a bad one ends like argparse's own errors."""
    given = {k: v for k, v in vars(args).items() if k in model.model_fields and v is not None}
    try:
        return model.model_validate(given)
    except ValidationError as err:
        from .web.errors import sentence  # the wording every client gets

        first = err.errors()[0]
        field = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "options"
        parser.error(f"{field}: {sentence(first)}")


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

    config = model_from_args(RunConfig, args, args.parser)
    check_writable(args.json, args.parser)
    bar = ProgressBar(config.steps, "training")
    result = run_paired(config, _CliSink(bar))
    bar.update(result.steps, result.reason, force=True)
    bar.close()
    if result.final:
        for kind, m in result.final["train"].items():
            log.info("%s: training loss %.4f, accuracy %.3f", kind, m["loss"], m["accuracy"])
    if result.detail:
        log.warning("%s", result.detail)
    if args.json:
        report = {
            "config": config.model_dump(),
            "reason": result.reason,
            "final": result.final,
            "runs": [{"kind": k, "history": h.as_dict()} for k, h in result.histories.items()],
        }
        write_json(args.json, report)
    return 0 if result.reason == "completed" else 1


def check_writable(path: str | None, parser: argparse.ArgumentParser) -> None:
    """Fail before a long run, not after it, when its report cannot be written."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir() or not target.parent.is_dir() or not os.access(target.parent, os.W_OK):
        parser.error(f"--json: cannot write {path}")


def write_json(path: str, report: dict) -> None:
    from .web.jobs import json_safe  # NaN and infinities become null

    with open(path, "w") as f:
        json.dump(json_safe(report), f, allow_nan=False)
    log.info("wrote %s", path)


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


# --- residual-lab run PRESET: the paper lab's experiments, headless ---------


def _list_of(item_type):
    """An argparse type for `--depths 4,8,16` style lists."""

    def parse(text: str) -> list:
        try:
            return [item_type(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a comma-separated list: {text!r}") from None

    return parse


def preset_parser(name: str, preset) -> argparse.ArgumentParser:
    """One --flag per field of the preset's options model, bounds in the help."""
    parser = argparse.ArgumentParser(prog=f"residual-lab run {name}", description=preset.title)
    parser.add_argument("--json", metavar="PATH", help="write preset, options and figures here")
    schema = preset.options.model_json_schema()["properties"]
    for field, prop in schema.items():
        flag = "--" + field.replace("_", "-")
        default = prop.get("default")
        if prop.get("type") == "boolean":
            parser.add_argument(flag, dest=field, action=argparse.BooleanOptionalAction)
            continue
        help_text = f"{prop.get('description', field)} (default {default})"
        if prop.get("type") == "array":
            item = int if prop["items"].get("type") == "integer" else str
            parser.add_argument(flag, dest=field, type=_list_of(item), help=help_text)
            continue
        kind = {"integer": int, "number": float}.get(prop.get("type"), str)
        parser.add_argument(flag, dest=field, type=kind, choices=prop.get("enum"), help=help_text)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    """Run one paper-lab preset with a progress bar; optionally write its data."""
    from .core.presets import PRESETS

    if args.list or not args.preset:
        for name, preset in PRESETS.items():
            sys.stdout.write(f"{name:15} {preset.title}\n")
        return 0 if args.list else 2
    if args.preset not in PRESETS:
        known = ", ".join(PRESETS)
        raise SystemExit(f"residual-lab: error: unknown preset {args.preset!r}; known: {known}")

    preset = PRESETS[args.preset]
    parser = preset_parser(args.preset, preset)
    parsed = parser.parse_args(args.options)
    options = model_from_args(preset.options, parsed, parser)
    check_writable(parsed.json, parser)
    return _run_preset(args.preset, preset, options, parsed.json)


def _run_preset(name: str, preset, options, json_path: str | None) -> int:
    bar = ProgressBar(1000, name)
    log.info("preset %s started: %s", name, options.model_dump_json())
    started = time.perf_counter()

    def report(fraction: float, label: str, figures=None) -> None:
        bar.update(fraction * 1000, label)

    result = preset.run(options, report, lambda: None)
    bar.update(1000, "done", force=True)
    bar.close()
    log.info("preset %s completed in %.1f s", name, time.perf_counter() - started)
    for key, value in result["measures"].items():
        log.info("  %s: %s", key, value)
    if json_path:
        write_json(json_path, {"preset": name, "options": options.model_dump(), **result})
    return 0


def add_run_command(sub) -> None:
    run = sub.add_parser("run", help="run a paper-lab preset (residual-lab run --list)")
    run.add_argument("--list", action="store_true", help="name the presets and exit")
    run.add_argument("preset", nargs="?", help="the preset to run")
    run.add_argument("options", nargs=argparse.REMAINDER, help="--option value ... --json PATH")
    run.set_defaults(func=cmd_run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="residual-lab", description=__doc__)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the web app")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.set_defaults(func=cmd_serve)

    train = sub.add_parser("train", help="train a plain and a residual network headless")
    add_model_options(train, RunConfig)
    train.add_argument("--json", metavar="PATH", help="write config and histories here")
    train.set_defaults(func=cmd_train, parser=train)
    add_run_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
