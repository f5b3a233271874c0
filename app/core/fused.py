"""Both networks of a paired run as one batched computation.

A plain and a residual network of a pair have the same shapes, so their
weights stack along a leading axis of size 2 and every layer of both runs as
one batched matrix product: (2, batch, width) @ (2, width, width). The only
difference, the shortcut, becomes a per-network scale: 0 for the plain one,
lambda for the residual one. Half the operator calls of two separate
networks, and the optimiser updates a handful of tensors instead of hundreds.

This covers dense units without batch norm (the 2-D lab and most presets);
`ResNet` stays the reference, and tests hold the two to the same numbers.
"""

from __future__ import annotations

import torch
from torch import nn

from .models import ResNet


def supports(plain: ResNet, residual: ResNet) -> bool:
    spec = residual.spec
    return not residual.conv and not spec.batch_norm and not spec.learn_branch_scale


def _stack(tensors, transpose: bool = False) -> nn.Parameter:
    stacked = torch.stack([t.detach().T if transpose else t.detach() for t in tensors])
    return nn.Parameter(stacked.clone())


class FusedPair(nn.Module):
    """(batch, in) -> (2, batch, classes): plain logits, then residual logits."""

    def __init__(self, plain: ResNet, residual: ResNet):
        super().__init__()
        if not supports(plain, residual):
            raise ValueError("FusedPair needs dense units without batch norm")
        self.nets = (plain, residual)
        self.kind = residual.spec.kind
        nets = self.nets

        # Weights stored as (2, ..., in, out) so that x @ w needs no transpose.
        self.stem_w = _stack([n.stem.weight for n in nets], transpose=True)
        self.stem_b = _stack([n.stem.bias.unsqueeze(0) for n in nets])
        self.w1 = _stack([torch.stack([u.layer1.weight.T for u in n.units]) for n in nets])
        self.b1 = _stack([torch.stack([u.layer1.bias.unsqueeze(0) for u in n.units]) for n in nets])
        self.w2 = _stack([torch.stack([u.layer2.weight.T for u in n.units]) for n in nets])
        self.b2 = _stack([torch.stack([u.layer2.bias.unsqueeze(0) for u in n.units]) for n in nets])
        self.head_w = _stack([n.head.weight for n in nets], transpose=True)
        self.head_b = _stack([n.head.bias.unsqueeze(0) for n in nets])

        # out = alpha * F(x) + scale * x, per network: (2, 1, 1)
        scales = [n.spec.shortcut_scale if n.spec.shortcut else 0.0 for n in nets]
        self.register_buffer("shortcut", torch.tensor(scales).view(2, 1, 1))
        alphas = [float(n.units[0].alpha) if n.units else 1.0 for n in nets]
        self.register_buffer("alpha", torch.tensor(alphas).view(2, 1, 1))
        self.unit_alpha = all(a == 1.0 for a in alphas)

    @property
    def depth(self) -> int:
        return self.w1.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(torch.matmul(x, self.stem_w) + self.stem_b)  # (2, batch, width)

        for i in range(self.depth):
            # The same unit as models._Unit, both networks at once.
            if self.kind == "preact":
                f = torch.baddbmm(self.b1[:, i], torch.relu(h), self.w1[:, i])
                f = torch.baddbmm(self.b2[:, i], torch.relu(f), self.w2[:, i])
                h = self._merge(f, h)
            else:
                f = torch.relu(torch.baddbmm(self.b1[:, i], h, self.w1[:, i]))
                f = torch.baddbmm(self.b2[:, i], f, self.w2[:, i])
                h = torch.relu(self._merge(f, h))

        if self.kind == "preact":
            h = torch.relu(h)
        return torch.baddbmm(self.head_b, h, self.head_w)  # (2, batch, classes)

    def _merge(self, f: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """alpha * F(x) + scale * x; one fused kernel when alpha is 1."""
        if self.unit_alpha:
            return torch.addcmul(f, self.shortcut, h)
        return self.alpha * f + self.shortcut * h

    def grad_norms(self) -> torch.Tensor:
        """(2, depth + 2): the gradient's 2-norm per layer, stem to head."""
        stem = self.stem_w.grad.pow(2).sum((1, 2)) + self.stem_b.grad.pow(2).sum((1, 2))
        units = sum(p.grad.pow(2).sum((2, 3)) for p in (self.w1, self.b1, self.w2, self.b2))
        head = self.head_w.grad.pow(2).sum((1, 2)) + self.head_b.grad.pow(2).sum((1, 2))
        return torch.cat([stem[:, None], units, head[:, None]], 1).sqrt()

    @torch.no_grad()
    def write_back(self) -> None:
        """Copy the trained weights into the two `ResNet`s they came from."""
        for k, net in enumerate(self.nets):
            net.stem.weight.copy_(self.stem_w[k].T)
            net.stem.bias.copy_(self.stem_b[k, 0])
            for i, unit in enumerate(net.units):
                unit.layer1.weight.copy_(self.w1[k, i].T)
                unit.layer1.bias.copy_(self.b1[k, i, 0])
                unit.layer2.weight.copy_(self.w2[k, i].T)
                unit.layer2.bias.copy_(self.b2[k, i, 0])
            net.head.weight.copy_(self.head_w[k].T)
            net.head.bias.copy_(self.head_b[k, 0])
