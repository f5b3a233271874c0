"""Paired training: a plain and a residual network, same init, same batches.

`PairedTrainer` owns both networks and their optimisers; `run_paired` drives
it for a whole run and reports to a sink, so the command line and the web
socket share one loop. Nothing here knows about the web.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from .config import RunConfig
from .data import Dataset, load
from .fused import FusedPair, supports
from .models import ResNet, paired_networks

KINDS = ("plain", "residual")
MAX_RECORDS = 300  # history rows per run; longer runs record every k-th step
SURFACE_SIDE = 50  # decision-surface grid: SURFACE_SIDE x SURFACE_SIDE points
SURFACE_SPAN = 1.5  # the grid covers [-span, span]^2
SURFACE_INTERVAL_S = 0.25
# The step schedule of He et al. 2015 (Sec. 4.2), shortened to one drop: the
# rate falls tenfold for the last quarter, so a run does not end on a spike.
LR_DROP_AT = 0.75


@dataclass
class History:
    """What a network did, one row per recorded step."""

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float | None] = field(default_factory=list)
    grad_norms: list[list[float]] = field(default_factory=list)

    def row(self, i: int) -> dict:
        return {
            "step": self.step[i],
            "train_loss": self.train_loss[i],
            "train_accuracy": self.train_accuracy[i],
            "test_accuracy": self.test_accuracy[i],
            "grad_norms": self.grad_norms[i],
        }

    def as_dict(self) -> dict:
        """The curves, as `residual-lab train --json` writes them."""
        return {
            "step": self.step,
            "train_loss": self.train_loss,
            "train_accuracy": self.train_accuracy,
            "test_accuracy": self.test_accuracy,
        }


class Diverged(Exception):
    def __init__(self, kind: str, step: int):
        super().__init__(f"the {kind} network's loss became non-finite at step {step}")
        self.kind, self.step = kind, step


def grad_norms(net: ResNet) -> list[float]:
    """The gradient's 2-norm per layer group (stem, units, head), one sync."""
    groups = net.layer_groups()  # cached by the network
    flat = [p.grad for _, params in groups for p in params if p.grad is not None]
    norms = torch.stack(torch._foreach_norm(flat)).pow(2) if flat else torch.zeros(0)
    sums, i = [], 0
    for _, params in groups:
        n = sum(p.grad is not None for p in params)
        sums.append(norms[i : i + n].sum())
        i += n
    return torch.stack(sums).sqrt().tolist()


def make_optimizer(name: str, module: nn.Module, lr: float) -> torch.optim.Optimizer:
    # PyTorch's CPU default loops over the tensors in Python, which dominates
    # a step of a small network: Adam's fused kernel and SGD's foreach don't.
    if name == "sgd":
        return torch.optim.SGD(module.parameters(), lr=lr, momentum=0.9, foreach=True)
    return torch.optim.Adam(module.parameters(), lr=lr, fused=True)


class Trainer:
    """Trains several networks on the same batches of one data set.

    Every network sees the same batch at every step, so runs differ only in
    their networks. A plain/residual pair of dense networks trains as one
    batched computation (fused.py); any other set, one network at a time.
    Integer targets are classes (cross-entropy), float targets regression (MSE).
    """

    def __init__(
        self,
        nets: dict[str, nn.Module],
        x: torch.Tensor,
        y: torch.Tensor,
        lr: float,
        batch_size: int,
        seed: int,
        optimizer: str = "adam",
        stop_on_divergence: bool = False,
        fuse: bool = True,
    ):
        self.nets, self.x, self.y = nets, x, y
        self.batch_size = min(batch_size, len(x))
        self.regression = y.dtype.is_floating_point
        self.stop_on_divergence = stop_on_divergence

        pair = tuple(nets.values())
        self.fused = None
        pairs = tuple(nets) == KINDS and all(isinstance(n, ResNet) for n in pair)
        if fuse and pairs and supports(*pair):
            self.fused = FusedPair(*pair).to(x.device)
        modules = {"pair": self.fused} if self.fused is not None else nets
        self.optimizers = {k: make_optimizer(optimizer, m, lr) for k, m in modules.items()}

        # One generator draws the batches; every network gets each batch.
        self._batches = torch.Generator().manual_seed(seed)
        self._order = torch.empty(0, dtype=torch.long)
        self.step_count = 0
        self.grad_norms: dict[str, list[float]] = {}  # of the last step that asked

    def next_batch(self) -> torch.Tensor:
        n = len(self.x)
        if len(self._order) < self.batch_size:  # a fresh epoch: a new permutation
            self._order = torch.randperm(n, generator=self._batches)
        idx, self._order = self._order[: self.batch_size], self._order[self.batch_size :]
        return idx.to(self.x.device)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(out, y) if self.regression else F.cross_entropy(out, y)

    def step(self, with_grads: bool = False) -> dict[str, dict]:
        """One step of every network on one shared batch.

        Returns {kind: {"loss", "accuracy" (classes only), "grad_norms" (if
        asked: per layer, stem to head)}}. A non-finite loss raises Diverged
        when `stop_on_divergence`; otherwise that network stops moving.
        """
        idx = self.next_batch()
        x, y = self.x[idx], self.y[idx]
        self.step_count += 1
        if self.fused is not None:
            results = self._fused_step(x, y, with_grads)
        else:
            results = {kind: self._net_step(kind, x, y, with_grads) for kind in self.nets}
        if with_grads:
            self.grad_norms = {k: r["grad_norms"] for k, r in results.items()}
        return results

    def _result(self, kind: str, loss: float, out, y) -> dict:
        if not math.isfinite(loss) and self.stop_on_divergence:
            raise Diverged(kind, self.step_count)
        result = {"loss": loss}
        if not self.regression:
            result["accuracy"] = _accuracy(out, y)
        return result

    def _net_step(self, kind: str, x, y, with_grads: bool) -> dict:
        net, opt = self.nets[kind], self.optimizers[kind]
        opt.zero_grad(set_to_none=True)
        out = net(x)
        loss = self.loss(out, y)
        loss.backward()

        result = self._result(kind, float(loss.detach()), out, y)
        if with_grads:
            result["grad_norms"] = grad_norms(net)
        if math.isfinite(result["loss"]):  # a diverged network stops moving
            opt.step()
        return result

    def _fused_step(self, x, y, with_grads: bool) -> dict[str, dict]:
        opt = self.optimizers["pair"]
        opt.zero_grad(set_to_none=True)
        out = self.fused(x)  # (2, batch, outputs)
        losses = torch.stack([self.loss(o, y) for o in out])  # each network's mean
        losses.sum().backward()  # the sum keeps the two gradients apart

        values = losses.tolist()
        norms = self.fused.grad_norms().tolist() if with_grads else None
        results = {}
        for k, kind in enumerate(KINDS):
            results[kind] = self._result(kind, values[k], out[k], y)
            if norms is not None:
                results[kind]["grad_norms"] = norms[k]
        # Adam is elementwise: a diverged network's NaNs stay in its own half.
        opt.step()
        return results

    def scale_learning_rate(self, factor: float) -> None:
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] *= factor

    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every network's output on `x`, in evaluation mode."""
        return predict(self.nets, self.fused, x)

    def evaluate(self, x: torch.Tensor | None = None, y: torch.Tensor | None = None) -> dict:
        """Loss (and accuracy for classes) of every network on a whole set."""
        x = self.x if x is None else x
        y = self.y if y is None else y
        out = {}
        for kind, pred in self.predict(x).items():
            out[kind] = {"loss": float(self.loss(pred, y))}
            if not self.regression:
                out[kind]["accuracy"] = _accuracy(pred, y)
        return out

    def sync(self) -> None:
        """Bring the modules up to date with the fused weights, if fused."""
        if self.fused is not None:
            self.fused.write_back()


class PairedTrainer:
    """A paired run of the lab: its data, its two networks and their trainer."""

    def __init__(self, config: RunConfig, data: Dataset | None = None, device: str = "cpu"):
        self.config = config
        self.device = torch.device(device)
        self.data = data or load(config.dataset, config.points, config.noise, config.seed)
        data = self.data
        plain, residual = paired_networks(
            config.seed,
            data.in_features,
            data.classes,
            config.depth,
            config.width,
            config.unit_spec(),
            conv=config.uses_conv(),
            image_side=data.image_side or 8,
        )
        self.nets = {"plain": plain.to(self.device), "residual": residual.to(self.device)}
        self.layer_names = [name for name, _ in residual.layer_groups()]
        self.x_test = data.x_test.to(self.device)
        self.y_test = data.y_test.to(self.device)
        self.engine = Trainer(
            self.nets,
            data.x_train.to(self.device),
            data.y_train.to(self.device),
            config.learning_rate,
            config.batch_size,
            config.seed,
            config.optimizer,
            stop_on_divergence=True,
        )

    @property
    def step_count(self) -> int:
        return self.engine.step_count

    def step(self, with_grads: bool = False) -> dict[str, dict]:
        """One optimisation step of both networks on one shared batch."""
        return self.engine.step(with_grads)

    def sync(self) -> None:
        self.engine.sync()

    def evaluate(self, split: str = "test") -> dict[str, dict]:
        """Whole-set loss and accuracy of both networks on `split`."""
        if split == "test":
            return self.engine.evaluate(self.x_test, self.y_test)
        return self.engine.evaluate()

    def surfaces(self, side: int = SURFACE_SIDE) -> dict[str, list[list[float]]]:
        """P(class 1) of each network over a side x side grid of the input plane."""
        axis = torch.linspace(-SURFACE_SPAN, SURFACE_SPAN, side)
        gy, gx = torch.meshgrid(axis, axis, indexing="ij")
        grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).to(self.device)
        return {
            kind: torch.softmax(logits, 1)[:, 1].reshape(side, side).cpu().tolist()
            for kind, logits in self.engine.predict(grid).items()
        }


@torch.no_grad()
def predict(nets: dict[str, ResNet], fused: FusedPair | None, x) -> dict[str, torch.Tensor]:
    """Every network's output on `x` in evaluation mode (batch norm frozen)."""
    if fused is not None:
        return dict(zip(KINDS, fused(x), strict=True))
    out = {}
    for kind, net in nets.items():
        net.eval()
        out[kind] = net(x)
        net.train()
    return out


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y).float().mean())


class Sink(Protocol):
    """Where a run reports; every method is called from the training thread."""

    def on_start(self, trainer: PairedTrainer) -> None: ...
    def on_record(self, step: int, rows: dict[str, dict], steps_per_second: float) -> None: ...
    def on_surface(self, step: int, surfaces: dict) -> None: ...


class Control(Protocol):
    """Lets the caller pause or stop a run between steps."""

    def wait_if_paused(self) -> None: ...
    def stop_requested(self) -> bool: ...


class _NoControl:
    def wait_if_paused(self) -> None:
        pass

    def stop_requested(self) -> bool:
        return False


@dataclass
class RunResult:
    reason: str  # "completed", "stopped" or "diverged"
    steps: int
    histories: dict[str, History]
    final: dict[str, dict] | None = None  # full train/test metrics at the end
    detail: str = ""
    seconds: float = 0.0
    diverged: dict | None = None  # {"network": kind, "step": n}


def record_interval(steps: int) -> int:
    return max(1, math.ceil(steps / MAX_RECORDS))


def run_paired(
    config: RunConfig,
    sink: Sink | None = None,
    control: Control | None = None,
    trainer: PairedTrainer | None = None,
) -> RunResult:
    """Train both networks for `config.steps` steps, reporting as it goes."""
    trainer = trainer or PairedTrainer(config)
    control = control or _NoControl()
    every = record_interval(config.steps)
    test_every = max(every, config.steps // 50)
    surface_every = max(1, config.steps // 40) if trainer.data.is_2d else 0
    drop_step = int(config.steps * LR_DROP_AT)
    histories = {k: History() for k in KINDS}
    sums = {k: [0.0, 0.0, 0] for k in KINDS}  # loss, accuracy, count since last row
    if sink:
        sink.on_start(trainer)

    started = time.perf_counter()
    last_surface = -math.inf
    window = (started, 0)  # steps per second over the last recorded interval
    reason, detail, diverged = "completed", "", None
    for step in range(1, config.steps + 1):
        control.wait_if_paused()
        if control.stop_requested():
            reason = "stopped"
            break
        if config.schedule == "step" and step == drop_step:
            trainer.engine.scale_learning_rate(0.1)
        recording = step % every == 0 or step == config.steps or step == 1
        try:
            result = trainer.step(with_grads=recording)
        except Diverged as err:
            reason, detail = "diverged", str(err)
            diverged = {"network": err.kind, "step": err.step}
            break
        for kind, r in result.items():
            s = sums[kind]
            s[0] += r["loss"]
            s[1] += r["accuracy"]
            s[2] += 1

        if recording:
            now = time.perf_counter()
            sps = (step - window[1]) / max(now - window[0], 1e-9)
            window = (now, step)
            test = (
                trainer.evaluate("test") if step % test_every == 0 or step == config.steps else None
            )
            rows = {}
            for kind, h in histories.items():
                loss, acc, n = sums[kind]
                h.step.append(step)
                h.train_loss.append(loss / n)
                h.train_accuracy.append(acc / n)
                h.test_accuracy.append(test[kind]["accuracy"] if test else None)
                h.grad_norms.append(result[kind]["grad_norms"])
                rows[kind] = h.row(len(h.step) - 1)
                sums[kind] = [0.0, 0.0, 0]
            if sink:
                sink.on_record(step, rows, sps)

        # Surfaces are for the eye: at most a few a second, whatever the speed.
        if surface_every and sink and (step % surface_every == 0 or step == config.steps):
            now = time.perf_counter()
            if now - last_surface >= SURFACE_INTERVAL_S or step == config.steps:
                sink.on_surface(step, trainer.surfaces())
                last_surface = now

    trainer.sync()
    final = None
    if reason != "diverged":
        final = {"train": trainer.evaluate("train"), "test": trainer.evaluate("test")}
    elapsed = time.perf_counter() - started
    return RunResult(reason, trainer.step_count, histories, final, detail, elapsed, diverged)
