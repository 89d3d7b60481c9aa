"""Trajectory balance (Malkin et al., 2022), implemented here (torchgfn pins numpy < 2).

For a complete trajectory ``tau = (s_0 -> s_1 -> ... -> s_T = x)`` under condition ``c``::

    L_TB(tau) = ( log Z(c) + sum_t log P_F(s_{t+1} | s_t, c)
                  - log R(x | c) - sum_t log P_B(s_t | s_{t+1}, c) )^2

At the global minimum (``L_TB = 0`` for every trajectory) the forward policy samples
terminal states with probability ``P_T(x | c) = R(x | c) / Z(c)``, and ``Z(c)`` is the
total reward. The loss of a batch is the mean over its trajectories.
"""

from __future__ import annotations

import torch

__all__ = ["trajectory_balance"]


def trajectory_balance(
    log_z: torch.Tensor, sum_log_pf: torch.Tensor, sum_log_pb: torch.Tensor, log_reward: torch.Tensor
) -> torch.Tensor:
    """Mean trajectory-balance loss; every argument has shape ``b`` (one entry per trajectory).

    >>> trajectory_balance(torch.zeros(2), torch.tensor([-1.0, -2.0]), torch.zeros(2), torch.tensor([-1.0, -2.0]))
    tensor(0.)
    """
    if not (log_z.shape == sum_log_pf.shape == sum_log_pb.shape == log_reward.shape):
        raise ValueError(f"shapes differ: {log_z.shape}, {sum_log_pf.shape}, {sum_log_pb.shape}, {log_reward.shape}")
    residual = log_z + sum_log_pf - log_reward - sum_log_pb
    return (residual**2).mean()
