"""Colour fix: AdaIN takes the reference's statistics; wavelet keeps detail and takes its low frequencies."""

from __future__ import annotations

import pytest
import torch

from vividvr_engine.colorfix import _low_frequencies, adain, color_fix, wavelet


def test_adain_gives_each_frame_and_channel_the_reference_mean_and_std():
    generator = torch.Generator().manual_seed(0)
    restored = torch.rand(3, 3, 16, 16, generator=generator)
    reference = torch.rand(3, 3, 16, 16, generator=generator) * 0.3 + 0.5
    fixed = adain(restored, reference)
    torch.testing.assert_close(fixed.mean(dim=(2, 3)), reference.mean(dim=(2, 3)), atol=1e-5, rtol=0)
    torch.testing.assert_close(fixed.std(dim=(2, 3)), reference.std(dim=(2, 3)), atol=1e-3, rtol=1e-3)


def test_wavelet_keeps_restored_detail_and_reference_low_frequencies():
    generator = torch.Generator().manual_seed(1)
    restored = torch.rand(2, 3, 64, 64, generator=generator)
    reference = torch.full((2, 3, 64, 64), 0.25)
    fixed = wavelet(restored, reference)
    torch.testing.assert_close(_low_frequencies(fixed), _low_frequencies(reference), atol=0.05, rtol=0)
    detail = restored - _low_frequencies(restored)
    torch.testing.assert_close(fixed - _low_frequencies(fixed), detail, atol=0.05, rtol=0)


@pytest.mark.parametrize("method", ["adain", "wavelet", "none"])
def test_every_method_returns_frames_in_range(method):
    restored = torch.linspace(-1, 2, 3 * 8 * 24).reshape(1, 3, 8, 24)
    out = color_fix(restored, torch.rand(1, 3, 8, 24), method)
    assert out.shape == restored.shape and out.min() >= 0 and out.max() <= 1


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown colour fix"):
        color_fix(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), "sepia")
