"""Trained networks kept after their run, for the views that look inside."""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..core.training import PairedTrainer


class RunStore:
    """The last `size` finished paired runs, by run id (least recent dropped)."""

    def __init__(self, size: int = 8):
        self.size = size
        self._runs: OrderedDict[str, PairedTrainer] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, run_id: str, trainer: PairedTrainer) -> None:
        trainer.engine.optimizers = {}  # optimiser state is not needed to look inside
        with self._lock:
            self._runs[run_id] = trainer
            self._runs.move_to_end(run_id)
            while len(self._runs) > self.size:
                self._runs.popitem(last=False)

    def get(self, run_id: str) -> PairedTrainer | None:
        with self._lock:
            trainer = self._runs.get(run_id)
            if trainer is not None:
                self._runs.move_to_end(run_id)
            return trainer

    def __len__(self) -> int:
        return len(self._runs)
