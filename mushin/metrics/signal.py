"""Image-quality and audio metrics: torchmetrics objects built with upstream's arguments.

These tasks compare a generated signal with a reference one, and their
metrics (SSIM, PSNR, MS-SSIM, SI-SDR, SI-SNR, STOI) are torchmetrics objects
that mushin's generic torchmetrics adapter drives; the arguments are those of
upstream mushin-py 0.16.0's ``image_quality_battery`` and ``audio_battery``.
A metric whose optional dependency is missing (LPIPS needs torchvision and
downloaded backbone weights; STOI needs ``pystoi``) is not dropped: its entry
is an :class:`UnavailableMetric` that raises an ``ImportError`` naming the
metric, the reason and the way to enable it as soon as it is used. Pass
``lpips=False`` / ``stoi=False`` to leave such a metric out on purpose.

torchmetrics is imported inside the factories: it is needed only by the tasks
that use these metrics.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["UnavailableMetric", "image_quality_metrics", "audio_metrics"]


class UnavailableMetric:
    """Stand-in for a battery metric that cannot run in this environment.

    It keeps the battery's name and direction visible (tables and rankings
    still list the metric) and raises, on any use of the state protocol, an
    ``ImportError`` that says which metric, why, and how to enable it.

    Parameters
    ----------
    name : str
        The battery key (``"lpips"``).
    reason : str
        Why it cannot be built here (the underlying error).
    remedy : str
        What the user can do about it.
    higher_is_better : bool
        The metric's direction, as the real metric declares it.

    Examples
    --------
    >>> from mushin.metrics.signal import UnavailableMetric
    >>> m = UnavailableMetric("lpips", "torchvision is not installed",
    ...                       "pip install 'mushin[image]'", higher_is_better=False)
    >>> m.update(None, None, None)
    Traceback (most recent call last):
    ...
    ImportError: metric 'lpips' is unavailable: torchvision is not installed. To enable it: pip install 'mushin[image]'
    """

    def __init__(self, name: str, reason: str, remedy: str, *, higher_is_better: bool) -> None:
        self.name = name
        self.reason = reason
        self.remedy = remedy
        self.higher_is_better = higher_is_better

    def error(self) -> ImportError:
        """The error every use raises."""
        reason = self.reason.rstrip(". ")
        return ImportError(f"metric {self.name!r} is unavailable: {reason}. To enable it: {self.remedy}")

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error()

    update = merge = state_dict = load_state_dict = compute = reset = _fail

    def __repr__(self) -> str:
        return f"UnavailableMetric({self.name!r}, reason={self.reason!r})"


def image_quality_metrics(*, lpips: bool = True) -> dict[str, Any]:
    """Upstream's image-quality battery: ssim, psnr, ms_ssim and lpips.

    Images are ``(N, C, H, W)`` in ``[0, 1]`` (``data_range=1.0``); ``ms_ssim``
    with its default five scales and 11-pixel kernel needs ``H // 16 > 10`` and
    ``W // 16 > 10`` (sides of at least 176). LPIPS is
    ``LearnedPerceptualImagePatchSimilarity(normalize=True)``, which needs
    torchvision and its downloaded AlexNet weights; where it cannot be built
    its entry is an :class:`UnavailableMetric`. Every entry declares its
    direction in ``higher_is_better`` (LPIPS is a distance: lower is better).

    Parameters
    ----------
    lpips : bool
        ``False`` leaves LPIPS out of the battery on purpose.

    Returns
    -------
    dict
        ``{name: metric}``, a fresh object per call.

    Examples
    --------
    >>> import torch
    >>> from mushin.metrics.signal import image_quality_metrics
    >>> metrics = image_quality_metrics(lpips=False)
    >>> sorted(metrics)
    ['ms_ssim', 'psnr', 'ssim']
    >>> x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> metrics["psnr"].update(x.clamp(0, 0.9), x)
    >>> bool(metrics["psnr"].compute() > 20)
    True
    """
    from torchmetrics.image import (
        MultiScaleStructuralSimilarityIndexMeasure,
        PeakSignalNoiseRatio,
        StructuralSimilarityIndexMeasure,
    )

    metrics: dict[str, Any] = {
        "ssim": StructuralSimilarityIndexMeasure(data_range=1.0),
        "psnr": PeakSignalNoiseRatio(data_range=1.0),
        "ms_ssim": MultiScaleStructuralSimilarityIndexMeasure(data_range=1.0),
    }
    if lpips:
        metrics["lpips"] = _lpips()
    return metrics


def _lpips() -> Any:
    remedy = ("install torchvision and lpips (`pip install 'mushin[image]'`) with network access "
              "for the first download of the AlexNet weights, or leave LPIPS out with "
              "metrics=mushin.metrics.signal.image_quality_metrics(lpips=False)")
    try:
        # the submodule: torchmetrics.image only re-exports LPIPS when torchvision is present
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        return LearnedPerceptualImagePatchSimilarity(normalize=True)
    except (ImportError, OSError, RuntimeError) as e:
        # ImportError: torchvision or lpips missing; OSError/RuntimeError: weights not downloadable
        return UnavailableMetric("lpips", f"{type(e).__name__}: {e}", remedy, higher_is_better=False)


def audio_metrics(*, fs: int = 16000, stoi: bool = True) -> dict[str, Any]:
    """Upstream's audio battery: si_sdr, si_snr and stoi.

    Waveforms are ``(N, T)``. ``stoi`` is
    ``ShortTimeObjectiveIntelligibility(fs=fs, extended=False)`` and needs
    ``pystoi``; without it its entry is an :class:`UnavailableMetric`.
    All three are higher-is-better.

    Parameters
    ----------
    fs : int
        Sample rate for STOI (upstream fixes 16 kHz).
    stoi : bool
        ``False`` leaves STOI out of the battery on purpose.

    Returns
    -------
    dict
        ``{name: metric}``, a fresh object per call.

    Examples
    --------
    >>> import torch
    >>> from mushin.metrics.signal import audio_metrics
    >>> metrics = audio_metrics(stoi=False)
    >>> ref = torch.randn(2, 8000, generator=torch.Generator().manual_seed(0))
    >>> metrics["si_sdr"].update(ref + 0.1 * ref.roll(1, dims=1), ref)
    >>> bool(metrics["si_sdr"].compute() > 10)
    True
    """
    si_sdr, si_snr = _mergeable_si_classes()
    metrics: dict[str, Any] = {"si_sdr": si_sdr(), "si_snr": si_snr()}
    if stoi:
        try:
            from torchmetrics.audio.stoi import ShortTimeObjectiveIntelligibility

            metrics["stoi"] = ShortTimeObjectiveIntelligibility(fs=fs, extended=False)
        except ImportError as e:
            metrics["stoi"] = UnavailableMetric(
                "stoi", f"{type(e).__name__}: {e}",
                "install pystoi (`pip install 'mushin[audio]'`), or leave STOI out with "
                "metrics=mushin.metrics.signal.audio_metrics(stoi=False)", higher_is_better=True)
    return metrics


@functools.lru_cache(maxsize=None)
def _mergeable_si_classes() -> tuple[type, type]:
    """SI-SDR and SI-SNR whose states torchmetrics' ``merge_state`` accepts.

    torchmetrics 1.9 leaves ``full_state_update`` unset (None) on these two,
    and ``merge_state()`` then refuses them (the attribute is read-only on an
    instance). Their states are plain sums, so a state-wise merge is exact;
    the subclasses only declare that.
    """
    from torchmetrics.audio import ScaleInvariantSignalDistortionRatio, ScaleInvariantSignalNoiseRatio

    class MergeableSISDR(ScaleInvariantSignalDistortionRatio):
        full_state_update = False

    class MergeableSISNR(ScaleInvariantSignalNoiseRatio):
        full_state_update = False

    return MergeableSISDR, MergeableSISNR
