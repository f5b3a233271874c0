"""The paper lab's presets: each reproduces the result its card states.

Every check is seeded and small, and asks for the stated direction with a
clear margin, not for exact numbers.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from pydantic import ValidationError

from app.core.models import ResNet
from app.core.presets import PRESETS, get, run_preset
from app.core.presets.loss_surface import filter_normalised_direction, roughness

ALL = sorted(PRESETS)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One core, as the budget is stated; small nets only lose from more threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run(name: str, **options) -> dict:
    return run_preset(name, options)


# --- the registry and the shared contract ------------------------------------


def test_registry_has_every_classic_experiment():
    expected = {"identity", "degradation", "gradient-flow", "shortcuts", "lesion"}
    assert expected | {"loss-surface", "shattered"} == set(PRESETS)


@pytest.mark.parametrize("name", ALL)
def test_card_describes_itself_with_bounded_options(name):
    card = PRESETS[name].describe()

    assert card["name"] == name
    for key in ("title", "paper", "explanation", "expected", "measure"):
        assert len(card[key]) > 10, key
    props = card["options"]["properties"]
    assert "seed" in props
    numeric = [p for p in props.values() if p.get("type") in ("integer", "number")]
    assert numeric and all("maximum" in p for p in numeric)
    json.dumps(card)


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(ValueError, match="identity"):
        get("no-such-preset")


def test_out_of_range_option_is_rejected_naming_the_field():
    with pytest.raises(ValidationError) as err:
        run_preset("degradation", {"depths": [2, 500]})
    assert err.value.errors()[0]["loc"][0] == "depths"


def test_report_gets_rising_fractions_and_figures():
    calls = []
    result = run_preset(
        "identity",
        {"depths": [1, 2], "steps": 20},
        report=lambda frac, label, figures=None: calls.append((frac, label, figures)),
    )

    fractions = [c[0] for c in calls]
    assert fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] == 1.0
    assert any(c[2] for c in calls)  # partial figures while it runs
    assert set(result["figures"]) == {"error_vs_depth", "curves"}
    json.dumps(result, allow_nan=False)


def test_checkpoint_that_raises_stops_the_run():
    class Stop(Exception):
        pass

    count = 0

    def checkpoint():
        nonlocal count
        count += 1
        if count > 5:
            raise Stop

    with pytest.raises(Stop):
        run_preset("degradation", {"depths": [2, 4], "steps": 50}, checkpoint=checkpoint)


# --- the maths behind the measures ------------------------------------------


def test_filter_normalised_direction_matches_each_row_norm():
    torch.manual_seed(0)
    net = ResNet(2, 2, depth=2, width=8)
    direction = filter_normalised_direction(net, torch.Generator().manual_seed(1))

    for p, d in zip(net.parameters(), direction, strict=True):
        if p.dim() < 2:
            assert d.abs().sum() == 0  # biases are not moved (Li et al. 2018)
        else:
            torch.testing.assert_close(d.flatten(1).norm(dim=1), p.detach().flatten(1).norm(dim=1))


def test_roughness_of_a_bowl_is_low_and_of_noise_high():
    axis = torch.linspace(-1, 1, 21)
    bowl = (axis[:, None] ** 2 + axis[None, :] ** 2).tolist()
    noise = torch.rand(21, 21, generator=torch.Generator().manual_seed(0)).tolist()

    smooth, rough = roughness(bowl), roughness(noise)

    assert smooth["ratio"] < 0.3 and smooth["minima"] == 1
    assert rough["ratio"] > 1.2 and rough["minima"] > 10


# --- each card's claim, small and seeded --------------------------------------


def test_identity_residual_error_is_100x_below_plain_from_depth_10():
    m = run("identity", depths=[2, 10], steps=300)["measures"]

    assert m["plain_mse"][1] > 0.5  # the deep plain stack never finds x
    assert m["residual_mse"][1] < 0.01
    assert m["min_ratio_at_depth_10_plus"] > 100


def test_degradation_deep_plain_trains_worse_than_shallow_plain_and_residual():
    m = run("degradation", depths=[2, 20], steps=300)["measures"]
    shallow, deep = m["plain_loss"]

    assert deep > shallow + 0.3  # degradation: more depth, higher *training* loss
    assert deep > 5 * m["residual_loss"][1]
    assert m["residual_loss"][1] < 0.2


def test_gradient_at_first_unit_of_deep_plain_is_orders_below_residual():
    m = run("gradient-flow", depth=20, steps=60)["measures"]

    assert m["first_unit_grad_ratio"] > 1e3


def test_shortcut_variants_rank_as_the_card_says():
    variants = ["plain", "identity", "scaled", "rezero", "preact"]
    m = run("shortcuts", variants=variants, depth=20, steps=300)["measures"]

    for good in ("identity", "rezero", "preact"):
        assert m[f"final_loss_{good}"] < 0.3, good
    assert m["final_loss_plain"] > 0.6
    assert m["final_loss_scaled"] > 2 * m["final_loss_identity"]


def test_lesion_costs_plain_far_more_accuracy_than_residual():
    m = run("lesion", depth=10, steps=300)["measures"]

    assert m["intact_accuracy_plain"] > 0.85  # it trained, so a drop means something
    assert m["mean_drop_plain"] > 0.25
    assert m["mean_drop_plain"] > 3 * m["mean_drop_residual"]


def test_plain_loss_slice_is_rougher_than_residual():
    m = run("loss-surface", depth=20, steps=200, side=15)["measures"]

    assert m["roughness_plain"] > 1.5 * m["roughness_residual"]
    assert m["local_minima_plain"] > m["local_minima_residual"]


def test_plain_input_gradients_shatter_and_residual_ones_stay_correlated():
    m = run("shattered", depths=[1, 10], repeats=2)["measures"]

    assert m["correlation_plain"][0] > 0.7 and m["correlation_residual"][0] > 0.7
    assert abs(m["correlation_plain"][1]) < 0.15  # white noise
    assert m["correlation_residual"][1] > m["correlation_plain"][1] + 0.2


def test_figures_hold_finite_json_numbers():
    result = run("shattered", depths=[1, 2], repeats=1, points=32)

    text = json.dumps(result, allow_nan=False)
    assert "NaN" not in text
    for fig in result["figures"].values():
        for s in fig["series"]:
            assert len(s["x"]) == len(s["y"])
            assert all(v is None or math.isfinite(v) for v in s["y"])
