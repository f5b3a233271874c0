"""Unit and network oracles: identities at zero weights, shapes, paired init."""

import pytest
import torch

from app.core.models import BasicBlock, ResidualUnit, ResNet, UnitSpec, paired_networks


def zero_(module: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()
    return module


def test_residual_unit_with_zero_branch_returns_relu_of_input():
    unit = zero_(ResidualUnit(4))
    x = torch.tensor([[-2.0, -0.5, 0.0, 3.0], [1.5, -1.0, 2.0, -3.0]])

    assert torch.equal(unit(x), torch.relu(x))


def test_preact_unit_with_zero_branch_is_exactly_the_identity():
    unit = zero_(ResidualUnit(4, UnitSpec(kind="preact")))
    x = torch.randn(16, 4)

    assert torch.equal(unit(x), x)


def test_plain_unit_with_zero_weights_returns_relu_of_its_bias():
    unit = zero_(ResidualUnit(3, UnitSpec(shortcut=False)))
    with torch.no_grad():
        unit.layer2.bias.copy_(torch.tensor([0.5, -0.25, 2.0]))
    x = torch.randn(5, 3)

    expected = torch.tensor([0.5, 0.0, 2.0]).expand(5, 3)
    assert torch.equal(unit(x), expected)


def test_residual_unit_matches_hand_computed_values():
    # W1 = [[1, 0], [0, -1]], b1 = 0; W2 = [[1, 1], [0, 1]], b2 = [0, -1]
    unit = ResidualUnit(2)
    with torch.no_grad():
        unit.layer1.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        unit.layer1.bias.zero_()
        unit.layer2.weight.copy_(torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
        unit.layer2.bias.copy_(torch.tensor([0.0, -1.0]))
    x = torch.tensor([[1.0, -2.0], [-1.0, 1.0]])
    # x=(1,-2): W1x=(1,2) relu (1,2) F=(3,1) F+x=(4,-1) H=(4,0)
    # x=(-1,1): W1x=(-1,-1) relu (0,0) F=(0,-1) F+x=(-1,0) H=(0,0)
    taps = {}
    out = unit(x, taps)

    assert torch.equal(taps["f"], torch.tensor([[3.0, 1.0], [0.0, -1.0]]))
    assert torch.equal(taps["sum"], torch.tensor([[4.0, -1.0], [-1.0, 0.0]]))
    assert torch.equal(out, torch.tensor([[4.0, 0.0], [0.0, 0.0]]))


def test_scaled_shortcut_and_branch_scale_weight_the_two_paths():
    unit = ResidualUnit(2, UnitSpec(kind="preact", shortcut_scale=0.5, branch_scale=2.0))
    x = torch.randn(8, 2)
    taps = {}
    out = unit(x, taps)

    assert torch.allclose(out, 0.5 * x + 2.0 * taps["f"])


@pytest.mark.parametrize("kind", ["original", "preact"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_units_keep_shape(kind, batch_norm):
    spec = UnitSpec(kind=kind, batch_norm=batch_norm)

    assert ResidualUnit(6, spec)(torch.randn(4, 6)).shape == (4, 6)
    assert BasicBlock(5, spec)(torch.randn(3, 5, 8, 8)).shape == (3, 5, 8, 8)


@pytest.mark.parametrize("conv", [False, True])
def test_networks_map_inputs_to_class_logits(conv):
    net = ResNet(64, 10, depth=3, width=8, conv=conv)

    assert net(torch.rand(7, 64)).shape == (7, 10)
    assert len(net.layer_groups()) == 3 + 2  # stem, three units, head


@pytest.mark.parametrize("conv", [False, True])
def test_paired_networks_start_from_identical_weights(conv):
    plain, residual = paired_networks(
        seed=3, in_features=64, classes=10, depth=4, width=8, conv=conv
    )
    plain_state, residual_state = plain.state_dict(), residual.state_dict()

    assert plain_state.keys() == residual_state.keys()
    for name, value in residual_state.items():
        assert torch.equal(plain_state[name], value), name
    assert not any(u.shortcut for u in plain.units)
    assert all(u.shortcut for u in residual.units)


def test_paired_networks_differ_only_in_the_shortcut():
    plain, residual = paired_networks(seed=0, in_features=2, classes=2, depth=3, width=4)
    x = torch.randn(10, 2)

    assert not torch.allclose(plain(x), residual(x))
    for unit in plain.units:
        unit.shortcut = True
    assert torch.equal(plain(x), residual(x))


def test_skipped_units_pass_their_input_through():
    net = ResNet(2, 2, depth=3, width=4)
    x = torch.randn(5, 2)
    taps = []
    net(x, taps, skip=frozenset({1}))

    assert torch.equal(taps[2]["out"], taps[1]["out"])


def test_invalid_sizes_are_rejected_with_the_value():
    with pytest.raises(ValueError, match="depth must be >= 0, got -1"):
        ResNet(2, 2, depth=-1, width=4)
