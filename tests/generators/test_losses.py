from __future__ import annotations

import pytest
import torch

from generators.gflownet.losses import trajectory_balance


def test_tb_zero_at_balance_and_positive_otherwise() -> None:
    log_r = torch.tensor([0.0, 2.0])
    pf = torch.tensor([-3.0, -1.0])
    pb = torch.tensor([-0.5, 0.0])
    log_z = log_r + pb - pf  # exactly balanced
    assert trajectory_balance(log_z, pf, pb, log_r).item() == pytest.approx(0.0)
    assert trajectory_balance(log_z + 1.0, pf, pb, log_r).item() == pytest.approx(1.0)


def test_tb_gradient_moves_log_z_toward_balance() -> None:
    log_z = torch.zeros(3, requires_grad=True)
    loss = trajectory_balance(log_z, torch.full((3,), -1.0), torch.zeros(3), torch.zeros(3))
    loss.backward()
    assert torch.all(log_z.grad < 0)  # log Z must grow
    with pytest.raises(ValueError, match="shapes"):
        trajectory_balance(torch.zeros(2), torch.zeros(3), torch.zeros(3), torch.zeros(3))
