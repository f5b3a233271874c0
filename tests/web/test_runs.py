"""The store of finished runs: bounded by count and by bytes."""

from app.core.config import RunConfig
from app.core.training import PairedTrainer
from app.web.runs import KeptRun, RunStore


def trained(seed: int) -> PairedTrainer:
    return PairedTrainer(RunConfig(depth=2, width=8, steps=1, seed=seed, points=100))


def test_store_drops_the_least_recently_used_run_past_its_count():
    store = RunStore(max_runs=2)
    store.put("a", trained(0))
    store.put("b", trained(1))
    store.get("a")  # a is now the most recently used
    store.put("c", trained(2))

    assert store.get("a") is not None and store.get("c") is not None
    assert store.get("b") is None


def test_store_keeps_its_tensors_under_the_byte_budget():
    one = trained(0)
    size = KeptRun.of(one).footprint()
    store = RunStore(max_runs=100, max_bytes=int(2.5 * size))
    for i in range(5):
        store.put(str(i), trained(i))

    assert len(store) == 2
    assert size > 0 and store.get("4") is not None
