"""Trained networks kept after their run, for the views that look inside."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from torch import nn

from ..core.config import RunConfig
from ..core.data import Dataset
from ..core.training import PairedTrainer

MAX_RUNS = 200
MAX_BYTES = 512 * 2**20  # weights and data of the kept runs together


def new_run_id() -> str:
    """Unguessable and never reused: a link opens its own run or none."""
    return f"run-{secrets.token_urlsafe(9)}"


@dataclass(frozen=True)
class KeptRun:
    """What the views need of a finished run: no optimiser, no training copy."""

    config: RunConfig
    data: Dataset
    nets: dict[str, nn.Module]

    @classmethod
    def of(cls, trainer: PairedTrainer) -> KeptRun:
        trainer.sync()  # the modules hold the trained weights
        for net in trainer.nets.values():
            net.zero_grad(set_to_none=True)
            net.eval()
        return cls(trainer.config, trainer.data, dict(trainer.nets))

    def footprint(self) -> int:
        """Bytes it holds: both networks' tensors and its data."""
        tensors = [t for net in self.nets.values() for t in net.state_dict().values()]
        data = self.data
        tensors += [data.x_train, data.y_train, data.x_test, data.y_test]
        return sum(t.numel() * t.element_size() for t in tensors)


class RunStore:
    """Finished paired runs by run id; the least recently used go first once
    `max_runs` runs or `max_bytes` of tensors are kept."""

    def __init__(self, max_runs: int = MAX_RUNS, max_bytes: int = MAX_BYTES):
        self.max_runs, self.max_bytes = max_runs, max_bytes
        self._runs: OrderedDict[str, tuple[KeptRun, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, run_id: str, trainer: PairedTrainer) -> None:
        kept = KeptRun.of(trainer)
        size = kept.footprint()
        with self._lock:
            self._runs[run_id] = (kept, size)
            self._bytes += size
            while len(self._runs) > self.max_runs or self._bytes > self.max_bytes:
                _, (_, dropped) = self._runs.popitem(last=False)
                self._bytes -= dropped

    def get(self, run_id: str) -> KeptRun | None:
        with self._lock:
            entry = self._runs.get(run_id)
            if entry is None:
                return None
            self._runs.move_to_end(run_id)
            return entry[0]

    def __len__(self) -> int:
        return len(self._runs)
