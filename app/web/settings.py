"""Server settings, read once from RESIDUAL_LAB_* environment variables."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field


def available_cpus() -> int:
    """CPUs this process may use: affinity mask and cgroup quota included."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


class Settings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_running: int = Field(default_factory=available_cpus, ge=1, le=256)
    max_queued: int = Field(64, ge=0, le=10_000)
    torch_threads: int = Field(1, ge=1, le=256, description="intra-op threads, shared by runs")
    quantum_s: float = Field(20.0, ge=1, le=3600, description="turn length while others wait")
    kept_runs: int = Field(200, ge=0, le=10_000, description="finished runs kept to look inside")
    pause_limit_s: float = Field(300.0, ge=1, le=86_400, description="a pause ends the run after")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    log_level: str = Field("info", pattern=r"^(debug|info|warning|error)$")

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        values = {}
        for name in cls.model_fields:
            raw = os.environ.get(f"RESIDUAL_LAB_{name.upper()}")
            if raw is not None:
                values[name] = raw
        values.update(overrides)
        return cls(**values)

    def torch_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
