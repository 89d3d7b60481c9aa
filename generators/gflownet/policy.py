"""Forward and backward policies of the conditional GFlowNet (torch MLPs).

One trunk reads the state encoding ``x`` (``b x d``) concatenated with the condition
vector ``c`` (``b x k``, the campaign's targets; ``k = 0`` for an unconditional model)
and feeds two heads: forward logits over the environment's actions (``b x A``) and
backward logits over its backward actions (``b x A_B``). ``log Z(c)`` is a separate small
network of the condition alone, so the same model serves every target value.
Invalid actions are removed by masking logits to ``-inf`` before the softmax.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["GFlowNetPolicy", "masked_log_softmax"]


def masked_log_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``log softmax`` over the ``True`` entries of ``mask`` (``-inf`` elsewhere)."""
    return torch.log_softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)


class GFlowNetPolicy(nn.Module):
    """``P_F(.|s, c)``, ``P_B(.|s, c)`` and ``log Z(c)``.

    >>> pol = GFlowNetPolicy(state_dim=10, cond_dim=2, n_actions=5, n_bwd_actions=3)
    >>> fwd, bwd = pol(torch.zeros(4, 10), torch.zeros(4, 2))
    >>> fwd.shape, bwd.shape
    (torch.Size([4, 5]), torch.Size([4, 3]))
    """

    def __init__(
        self, state_dim: int, cond_dim: int, n_actions: int, n_bwd_actions: int, hidden: int = 256, layers: int = 2
    ) -> None:
        super().__init__()
        self.cond_dim = cond_dim
        dims = [state_dim + cond_dim] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            blocks += [nn.Linear(a, b), nn.LeakyReLU()]
        self.trunk = nn.Sequential(*blocks)
        self.forward_head = nn.Linear(hidden, n_actions)
        self.backward_head = nn.Linear(hidden, n_bwd_actions)
        self.log_z_bias = nn.Parameter(torch.zeros(()))
        self.log_z_net = nn.Sequential(nn.Linear(cond_dim, 32), nn.LeakyReLU(), nn.Linear(32, 1)) if cond_dim else None

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward logits for states ``x`` (``b x d``) under conditions ``cond`` (``b x k``)."""
        h = self.trunk(torch.cat([x, cond], dim=-1) if self.cond_dim else x)
        return self.forward_head(h), self.backward_head(h)

    def log_z(self, cond: torch.Tensor) -> torch.Tensor:
        """``log Z(c)`` per row of ``cond`` (``b x k`` -> ``b``)."""
        out = self.log_z_bias.expand(cond.shape[0])
        if self.log_z_net is not None:
            out = out + self.log_z_net(cond).squeeze(-1)
        return out
