"""v-objective: noise pass semantics, seeded randomness, and that training lowers the loss."""

from __future__ import annotations

import math

import pytest
import torch

from jbdiff.diffusion import VDiffusion, alpha_beta
from jbdiff.errors import ConfigError
from jbdiff.unet import TINY_UNET, LevelUNet


class Recorder:
    """Stands in for the network: remembers its inputs, predicts v = 0."""

    def __call__(self, x_noisy, sigmas, **kwargs):
        self.x_noisy, self.sigmas, self.kwargs = x_noisy, sigmas, kwargs
        return torch.zeros_like(x_noisy)


def toy_batch():
    g = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 1, 32)
    freqs = torch.arange(1, 5).view(1, 4, 1)
    phases = torch.rand(4, 1, 1, generator=g) * 2 * math.pi
    x = torch.sin(2 * math.pi * freqs * t + phases)  # [4 items, 4 channels, 32]
    emb = torch.randn(4, 12, TINY_UNET.embedding_features, generator=g)
    return x, emb


def test_alpha_beta_is_the_quarter_circle() -> None:
    alpha, beta = alpha_beta(torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(alpha**2 + beta**2, torch.ones(3))
    assert alpha[0] == 1 and beta[0] == 0 and beta[2] == 1 and abs(alpha[2]) < 1e-7
    assert torch.allclose(alpha[1], beta[1])


def test_noise_pass_replaces_the_gaussian_noise() -> None:
    x, _ = toy_batch()
    start = torch.full_like(x, 0.25)  # e.g. the re-encoded lower-level reconstruction
    net = Recorder()
    sigmas = torch.tensor([1.0, 0.0, 0.5, 1.0])
    loss = VDiffusion().loss(net, x, noise=start, sigmas=sigmas)
    # At sigma = 1 the network sees exactly the given start point, at sigma = 0 the clean x.
    assert torch.allclose(net.x_noisy[0], start[0], atol=1e-6)
    assert torch.equal(net.x_noisy[1], x[1])
    alpha, beta = alpha_beta(sigmas.view(4, 1, 1))
    v_target = alpha * start - beta * x
    assert torch.allclose(loss, (v_target**2).mean())
    assert net.kwargs == {"embedding": None, "embedding_mask_proba": 0.0, "generator": None}


def test_randomness_comes_only_from_the_generator() -> None:
    x, _ = toy_batch()

    def loss(seed: int) -> torch.Tensor:
        return VDiffusion().loss(Recorder(), x, generator=torch.Generator().manual_seed(seed))

    torch.manual_seed(123)
    first = loss(5)
    torch.manual_seed(456)
    assert torch.equal(first, loss(5))
    assert not torch.equal(first, loss(6))


def test_sigma_range_and_shapes_are_checked() -> None:
    x, _ = toy_batch()
    sigmas = VDiffusion(0.2, 0.4).sample_sigmas(1000, torch.device("cpu"), torch.Generator())
    assert 0.2 <= float(sigmas.min()) and float(sigmas.max()) < 0.4
    with pytest.raises(ConfigError, match="sigma"):
        VDiffusion(0.5, 0.5)
    with pytest.raises(ConfigError, match="noise"):
        VDiffusion().loss(Recorder(), x, noise=torch.zeros(1, 4, 32))
    with pytest.raises(ConfigError, match="sigmas"):
        VDiffusion().loss(Recorder(), x, sigmas=torch.zeros(3))


@pytest.fixture
def one_thread():
    """Tiny tensors gain nothing from intra-op threads; on a busy CPU they cost a lot."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_thread")
def test_fifty_training_steps_lower_the_loss_on_a_fixed_batch() -> None:
    x, emb = toy_batch()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = LevelUNet.from_shape(TINY_UNET)
    diffusion = VDiffusion()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    eval_sigmas = torch.linspace(0.1, 0.9, 4)
    eval_noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))

    def eval_loss() -> float:
        with torch.no_grad():
            return float(
                diffusion.loss(model, x, noise=eval_noise, embedding=emb, sigmas=eval_sigmas)
            )

    before = eval_loss()
    for _ in range(50):
        loss = diffusion.loss(model, x, embedding=emb, embedding_mask_proba=0.1, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = eval_loss()
    assert after < 0.6 * before, (before, after)
