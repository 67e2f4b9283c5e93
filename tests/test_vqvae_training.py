"""Training pieces: EMA codebook, dead-code restart, commit and spectral losses, the objective."""

from __future__ import annotations

import math

import pytest
import torch

from jbdiff.errors import ConfigError
from jbdiff.vqvae import PRESETS, VQVAE, Bandwidth, estimate_bandwidth
from jbdiff.vqvae.bottleneck import BottleneckBlock
from jbdiff.vqvae.losses import multispectral_loss, reconstruction_loss, spectral_convergence


def _audio(n: int = 4096, seed: int = 0) -> torch.Tensor:
    return 0.3 * torch.randn(2, 1, n, generator=torch.Generator().manual_seed(seed))


def test_ema_update_follows_the_formula_and_restarts_dead_codes():
    block = BottleneckBlock(l_bins=4, emb_width=2, mu=0.9)
    with torch.no_grad():
        block.k.copy_(torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [50.0, 50.0]]))
    block.restore_k(num_tokens=8, threshold=1.0)  # expected usage 2 per entry
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [9.0, 1.0], [11.0, -1.0],
                      [1.0, 9.0], [-1.0, 11.0], [0.5, 0.5], [10.0, 0.0]])
    codes, _ = block.quantise_flat(x)
    assert codes.tolist() == [0, 0, 1, 1, 2, 2, 0, 1]
    metrics = block.update_k(x, codes, generator=torch.Generator().manual_seed(0))
    counts = torch.tensor([3.0, 3.0, 2.0, 0.0])
    torch.testing.assert_close(block.k_elem, 0.9 * 2 + 0.1 * counts)
    sums = torch.stack([x[codes == i].sum(0) if (codes == i).any() else torch.zeros(2) for i in range(4)])
    old_k = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [50.0, 50.0]])
    expected_sum = 0.9 * 2 * old_k + 0.1 * sums
    torch.testing.assert_close(block.k_sum, expected_sum)
    torch.testing.assert_close(block.k[:3], expected_sum[:3] / block.k_elem[:3, None])
    # Entry 3 was unused: 0.9 * 2 = 1.8 >= 1.0 keeps it alive for now.
    torch.testing.assert_close(block.k[3], expected_sum[3] / block.k_elem[3])
    assert metrics["used_curr"] == 3 and metrics["usage"] == 4
    # Several more steps without using entry 3 push its count below threshold: it restarts
    # from one of the batch's rows (x has 8 >= 4 rows, so no noise is added).
    for _ in range(10):
        block.update_k(x, codes, generator=torch.Generator().manual_seed(1))
    assert float(block.k_elem[3]) < 1.0
    assert any(torch.equal(block.k[3], row) for row in x)
    entropy = -(counts[:3] / 8 * torch.log(counts[:3] / 8)).sum()
    torch.testing.assert_close(metrics["entropy"], entropy, atol=1e-6, rtol=1e-6)


def test_init_k_tiles_small_batches_with_noise():
    block = BottleneckBlock(l_bins=16, emb_width=4, mu=0.99)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(2))
    block.init_k(x, generator=torch.Generator().manual_seed(3))
    assert block.init
    # Every entry is a data row plus noise of std 0.01 / sqrt(4).
    nearest = torch.cdist(block.k, x).min(dim=1).values
    assert float(nearest.max()) < 0.05 and float(nearest.max()) > 0
    torch.testing.assert_close(block.k_sum, block.k)


def test_commit_loss_and_straight_through():
    block = BottleneckBlock(l_bins=8, emb_width=3, mu=0.99)
    block.init_k(torch.randn(64, 3, generator=torch.Generator().manual_seed(0)),
                 generator=torch.Generator().manual_seed(1))
    x = torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(4), requires_grad=True)
    codes, quantised, commit, _ = block(x, update_k=False)
    exact = block.decode(codes)
    torch.testing.assert_close(commit, ((exact - x.detach()) ** 2).mean())
    torch.testing.assert_close(quantised.detach(), exact)
    quantised.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


def test_training_losses_backprop_and_codebook_init():
    torch.manual_seed(0)
    model = VQVAE(PRESETS["tiny"]).train()
    assert not any(b.init for b in model.bottleneck.level_blocks)
    out = model.training_losses(_audio(), generator=torch.Generator().manual_seed(0))
    for key in ("loss", "recons_loss", "multispectral_loss", "commit_loss", "entropy", "usage",
                "dk", "recons_loss_l1", "multispectral_loss_l3", "spectral_convergence"):
        assert key in out and torch.isfinite(out[key]), key
    s = model.shape
    expected = out["recons_loss"] + s.multispectral * out["multispectral_loss"] + s.commit * out["commit_loss"]
    torch.testing.assert_close(out["loss"].detach(), expected)
    out["loss"].backward()
    assert model.encoders[2].level_blocks[0].model[0][0].weight.grad.abs().sum() > 0
    assert model.decoders[0].out.weight.grad.abs().sum() > 0
    assert all(b.init and b.k.abs().sum() > 0 for b in model.bottleneck.level_blocks)
    # Codebooks are not parameters: the optimiser never touches them.
    assert all(p is not b.k for p in model.parameters() for b in model.bottleneck.level_blocks)


def test_training_is_reproducible_with_a_generator_and_eval_mode_freezes_codebooks():
    def run() -> tuple[torch.Tensor, torch.Tensor]:
        torch.manual_seed(0)
        model = VQVAE(PRESETS["tiny"]).train()
        out = model.training_losses(_audio(), generator=torch.Generator().manual_seed(5))
        return out["loss"].detach(), model.bottleneck.level_blocks[1].k.clone()

    (l1, k1), (l2, k2) = run(), run()
    assert torch.equal(l1, l2) and torch.equal(k1, k2)

    torch.manual_seed(0)
    model = VQVAE(PRESETS["tiny"]).train()
    model.training_losses(_audio())
    model.eval()
    before = model.bottleneck.level_blocks[0].k.clone()
    model(_audio(seed=1))  # forward == training_losses
    assert torch.equal(model.bottleneck.level_blocks[0].k, before)


def test_restore_codebooks_scales_by_expected_usage():
    torch.manual_seed(0)
    model = VQVAE(PRESETS["tiny"])
    model.restore_codebooks(sample_length=8192, world_size=2)
    for level, block in enumerate(model.bottleneck.level_blocks):
        expected = (8192 // model.hop_lengths[level]) * 2 / block.l_bins
        assert torch.allclose(block.k_elem, torch.full_like(block.k_elem, expected))
        assert block.threshold == model.shape.revival_threshold


def test_spectral_losses_properties():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 8000, generator=g)
    y = torch.randn(2, 1, 8000, generator=g)
    args = ((2048, 1024, 512), (240, 120, 50), (1200, 600, 240))
    assert torch.equal(multispectral_loss(x, x, *args), torch.zeros(2))
    torch.testing.assert_close(multispectral_loss(x, y, *args), multispectral_loss(y, x, *args))
    zero = torch.zeros_like(x)
    torch.testing.assert_close(multispectral_loss(3 * x, zero, *args), 3 * multispectral_loss(x, zero, *args))
    assert torch.all(multispectral_loss(x, y, *args) > 0)
    torch.testing.assert_close(spectral_convergence(x, zero), torch.ones(2))
    assert torch.equal(spectral_convergence(zero, x), torch.zeros(2))  # silent target is masked
    with pytest.raises(ConfigError):
        multispectral_loss(x, y, (2048,), (240, 120), (1200,))


def test_reconstruction_losses():
    target = torch.zeros(1, 1, 10)
    pred = torch.arange(10.0).view(1, 1, 10)
    bw = Bandwidth(l1=2.0, l2=4.0, spec=1.0)
    assert float(reconstruction_loss("l1", target, pred, bw)) == pytest.approx(4.5 / 2)
    assert float(reconstruction_loss("l2", target, pred, bw)) == pytest.approx(28.5 / 4)
    # linf: mean of the k largest squared errors (81, 64, 49).
    assert float(reconstruction_loss("linf", target, pred, bw, linf_k=3)) == pytest.approx(194 / 3 / 4)
    mix = reconstruction_loss("lmix", target, pred, bw, linf_k=3, lmix_l2=1.0, lmix_linf=0.02)
    assert float(mix) == pytest.approx(28.5 / 4 + 0.02 * 194 / 3 / 4)
    with pytest.raises(ConfigError, match="loss_fn"):
        reconstruction_loss("l3", target, pred, bw)


def test_estimate_bandwidth_of_a_sine():
    t = torch.arange(44100) / 44100
    amp = 0.5
    clip = amp * torch.sin(2 * math.pi * 441 * t)
    bw = estimate_bandwidth([clip, torch.stack([clip, clip])])
    assert bw.l2 == pytest.approx(amp**2 / 2, rel=1e-3)
    assert bw.l1 == pytest.approx(2 * amp / math.pi, rel=1e-3)
    assert bw.spec > 0
    with pytest.raises(ConfigError):
        estimate_bandwidth([])
