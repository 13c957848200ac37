"""Image-quality and audio batteries (mushin.metrics.signal).

The entries are torchmetrics objects built with upstream mushin-py 0.16.0's
arguments; these tests pin those arguments and directions, check the values
against NumPy twins of the published definitions (PSNR, SI-SDR, SI-SNR),
against torchmetrics' functional forms over the whole data (SSIM, MS-SSIM:
streaming and merging add nothing), and against pystoi itself (STOI), and
check that an unavailable metric is reported, never dropped.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mushin.metrics.signal import UnavailableMetric, audio_metrics, image_quality_metrics

torchmetrics = pytest.importorskip("torchmetrics")


def _images(seed, n=6, size=32, noise=0.1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    ref = torch.rand(n, 3, size, size, generator=g, dtype=dtype)
    # smooth the reference a little so that SSIM is not dominated by pixel noise
    ref = torch.nn.functional.avg_pool2d(ref, 3, stride=1, padding=1)
    est = (ref + noise * torch.randn(ref.shape, generator=g, dtype=dtype)).clamp(0, 1)
    return est, ref


def _waves(seed, n=5, t=16000, noise=0.3):
    g = torch.Generator().manual_seed(seed)
    time = torch.arange(t, dtype=torch.float64) / 16000
    freqs = 100 + 400 * torch.rand(n, 3, generator=g, dtype=torch.float64)
    ref = torch.sin(2 * math.pi * freqs[:, :, None] * time).sum(1)
    ref = ref * (1 + 0.5 * torch.sin(2 * math.pi * 3 * time))  # speech-like envelope
    est = 0.8 * ref + noise * torch.randn(n, t, generator=g, dtype=torch.float64) + 0.05
    return est, ref


def _stream(metric, est, ref, batch):
    for i in range(0, len(est), batch):
        metric.update(est[i:i + batch], ref[i:i + batch])
    return float(metric.compute())


# --------------------------------------------------------------------------
# upstream's arguments and directions
# --------------------------------------------------------------------------

def test_image_quality_battery_uses_upstream_arguments():
    from torchmetrics.image import (
        MultiScaleStructuralSimilarityIndexMeasure,
        PeakSignalNoiseRatio,
        StructuralSimilarityIndexMeasure,
    )

    m = image_quality_metrics()
    assert list(m) == ["ssim", "psnr", "ms_ssim", "lpips"]
    assert isinstance(m["ssim"], StructuralSimilarityIndexMeasure) and m["ssim"].data_range == 1.0
    assert isinstance(m["psnr"], PeakSignalNoiseRatio) and float(m["psnr"].data_range) == 1.0
    assert isinstance(m["ms_ssim"], MultiScaleStructuralSimilarityIndexMeasure)
    assert m["ms_ssim"].data_range == 1.0 and m["ms_ssim"].betas == (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    assert {k: v.higher_is_better for k, v in m.items()} == {
        "ssim": True, "psnr": True, "ms_ssim": True, "lpips": False}
    assert image_quality_metrics() is not image_quality_metrics()
    assert "lpips" not in image_quality_metrics(lpips=False)


def test_audio_battery_uses_upstream_arguments():
    from torchmetrics.audio import ScaleInvariantSignalDistortionRatio, ScaleInvariantSignalNoiseRatio
    from torchmetrics.audio.stoi import ShortTimeObjectiveIntelligibility

    pytest.importorskip("pystoi")
    m = audio_metrics()
    assert list(m) == ["si_sdr", "si_snr", "stoi"]
    assert isinstance(m["si_sdr"], ScaleInvariantSignalDistortionRatio) and m["si_sdr"].zero_mean is False
    assert isinstance(m["si_snr"], ScaleInvariantSignalNoiseRatio)
    assert isinstance(m["stoi"], ShortTimeObjectiveIntelligibility)
    assert m["stoi"].fs == 16000 and m["stoi"].extended is False
    assert audio_metrics(fs=8000)["stoi"].fs == 8000
    assert all(v.higher_is_better is True for v in m.values())
    assert list(audio_metrics(stoi=False)) == ["si_sdr", "si_snr"]


# --------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_psnr_equals_its_definition_over_all_pixels(seed):
    est, ref = _images(seed)
    mse = np.mean((est.numpy() - ref.numpy()) ** 2)
    want = 10 * math.log10(1.0 / mse)
    got = _stream(image_quality_metrics(lpips=False)["psnr"], est, ref, batch=4)
    assert got == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_ssim_streams_to_the_mean_over_images(seed):
    from torchmetrics.functional.image import structural_similarity_index_measure as ssim

    est, ref = _images(seed)
    want = float(ssim(est, ref, data_range=1.0))
    per_image = [float(ssim(est[i:i + 1], ref[i:i + 1], data_range=1.0)) for i in range(len(est))]
    assert want == pytest.approx(np.mean(per_image), rel=1e-12)
    assert 0.0 < want < 1.0
    assert _stream(image_quality_metrics(lpips=False)["ssim"], est, ref, batch=4) == pytest.approx(want, rel=1e-6)


def test_ms_ssim_streams_to_the_mean_over_images_and_needs_large_images():
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as ms_ssim

    # float32 keeps this fast. Five scales with an 11-pixel kernel need
    # side // 16 > 10, i.e. sides of at least 176 (upstream's "> 160" is loose: 168 fails)
    est, ref = _images(5, n=3, size=176, noise=0.05, dtype=torch.float32)
    want = float(ms_ssim(est, ref, data_range=1.0))
    assert 0.0 < want < 1.0
    got = _stream(image_quality_metrics(lpips=False)["ms_ssim"], est, ref, batch=2)
    assert got == pytest.approx(want, rel=1e-6)
    small_est, small_ref = _images(5, n=1, size=168)
    with pytest.raises(ValueError, match="larger than"):
        image_quality_metrics(lpips=False)["ms_ssim"].update(small_est, small_ref)


def _si_sdr_twin(est, ref, zero_mean):
    """SI-SDR per signal, with torchmetrics' eps guards (finfo(float64).eps)."""
    est, ref = est.numpy(), ref.numpy()
    eps = np.finfo(np.float64).eps
    if zero_mean:
        est = est - est.mean(-1, keepdims=True)
        ref = ref - ref.mean(-1, keepdims=True)
    alpha = ((est * ref).sum(-1, keepdims=True) + eps) / ((ref**2).sum(-1, keepdims=True) + eps)
    scaled = alpha * ref
    return 10 * np.log10(((scaled**2).sum(-1) + eps) / (((scaled - est) ** 2).sum(-1) + eps))


@pytest.mark.parametrize("seed", range(3))
def test_si_sdr_and_si_snr_equal_their_definitions(seed):
    est, ref = _waves(seed)
    m = audio_metrics(stoi=False)
    got_sdr = _stream(m["si_sdr"], est, ref, batch=2)
    got_snr = _stream(m["si_snr"], est, ref, batch=2)
    assert got_sdr == pytest.approx(_si_sdr_twin(est, ref, zero_mean=False).mean(), rel=1e-6)
    assert got_snr == pytest.approx(_si_sdr_twin(est, ref, zero_mean=True).mean(), rel=1e-6)
    # the 0.05 offset in est is what separates the two
    assert got_sdr != pytest.approx(got_snr, rel=1e-6)


@pytest.mark.parametrize("seed", range(2))
def test_stoi_equals_pystoi_mean_over_signals(seed):
    pystoi = pytest.importorskip("pystoi")
    est, ref = _waves(seed, n=3, t=24000)
    want = np.mean([pystoi.stoi(ref[i].numpy(), est[i].numpy(), 16000, extended=False)
                    for i in range(len(est))])
    assert 0.0 < want < 1.0
    got = _stream(audio_metrics()["stoi"], est, ref, batch=2)
    assert got == pytest.approx(want, rel=1e-6)


def test_si_sdr_and_si_snr_can_be_merged_by_torchmetrics():
    from torchmetrics.audio import ScaleInvariantSignalDistortionRatio

    # torchmetrics' own objects refuse merge_state (full_state_update is None);
    # the battery's are marked mergeable, which the next test shows is exact
    with pytest.raises(RuntimeError, match="merge_state"):
        ScaleInvariantSignalDistortionRatio().merge_state(ScaleInvariantSignalDistortionRatio())
    assert all(m.full_state_update is False for m in audio_metrics(stoi=False).values())


def test_split_states_merged_by_torchmetrics_equal_one_stream():
    est, ref = _images(7, n=8)
    wav_est, wav_ref = _waves(7, n=6)
    for name, build, (e, r) in (("ssim", image_quality_metrics, (est, ref)),
                                ("psnr", image_quality_metrics, (est, ref)),
                                ("si_sdr", audio_metrics, (wav_est, wav_ref)),
                                ("si_snr", audio_metrics, (wav_est, wav_ref))):
        kw = {"lpips": False} if build is image_quality_metrics else {"stoi": False}
        whole = _stream(build(**kw)[name], e, r, batch=len(e))
        parts = [build(**kw)[name] for _ in range(3)]
        for k, part in enumerate(parts):
            part.update(e[k::3], r[k::3])
        parts[2].merge_state(parts[0])
        parts[2].merge_state(parts[1])
        # the summed states are float32 (torchmetrics' defaults), so summation order shows at ~1e-7
        assert float(parts[2].compute()) == pytest.approx(whole, rel=1e-6), name


# --------------------------------------------------------------------------
# unavailable metrics are reported, not dropped
# --------------------------------------------------------------------------

def test_lpips_without_torchvision_is_a_named_stand_in_that_raises_on_use():
    try:
        import torchvision  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("torchvision is installed: LPIPS may be real here")
    lp = image_quality_metrics()["lpips"]
    assert isinstance(lp, UnavailableMetric) and lp.higher_is_better is False
    est, ref = _images(0, n=1)
    for call in (lambda: lp.update(est, None, ref), lp.compute, lp.state_dict, lambda: lp.merge(lp)):
        with pytest.raises(ImportError) as info:
            call()
        msg = str(info.value)
        assert "'lpips'" in msg and "torchvision" in msg and "mushin[image]" in msg and "lpips=False" in msg


def test_stoi_without_pystoi_is_a_named_stand_in(monkeypatch):
    import torchmetrics.audio.stoi as tm_stoi

    monkeypatch.setattr(tm_stoi, "_PYSTOI_AVAILABLE", False)
    m = audio_metrics()
    assert isinstance(m["stoi"], UnavailableMetric) and m["stoi"].higher_is_better is True
    with pytest.raises(ImportError, match=r"metric 'stoi' is unavailable: .*pystoi.*mushin\[audio\]"):
        m["stoi"].compute()


def test_docstring_examples_run():
    import doctest

    import mushin.metrics.signal as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
