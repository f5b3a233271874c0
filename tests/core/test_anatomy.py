"""Block anatomy maths: checked against hand-computed values and identities."""

from __future__ import annotations

import pytest
import torch

from app.core import anatomy
from app.core.models import ResNet, UnitSpec

ZERO = dict(w1=[[0, 0], [0, 0]], b1=[0, 0], w2=[[0, 0], [0, 0]], b2=[0, 0])

# A worked example, computed by hand (see the comment of each point below).
W1 = [[1.0, 2.0], [0.0, -1.0]]
B1 = [0.0, 0.5]
W2 = [[1.0, 0.0], [1.0, 1.0]]
B2 = [-1.0, 0.0]
POINTS = [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [2.0, -1.0]]
# x = (1, 0):   W1x+b1 = (1, 0.5),  ReLU (1, 0.5), F = (1, 1.5)-(1, 0) = (0, 1.5)
# x = (0, 1):   W1x+b1 = (2, -0.5), ReLU (2, 0),   F = (2, 2)-(1, 0)   = (1, 2)
# x = (-1, -1): W1x+b1 = (-3, 1.5), ReLU (0, 1.5), F = (0, 1.5)-(1, 0) = (-1, 1.5)
# x = (2, -1):  W1x+b1 = (0, 1.5),  ReLU (0, 1.5), F = (-1, 1.5)
HAND_WEIGHT1 = [[1.0, 0.5], [2.0, -0.5], [-3.0, 1.5], [0.0, 1.5]]
HAND_RELU = [[1.0, 0.5], [2.0, 0.0], [0.0, 1.5], [0.0, 1.5]]
HAND_F = [[0.0, 1.5], [1.0, 2.0], [-1.0, 1.5], [-1.0, 1.5]]
HAND_SUM = [[1.0, 1.5], [1.0, 3.0], [-2.0, 0.5], [1.0, 0.5]]  # x + F
HAND_OUT = [[1.0, 1.5], [1.0, 3.0], [0.0, 0.5], [1.0, 0.5]]  # ReLU(x + F)
HAND_PLAIN_OUT = [[0.0, 1.5], [1.0, 2.0], [0.0, 1.5], [0.0, 1.5]]  # ReLU(F)


def taps_of(choice, weights=ZERO, alpha=1.0, x=None, depth=1):
    unit = anatomy.hand_unit(**weights, choice=choice, alpha=alpha)
    x = anatomy.grid_points(50, 1.5) if x is None else x
    return x, anatomy.unit_anatomy(unit, x, depth)


def hand_weights():
    return dict(w1=W1, b1=B1, w2=W2, b2=B2)


def test_zero_weights_preact_passes_x_exactly():
    x, taps = taps_of("preact")

    assert torch.equal(taps["f"], torch.zeros_like(x))
    assert torch.equal(taps["out"], x)


def test_zero_weights_residual_gives_relu_of_x():
    x, taps = taps_of("residual")

    assert torch.equal(taps["sum"], x)
    assert torch.equal(taps["out"], torch.relu(x))


def test_zero_weights_plain_collapses_every_point_to_zero():
    x, taps = taps_of("plain")

    assert torch.equal(taps["out"], torch.zeros_like(x))


def test_hand_example_residual_matches_hand_computed_values():
    x = torch.tensor(POINTS)
    _, taps = taps_of("residual", hand_weights(), x=x)

    assert taps["weight1"].tolist() == HAND_WEIGHT1
    assert taps["relu"].tolist() == HAND_RELU
    assert taps["f"].tolist() == HAND_F
    assert taps["sum"].tolist() == HAND_SUM
    assert taps["out"].tolist() == HAND_OUT


def test_hand_example_plain_outputs_relu_of_f():
    _, taps = taps_of("plain", hand_weights(), x=torch.tensor(POINTS))

    assert taps["sum"].tolist() == HAND_F
    assert taps["out"].tolist() == HAND_PLAIN_OUT


def test_hand_example_preact_rectifies_x_before_weight1():
    # (-1, -1) enters weight 1 as ReLU(x) = (0, 0): W1 0 + b1 = (0, 0.5),
    # ReLU (0, 0.5), F = W2 (0, 0.5) + b2 = (-1, 0.5); no ReLU after the sum.
    _, taps = taps_of("preact", hand_weights(), x=torch.tensor([[-1.0, -1.0]]))

    assert taps["weight1"].tolist() == [[0.0, 0.5]]
    assert taps["f"].tolist() == [[-1.0, 0.5]]
    assert taps["out"].tolist() == [[-2.0, -0.5]]


@pytest.mark.parametrize("alpha", [0.0, 0.5, -1.0, 2.0])
def test_alpha_scales_f_in_the_sum(alpha):
    x = torch.tensor(POINTS)
    _, taps = taps_of("residual", hand_weights(), alpha=alpha, x=x)

    assert taps["f"].tolist() == HAND_F  # alpha leaves the branch itself alone
    assert torch.allclose(taps["sum"], x + alpha * torch.tensor(HAND_F))


def test_repeated_zero_preact_unit_stays_identity():
    x, taps = taps_of("preact", depth=50)

    assert torch.equal(taps["stack"], x)


def test_grid_points_cover_the_square_row_by_row():
    grid = anatomy.grid_points(3, 1.5)

    assert grid.tolist()[:3] == [[-1.5, -1.5], [0.0, -1.5], [1.5, -1.5]]
    assert grid.shape == (9, 2)


def test_data_points_are_seeded():
    a, labels = anatomy.data_points("moons", 200, 3)
    b, _ = anatomy.data_points.__wrapped__("moons", 200, 3)

    assert a.shape == (200, 2) and labels.shape == (200,)
    assert torch.equal(a, b)


def test_fit_identity_residual_beats_plain():
    result = anatomy.fit_residual("identity", steps=150, seed=0)

    assert result.residual_target == [0.0] * len(result.x)
    assert result.losses["residual"][-1] < result.losses["plain"][-1]
    assert result.losses["residual"][-1] < 1e-3
    assert len(result.snapshots["plain"]) == len(result.steps)


def test_fit_units_start_from_the_same_weights():
    pair = anatomy.lifted_pair(hidden=4, seed=1)
    x = torch.linspace(-1, 1, 5).unsqueeze(1)

    f_plain = pair["plain"].fit_forward(x)[1]
    h_res, f_res = pair["residual"].fit_forward(x)

    assert torch.equal(f_plain, f_res)
    assert torch.allclose(h_res, x + f_res)


def test_projection_width_two_is_the_identity():
    h = torch.randn(50, 2)

    assert torch.equal(anatomy.fit_projection(h)(h), h)


def test_projection_keeps_the_dominant_direction():
    gen = torch.Generator().manual_seed(0)
    t = torch.randn(400, 1, generator=gen)
    h = t @ torch.tensor([[3.0, 0.0, 4.0, 0.0]]) + 0.01 * torch.randn(400, 4, generator=gen)

    projection = anatomy.fit_projection(h)

    assert projection.explained > 0.99
    assert torch.allclose(projection.basis.T @ projection.basis, torch.eye(2), atol=1e-5)
    assert abs(float(projection.basis[:, 0] @ torch.tensor([0.6, 0.0, 0.8, 0.0]))) > 0.999


def tiny_net(width=8, depth=3, batch_norm=False) -> ResNet:
    torch.manual_seed(0)
    return ResNet(2, 2, depth, width, UnitSpec(batch_norm=batch_norm))


def test_branch_ratios_are_zero_for_zero_branches():
    net = tiny_net()
    with torch.no_grad():
        for unit in net.units:
            unit.layer2.weight.zero_()
            unit.layer2.bias.zero_()

    assert anatomy.run_ratios(net, torch.randn(30, 2)) == [0.0, 0.0, 0.0]


def test_unit_view_projects_every_cloud_to_2d():
    net = tiny_net(width=8, depth=3)
    view = anatomy.unit_view(net, torch.randn(40, 2), 2)

    assert {k: tuple(v.shape) for k, v in view["points"].items()} == {
        "x": (40, 2),
        "sum": (40, 2),
        "out": (40, 2),
    }
    assert len(view["ratios"]) == 3 and view["width"] == 8


def test_unit_view_rejects_unit_past_the_depth():
    with pytest.raises(ValueError, match="unit must be in 0..3"):
        anatomy.unit_view(tiny_net(depth=3), torch.randn(10, 2), 4)


def test_trace_leaves_batch_norm_statistics_and_mode_alone():
    net = tiny_net(batch_norm=True).train()
    before = net.units[0].bn1.running_mean.clone()

    anatomy.trace(net, torch.randn(20, 2) + 5)

    assert net.training
    assert torch.equal(net.units[0].bn1.running_mean, before)


def test_network_trace_is_computed_once_per_network_and_points():
    net, x = tiny_net(), torch.randn(30, 2)

    first = anatomy.network_trace(net, x)

    assert anatomy.network_trace(net, x) is first
    assert anatomy.network_trace(net, x[:20]) is not first
