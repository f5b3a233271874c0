"""The fused pair against its oracle: two separate `ResNet`s."""

import pytest
import torch
import torch.nn.functional as F

from app.core.config import RunConfig
from app.core.fused import FusedPair, supports
from app.core.models import UnitSpec, paired_networks
from app.core.training import PairedTrainer, Trainer

SPECS = [
    UnitSpec(),
    UnitSpec(kind="preact"),
    UnitSpec(shortcut_scale=0.5),
    UnitSpec(branch_scale=0.3, kind="preact"),
]


def pair(spec: UnitSpec, depth: int = 5, width: int = 6):
    return paired_networks(seed=4, in_features=3, classes=4, depth=depth, width=width, spec=spec)


@pytest.mark.parametrize("spec", SPECS)
def test_fused_forward_equals_both_networks(spec):
    plain, residual = pair(spec)
    fused = FusedPair(plain, residual)
    x = torch.randn(32, 3)

    out = fused(x)

    assert out.shape == (2, 32, 4)
    torch.testing.assert_close(out[0], plain(x))
    torch.testing.assert_close(out[1], residual(x))


@pytest.mark.parametrize("spec", SPECS)
def test_fused_gradients_equal_both_networks(spec):
    plain, residual = pair(spec)
    fused = FusedPair(plain, residual)
    x, y = torch.randn(16, 3), torch.randint(0, 4, (16,))

    logits = fused(x)
    (F.cross_entropy(logits[0], y) + F.cross_entropy(logits[1], y)).backward()
    for net in (plain, residual):
        F.cross_entropy(net(x), y).backward()

    for k, net in enumerate((plain, residual)):
        torch.testing.assert_close(fused.w1.grad[k, 2], net.units[2].layer1.weight.grad.T)
        torch.testing.assert_close(fused.b2.grad[k, 4, 0], net.units[4].layer2.bias.grad)
        torch.testing.assert_close(fused.head_w.grad[k], net.head.weight.grad.T)
        expected = [
            sum(float(p.grad.pow(2).sum()) for p in params) ** 0.5
            for _, params in net.layer_groups()
        ]
        torch.testing.assert_close(fused.grad_norms()[k].tolist(), expected)


def test_write_back_puts_trained_weights_into_the_modules():
    plain, residual = pair(UnitSpec())
    fused = FusedPair(plain, residual)
    with torch.no_grad():
        for p in fused.parameters():
            p.add_(0.1)
    x = torch.randn(8, 3)

    fused.write_back()

    torch.testing.assert_close(fused(x)[0], plain(x))
    torch.testing.assert_close(fused(x)[1], residual(x))


def test_fused_training_follows_the_separate_networks():
    config = RunConfig(depth=6, width=8, steps=30, points=400)
    fast = PairedTrainer(config)
    plain, residual = paired_networks(0, 2, 2, 6, 8)
    slow = Trainer(
        {"plain": plain, "residual": residual},
        fast.engine.x,
        fast.engine.y,
        config.learning_rate,
        config.batch_size,
        config.seed,
        fuse=False,
    )

    for _ in range(30):
        a, b = fast.step(), slow.step()
        for kind in ("plain", "residual"):
            assert a[kind]["loss"] == pytest.approx(b[kind]["loss"], rel=1e-4, abs=1e-5)
    fast.sync()
    x = fast.x_test
    torch.testing.assert_close(fast.nets["residual"](x), residual(x), rtol=1e-3, atol=1e-4)
    assert fast.engine.fused is not None and slow.fused is None


def test_batch_norm_and_conv_pairs_use_the_reference_modules():
    assert not supports(*pair(UnitSpec(batch_norm=True)))
    digits = PairedTrainer(RunConfig(dataset="digits", depth=2, width=4, steps=1))
    assert digits.engine.fused is None
    with pytest.raises(ValueError, match="dense units without batch norm"):
        FusedPair(*pair(UnitSpec(batch_norm=True)))
