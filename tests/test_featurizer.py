"""The featurizer (per-layer layer-norm without affine, softmax-weighted sum; one layer passes
through) and SpecAugment."""

from __future__ import annotations

import pytest
import torch

from minisuperb.downstream.featurizer import Featurizer, spec_augment, time_warp


def test_weights_start_uniform_and_layers_are_normalised_without_affine():
    torch.manual_seed(0)
    features = torch.randn(2, 5, 3, 8) * torch.tensor([1.0, 10.0, 100.0])[None, None, :, None] + 7.0
    featurizer = Featurizer(num_layers=3, layer_norm=True)
    assert featurizer.layer_weights() == pytest.approx([1 / 3] * 3)
    assert not any(name != "weights" for name, _ in featurizer.named_parameters())
    normalised = (features - features.mean(-1, keepdim=True)) / torch.sqrt(features.var(-1, unbiased=False, keepdim=True) + 1e-5)
    assert torch.allclose(featurizer(features), normalised.mean(dim=2), atol=1e-5)


def test_without_layer_norm_it_is_the_plain_weighted_sum():
    features = torch.randn(1, 4, 2, 3)
    featurizer = Featurizer(num_layers=2, layer_norm=False)
    with torch.no_grad():
        featurizer.weights.copy_(torch.tensor([0.0, torch.log(torch.tensor(3.0))]))
    assert featurizer.layer_weights() == pytest.approx([0.25, 0.75])
    assert torch.allclose(featurizer(features), 0.25 * features[:, :, 0] + 0.75 * features[:, :, 1])


def test_one_layer_passes_through_unnormalised_as_in_s3prl():
    # s3prl's Featurizer unwraps a one-element hidden-state list: FBANK is never layer-normed
    # and gets no layer weight, even with --upstream_feature_normalize (MiniSUPERB's setting).
    featurizer = Featurizer(num_layers=1, layer_norm=True)
    features = torch.randn(1, 3, 1, 4) * 5 + 2
    assert torch.equal(featurizer(features), features[:, :, 0])
    assert list(featurizer.parameters()) == [] and featurizer.layer_weights() == [1.0]
    assert featurizer.macs_per_frame(240) == 0


def test_layer_weights_learn():
    two = Featurizer(num_layers=2, layer_norm=True)
    target = torch.randn(1, 6, 4)
    features = torch.stack([target, torch.randn(1, 6, 4)], dim=2)
    optimizer = torch.optim.Adam(two.parameters(), lr=0.1)
    for _ in range(30):
        optimizer.zero_grad()
        loss = ((two(features) - torch.nn.functional.layer_norm(target, (4,))) ** 2).mean()
        loss.backward()
        optimizer.step()
    assert two.layer_weights()[0] > 0.9


def test_layer_count_mismatch_is_refused():
    with pytest.raises(ValueError, match="3 layers"):
        Featurizer(num_layers=3)(torch.zeros(1, 2, 2, 4))


def test_macs_per_frame_count_the_sum_and_the_norm():
    assert Featurizer(13, layer_norm=False).macs_per_frame(768) == 13 * 768
    assert Featurizer(13, layer_norm=True).macs_per_frame(768) == 4 * 13 * 768


def test_spec_augment_masks_spans_inside_valid_frames():
    features = torch.ones(3, 50, 20)
    lengths = torch.tensor([50, 30, 5])
    generator = torch.Generator().manual_seed(0)
    masked = spec_augment(features, lengths, generator, time_masks=2, time_width=10, freq_masks=1, freq_width=6)
    assert torch.equal(features, torch.ones(3, 50, 20))  # the input is left alone
    for row, length in enumerate(lengths.tolist()):
        zero_frames = (masked[row] == 0).all(dim=1)
        zero_dims = (masked[row] == 0).all(dim=0)
        assert int(zero_frames.sum()) <= 2 * 9 and int(zero_dims.sum()) <= 5
        assert not zero_frames[length:].any() or zero_dims.all()
    again = spec_augment(features, lengths, torch.Generator().manual_seed(0), time_masks=2, time_width=10,
                         freq_masks=1, freq_width=6)
    assert torch.equal(masked, again)


def test_spec_augment_defaults_mask_part_of_a_long_utterance():
    # 4 s of 240-dim fbank frames: s3prl's widths mask some frames and dims, not most of them.
    features = torch.ones(16, 400, 240)
    masked = spec_augment(features, torch.full((16,), 400), torch.Generator().manual_seed(1))
    assert 0.1 < float((masked == 0).float().mean()) < 0.7


def test_time_warp_is_s3prls_and_stays_inside_valid_frames():
    from s3prl.downstream.specaug import TimeWarp

    frames = torch.randn(60, 8)
    torch.manual_seed(3)
    ours = time_warp(frames, 5)
    torch.manual_seed(3)
    theirs = TimeWarp(window=5)(frames.clone()[None], torch.tensor([60]))[0][0]  # it warps in place
    torch.testing.assert_close(ours, theirs)
    assert not torch.equal(ours, frames) and ours.shape == frames.shape
    assert torch.equal(time_warp(frames[:10], 5), frames[:10])  # too short to warp

    padded = torch.cat([torch.ones(1, 30, 8), torch.zeros(1, 20, 8)], dim=1)
    warped = spec_augment(padded, torch.tensor([30]), time_masks=0, freq_masks=0, time_warp_window=5)
    torch.testing.assert_close(warped[0, :30], torch.ones(30, 8))  # a constant stays constant
    assert not warped[0, 30:].any()  # padding stays padding
