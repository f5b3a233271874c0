"""Paired training: same batches, reproducible, and the degradation it shows."""

import math

import pytest
import torch

from app.core.config import RunConfig
from app.core.training import KINDS, PairedTrainer, record_interval, run_paired


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def test_both_networks_see_the_same_batches_in_the_same_order():
    trainer = PairedTrainer(RunConfig(depth=2, steps=10, batch_size=100, points=400))
    batches = [trainer.engine.next_batch() for _ in range(4)]
    again = PairedTrainer(RunConfig(depth=2, steps=10, batch_size=100, points=400))

    assert all(torch.equal(a, again.engine.next_batch()) for a in batches)
    # 300 training points: one epoch is three batches, then a new permutation.
    assert sorted(torch.cat(batches[:3]).tolist()) == list(range(300))


def test_same_seed_and_settings_give_the_same_curves():
    config = RunConfig(depth=4, steps=30)
    a, b = run_paired(config), run_paired(config)

    for kind in KINDS:
        assert a.histories[kind].train_loss == b.histories[kind].train_loss


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_run_shows_the_plain_network_stall_and_the_residual_one_learn(seed):
    # The lab's default: 20 units of width 16 on the spiral, 600 steps.
    result = run_paired(RunConfig(seed=seed))
    final = result.final["train"]

    assert result.reason == "completed"
    assert final["plain"]["loss"] > 0.6  # near ln 2: chance level
    assert final["residual"]["loss"] < 0.05  # the brief's small-scale figure
    assert final["residual"]["accuracy"] > 0.95


def test_step_schedule_drops_the_rate_tenfold_for_the_last_quarter():
    config = RunConfig(depth=2, steps=8, schedule="step")
    trainer = PairedTrainer(config)
    run_paired(config, trainer=trainer)
    constant = PairedTrainer(config.model_copy(update={"schedule": "constant"}))
    run_paired(constant.config, trainer=constant)

    (group,) = trainer.engine.optimizers["pair"].param_groups
    assert group["lr"] == pytest.approx(config.learning_rate / 10)
    assert constant.engine.optimizers["pair"].param_groups[0]["lr"] == config.learning_rate


def test_history_records_every_layer_and_finite_values():
    config = RunConfig(depth=3, steps=20)
    result = run_paired(config)
    history = result.histories["residual"]

    assert history.step[0] == 1 and history.step[-1] == 20
    assert len(history.grad_norms[-1]) == 3 + 2
    assert all(math.isfinite(v) for v in history.train_loss)
    assert history.test_accuracy[-1] is not None


def test_long_runs_are_thinned_to_a_bounded_history():
    assert record_interval(100) == 1
    assert record_interval(100_000) * 300 >= 100_000


def test_a_diverging_run_stops_and_names_the_network_and_step():
    config = RunConfig(depth=30, steps=200, learning_rate=10, optimizer="sgd")
    result = run_paired(config)

    assert result.reason == "diverged"
    assert result.diverged["network"] in KINDS and result.diverged["step"] >= 1
    assert "non-finite" in result.detail


def test_stop_request_ends_the_run_between_steps():
    class StopAfter:
        def __init__(self):
            self.calls = 0

        def wait_if_paused(self):
            self.calls += 1

        def stop_requested(self):
            return self.calls > 5

    result = run_paired(RunConfig(depth=2, steps=1000), control=StopAfter())

    assert result.reason == "stopped" and result.steps == 5


def test_digits_train_with_conv_units():
    config = RunConfig(dataset="digits", depth=2, width=8, steps=80, learning_rate=0.01)
    trainer = PairedTrainer(config)
    result = run_paired(config, trainer=trainer)

    assert trainer.nets["residual"].conv
    assert result.final["train"]["residual"]["accuracy"] > 0.4  # chance is 1 in 10
