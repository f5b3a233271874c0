"""Data sets: seeded 2-D point clouds and the bundled handwritten digits.

Everything is generated or read locally; nothing is downloaded.
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

DIGITS_PATH = Path(__file__).resolve().parent.parent / "data" / "digits.csv.gz"
TWO_D = ("spiral", "moons", "circles", "xor", "gaussians")
DATASETS = TWO_D + ("digits",)


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: torch.Tensor  # (n_train, features)
    y_train: torch.Tensor  # (n_train,) int64 class labels
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: int
    image_side: int | None = None  # 8 for the digits, None for 2-D points

    @property
    def in_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def is_2d(self) -> bool:
        return self.image_side is None


def _spiral(n, rng):
    # Two interleaved arms, each turning 1.75 times around the origin.
    t = np.sqrt(rng.uniform(0, 1, n)) * 3.5 * math.pi
    label = rng.integers(0, 2, n)
    angle = t + math.pi * label
    r = t / (3.5 * math.pi)
    return np.stack([r * np.cos(angle), r * np.sin(angle)], 1), label


def _moons(n, rng):
    label = rng.integers(0, 2, n)
    t = rng.uniform(0, math.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], 1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    x = np.where(label[:, None] == 0, upper, lower)
    return (x - [0.5, 0.25]) / 1.2, label


def _circles(n, rng):
    label = rng.integers(0, 2, n)
    t = rng.uniform(0, 2 * math.pi, n)
    r = np.where(label == 0, 0.9, 0.45)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1), label


def _xor(n, rng):
    x = rng.uniform(-1, 1, (n, 2))
    return x, ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)


def _gaussians(n, rng):
    # Four blobs on a square, two classes on the diagonals.
    label = rng.integers(0, 4, n)
    centres = np.array([[-0.5, -0.5], [0.5, 0.5], [-0.5, 0.5], [0.5, -0.5]])
    x = centres[label] + rng.normal(0, 0.2, (n, 2))
    return x, label // 2


_GENERATORS = {
    "spiral": _spiral,
    "moons": _moons,
    "circles": _circles,
    "xor": _xor,
    "gaussians": _gaussians,
}


def make_2d(
    name: str, n: int = 1000, noise: float = 0.1, seed: int = 0, test_fraction: float = 0.25
) -> Dataset:
    """A seeded 2-D set scaled to about [-1, 1]^2, split into train and test."""
    if name not in _GENERATORS:
        raise ValueError(f"unknown 2-D data set {name!r}; expected one of {TWO_D}")
    rng = np.random.default_rng(seed)
    x, y = _GENERATORS[name](n, rng)
    x = x + rng.normal(0, noise, x.shape)
    return _split(name, x, y, 2, test_fraction, rng)


@lru_cache(maxsize=1)
def _digits_array() -> np.ndarray:
    with gzip.open(DIGITS_PATH, "rt") as f:
        return np.loadtxt(f, delimiter=",", dtype=np.float32)  # (1797, 65)


def load_digits(seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """The 1,797 8x8 UCI digits, pixels scaled from 0..16 to 0..1."""
    raw = _digits_array()
    x, y = raw[:, :64] / 16.0, raw[:, 64].astype(np.int64)
    rng = np.random.default_rng(seed)
    return _split("digits", x, y, 10, test_fraction, rng, image_side=8)


def _split(name, x, y, classes, test_fraction, rng, image_side=None) -> Dataset:
    order = rng.permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    xs = torch.as_tensor(np.asarray(x, dtype=np.float32))
    ys = torch.as_tensor(np.asarray(y, dtype=np.int64))
    return Dataset(name, xs[train], ys[train], xs[test], ys[test], classes, image_side)


def load(name: str, n: int = 1000, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Any data set by name; `n` and `noise` apply to the 2-D sets only."""
    if name == "digits":
        return load_digits(seed)
    return make_2d(name, n, noise, seed)
