"""Shared-row posteriors (FastqLogNEHVI, FastqLogNEI, SharedRowsModel) give botorch's values."""

from __future__ import annotations

import pytest
import torch
from botorch.acquisition import qLogNoisyExpectedImprovement, qUpperConfidenceBound
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.objective import GenericMCObjective
from botorch.models import ModelListGP, SingleTaskGP, SingleTaskVariationalGP
from botorch.models.transforms import Normalize, Standardize
from botorch.sampling import SobolQMCNormalSampler

from surrogates.acquisition import FastqLogNEHVI, FastqLogNEI, SharedRowsModel, marginal_moments


@pytest.fixture(scope="module")
def model() -> tuple[ModelListGP, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(120, 4, generator=gen, dtype=torch.float64)
    Y = torch.stack([-(X - 0.3).pow(2).sum(-1), -(X - 0.7).pow(2).sum(-1) + torch.sin(5 * X[:, 0])], -1)
    Y = Y + 0.05 * torch.randn(Y.shape, generator=gen, dtype=torch.float64)
    subs = [SingleTaskGP(X, Y[:, i : i + 1], input_transform=Normalize(4), outcome_transform=Standardize(1)) for i in range(2)]
    m = ModelListGP(*subs)
    m.eval()
    return m, X


def _acqf(cls, model, X, pending):  # noqa: ANN001, ANN202
    return cls(model, [-1.5, -1.5], X[:30], sampler=SobolQMCNormalSampler(torch.Size([32]), seed=3),
               prune_baseline=False, X_pending=pending)


@pytest.mark.parametrize("n_pending", [0, 3])
def test_fast_nehvi_equals_botorch(model, n_pending: int) -> None:  # noqa: ANN001
    m, X = model
    gen = torch.Generator().manual_seed(1)
    C = torch.rand(300, 1, 4, generator=gen, dtype=torch.float64)
    pending = torch.rand(n_pending, 4, generator=gen, dtype=torch.float64) if n_pending else None
    with torch.no_grad():
        ref = _acqf(qLogNoisyExpectedHypervolumeImprovement, m, X, pending)(C)
        fast = _acqf(FastqLogNEHVI, m, X, pending)(C)
    assert torch.isfinite(ref).all()
    assert torch.allclose(fast, ref, atol=1e-7, rtol=1e-7)
    assert ref.std() > 0.1  # the check means something: the candidates' values differ


def test_fast_nehvi_takes_botorch_path_for_joint_batches(model) -> None:  # noqa: ANN001
    m, X = model
    C = torch.rand(5, 3, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        ref = _acqf(qLogNoisyExpectedHypervolumeImprovement, m, X, None)(C)
        fast = _acqf(FastqLogNEHVI, m, X, None)(C)
    assert torch.allclose(fast, ref, atol=1e-7, rtol=1e-7)


def test_marginal_moments_match_the_joint_posterior_diagonal(model) -> None:  # noqa: ANN001
    m, _ = model
    C = torch.rand(1100, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    mu, sd = marginal_moments(m, C, chunk=256)
    with torch.no_grad():
        post = m.posterior(C)
        assert torch.allclose(mu, post.mean, atol=1e-8)
        assert torch.allclose(sd, post.variance.sqrt(), atol=1e-8)


def test_fast_nehvi_takes_the_shared_rows_path(model, monkeypatch) -> None:  # noqa: ANN001
    """The fast path really is taken: sub-model posteriors are called on the unique rows only."""
    m, X = model
    C = torch.rand(200, 1, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    shapes: list[tuple[int, ...]] = []
    sub = m.models[0]
    orig = type(sub).posterior

    def spy(self, X, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        shapes.append(tuple(X.shape))
        return orig(self, X, *a, **k)

    monkeypatch.setattr(type(sub), "posterior", spy)
    with torch.no_grad():
        _acqf(FastqLogNEHVI, m, X, None)(C)
    assert shapes and all(len(sh) == 2 for sh in shapes[1:])  # 2-D joints, no b x (n_b + 1) batch


@pytest.mark.parametrize("kind", ["exact", "variational"])
def test_shared_rows_model_gives_the_same_qucb_with_pending(kind: str) -> None:
    gen = torch.Generator().manual_seed(6)
    X = torch.rand(80, 3, generator=gen, dtype=torch.float64)
    y = (torch.sin(4 * X[:, :1]) + X[:, 1:2]).clone()
    if kind == "exact":
        gp = SingleTaskGP(X, y, input_transform=Normalize(3), outcome_transform=Standardize(1))
    else:
        gp = SingleTaskVariationalGP(X, y, inducing_points=20, input_transform=Normalize(3), outcome_transform=Standardize(1))
    gp.eval()
    C = torch.rand(150, 1, 3, generator=gen, dtype=torch.float64)
    pending = torch.rand(4, 3, generator=gen, dtype=torch.float64)

    def acq(model):  # noqa: ANN001, ANN202
        return qUpperConfidenceBound(model, beta=0.25, sampler=SobolQMCNormalSampler(torch.Size([64]), seed=0), X_pending=pending)

    with torch.no_grad():
        ref, fast = acq(gp)(C), acq(SharedRowsModel(gp))(C)
    assert ref.std() > 1e-3
    assert torch.allclose(fast, ref, atol=1e-6, rtol=1e-6)


def test_fast_qlognei_equals_botorch(model) -> None:  # noqa: ANN001
    m, X = model
    sub = m.models[0]
    C = torch.rand(120, 1, 4, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    pending = torch.rand(2, 4, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    obj = GenericMCObjective(lambda Z, X=None: Z[..., 0])

    def acq(cls):  # noqa: ANN001, ANN202
        return cls(sub, X[:50], sampler=SobolQMCNormalSampler(torch.Size([64]), seed=2), objective=obj,
                   X_pending=pending, prune_baseline=False)

    with torch.no_grad():
        ref, fast = acq(qLogNoisyExpectedImprovement)(C), acq(FastqLogNEI)(C)
    assert ref.std() > 1e-3
    assert torch.allclose(fast, ref, atol=1e-6, rtol=1e-6)
