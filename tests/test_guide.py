"""Every ``compare`` code block of the segmentation guide, run as written.

The blocks are copied verbatim from the guide and executed; the names they
assume (``_train``, ``_tiny_seg_model``, ``fcn_models``, ``deeplab_models``,
``val_loader``) are small stand-ins defined here.  torchvision is not needed:
its segmentation models are replaced by tiny modules returning
``{"out": logits}``.  The guide's ``Study`` block belongs to the Study tests.
"""
import os
import re
import textwrap
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mushin import BenchmarkResult, compare
from torch_threads import one_torch_thread

SEGMENTATION_PAGE = os.path.join(os.path.dirname(__file__), "..", "docs", "segmentation.md")
GUIDE_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "seeds", "000_db5ca15630dd1122.txt")

GUIDE_RUN = textwrap.dedent(
    '''
    def run(
        loader: DataLoader,
        *,
        in_channels: int = 3,
        num_classes: int = 4,
        seeds=(0, 1, 2),
    ) -> BenchmarkResult:
        """Train two tiny segmentation models per seed, then compare."""
        methods: dict[str, list[nn.Module]] = {"model_a": [], "model_b": []}
        for seed in seeds:
            torch.manual_seed(seed)
            methods["model_a"].append(
                _train(_tiny_seg_model(in_channels, num_classes), loader)
            )
            torch.manual_seed(seed + 100)
            methods["model_b"].append(
                _train(_tiny_seg_model(in_channels, num_classes), loader)
            )

        return compare(
            methods,
            data=loader,
            task="segmentation",
            num_classes=num_classes,
            test="welch",
        )
    '''
)

GUIDE_IGNORE_INDEX = textwrap.dedent(
    """
    # fcn_models and deeplab_models are each a list of trained nn.Module (one per seed)
    result = compare(
        methods={"fcn": fcn_models, "deeplab": deeplab_models},
        data=val_loader,
        task="segmentation",
        num_classes=21,
        ignore_index=255,
    )
    """
)

GUIDE_PREDICT_FN = textwrap.dedent(
    '''
    def torchvision_seg_predict(model, x):
        """Adapt a torchvision segmentation model (returns {"out": logits})."""
        logits = model(x)["out"]
        probs = logits.softmax(dim=1)
        return probs.argmax(dim=1), probs
    '''
)

GUIDE_COMPARE_PREDICT_FN = textwrap.dedent(
    """
    compare(
        {"fcn": fcn_models, "deeplab": deeplab_models},
        data=val_loader,
        task="segmentation",
        num_classes=21,
        ignore_index=255,
        predict_fn=torchvision_seg_predict,
    )
    """
)


@pytest.fixture(autouse=True, scope="module")
def _single_torch_thread():
    # the tensors here are tiny: handing them to a second thread costs more
    # than the work, and on a busy machine far more
    with one_torch_thread():
        yield


# ----------------------------------------------------------- stand-ins --


def _tiny_seg_model(in_channels, num_classes):
    """The guide's minimal model: (N, C, H, W) -> (N, num_classes, H, W) logits."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, num_classes, 1),
    )


def _train(model, loader, epochs=2):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y.long(), ignore_index=255)
            loss.backward()
            optimizer.step()
    return model


def synthetic_masks(n, num_classes, in_channels=3, size=12, void=False, seed=0):
    """Images whose first channel says the class of each pixel, plus noise."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, num_classes, (n, size, size), generator=gen)
    x = torch.randn(n, in_channels, size, size, generator=gen) * 0.5
    x[:, 0] += y.float()
    if void:
        y[:, 0, :] = 255  # a void border row, as in PASCAL VOC
        y[:, :, -1] = 255
    return DataLoader(TensorDataset(x, y.to(torch.uint8) if void else y), batch_size=4)


class TorchvisionLike(nn.Module):
    """Stands in for a torchvision segmentation model: returns {"out": logits}."""

    def __init__(self, in_channels=3, num_classes=21):
        super().__init__()
        self.backbone = nn.Conv2d(in_channels, num_classes, 1)

    def forward(self, x):
        return {"out": self.backbone(x), "aux": self.backbone(x) * 0.5}


def _run_block(source, namespace):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        exec(compile(source, "<guide>", "exec"), namespace)
    return namespace


def _guide_namespace(**names):
    namespace = {
        "torch": torch,
        "nn": nn,
        "DataLoader": DataLoader,
        "compare": compare,
        "BenchmarkResult": BenchmarkResult,
    }
    namespace.update(names)
    return namespace


# ------------------------------------------------------------- blocks --


def test_guide_runnable_example():
    loader = synthetic_masks(16, num_classes=4, seed=1)
    namespace = _run_block(
        GUIDE_RUN, _guide_namespace(_train=_train, _tiny_seg_model=_tiny_seg_model)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = namespace["run"](loader)
    assert isinstance(result, BenchmarkResult)
    assert result.methods == ["model_a", "model_b"]
    assert list(result.data["seed"].values) == [0, 1, 2]
    assert list(result.metrics) == ["miou", "dice", "pixel_acc", "precision", "recall"]
    assert result.confusion.shape == (2, 3, 4, 4)
    # every model saw every pixel once
    assert (result.confusion.values.sum(axis=(2, 3)) == 16 * 12 * 12).all()
    values = result.data["pixel_acc"].values
    assert ((values > 0) & (values <= 1)).all()
    assert np.unique(values).size == values.size  # seeds differ
    assert set(result.comparisons["metric"]) == set(result.metrics)
    assert "model_b" in result.summary()["method"].values


@pytest.fixture(scope="module")
def val_loader():
    return synthetic_masks(10, num_classes=21, void=True, seed=2)


@pytest.fixture(scope="module")
def trained_models(val_loader):
    torch.manual_seed(0)
    fcn = [_train(_tiny_seg_model(3, 21), val_loader, epochs=1) for _ in range(3)]
    deeplab = [_train(_tiny_seg_model(3, 21), val_loader, epochs=1) for _ in range(3)]
    return fcn, deeplab


def test_guide_ignore_index_block(val_loader, trained_models):
    fcn_models, deeplab_models = trained_models
    namespace = _run_block(
        GUIDE_IGNORE_INDEX,
        _guide_namespace(fcn_models=fcn_models, deeplab_models=deeplab_models, val_loader=val_loader),
    )
    result = namespace["result"]
    assert result.methods == ["fcn", "deeplab"]
    assert result.settings["ignore_index"] == 255
    # void pixels are left out of every count
    counted = sum(int((y != 255).sum()) for _, y in val_loader)
    assert counted < 10 * 12 * 12
    assert (result.confusion.values.sum(axis=(2, 3)) == counted).all()


def test_guide_predict_fn_blocks_with_dict_models(val_loader):
    torch.manual_seed(1)
    fcn_models = [TorchvisionLike() for _ in range(3)]
    deeplab_models = [TorchvisionLike() for _ in range(3)]
    namespace = _guide_namespace(fcn_models=fcn_models, deeplab_models=deeplab_models, val_loader=val_loader)
    _run_block(GUIDE_PREDICT_FN, namespace)
    _run_block("result = " + GUIDE_COMPARE_PREDICT_FN.strip(), namespace)
    result = namespace["result"]
    assert isinstance(result, BenchmarkResult)
    assert result.methods == ["fcn", "deeplab"]

    # the same logits as plain tensors through the default predict_fn count alike
    plain = {
        "fcn": [m.backbone for m in fcn_models],
        "deeplab": [m.backbone for m in deeplab_models],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        reference = compare(plain, val_loader, task="segmentation", num_classes=21, ignore_index=255)
    np.testing.assert_array_equal(result.confusion.values, reference.confusion.values)


def test_guide_pitfall_dict_models_need_a_predict_fn(val_loader):
    with pytest.raises(TypeError, match="pass predict_fn"):
        compare({"fcn": [TorchvisionLike()]}, val_loader, task="segmentation", num_classes=21, ignore_index=255)


def test_guide_pitfall_predictions_returned_twice(val_loader):
    def predict_twice(model, x):
        preds = model(x)["out"].argmax(dim=1)
        return preds, preds

    models = [TorchvisionLike() for _ in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = compare({"a": models}, val_loader, task="segmentation", num_classes=21, ignore_index=255,
                         predict_fn=predict_twice)
    assert result.confusion.shape == (1, 2, 21, 21)


def _squash(text):
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.skipif(not os.path.exists(GUIDE_PATH), reason="the guide text is not in this checkout")
def test_blocks_here_are_the_guides_blocks():
    with open(GUIDE_PATH, encoding="utf-8") as handle:
        guide = _squash(handle.read())
    for block in (GUIDE_RUN, GUIDE_IGNORE_INDEX, GUIDE_PREDICT_FN, GUIDE_COMPARE_PREDICT_FN):
        assert _squash(block) in guide


def test_blocks_here_are_in_the_segmentation_page():
    # docs/segmentation.md carries the guide in the repository, so this runs
    # in any checkout, where the test above may find no guide text to read
    with open(SEGMENTATION_PAGE, encoding="utf-8") as handle:
        page = _squash(handle.read())
    for block in (GUIDE_RUN, GUIDE_IGNORE_INDEX, GUIDE_PREDICT_FN, GUIDE_COMPARE_PREDICT_FN):
        assert _squash(block) in page
