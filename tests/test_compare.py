"""compare(): the streaming contract (re-iterable data, eval mode, no_grad,
device), predict_fn rules, every bad-input error before or during the run,
the degenerate statistics rules and what BenchmarkResult exposes."""
import math
import warnings

import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

import reference as ref
from mushin import BenchmarkResult, compare
from mushin.evaluation.compare import DeviceConfusionMatrix
from mushin.metrics.tasks import get_task
from torch_threads import one_torch_thread

C = 4


def make_data(n_batches=3, seed=0, shape=(2, 6, 6), num_classes=C):
    """Batches whose x encodes the batch index (read by ReplayModel)."""
    gen = torch.Generator().manual_seed(seed)
    return [
        (torch.full((shape[0], 3, shape[1], shape[2]), float(i)), torch.randint(0, num_classes, shape, generator=gen))
        for i in range(n_batches)
    ]


class ReplayModel(nn.Module):
    """Logits whose argmax is a stored prediction for each batch index."""

    def __init__(self, predictions, num_classes=C):
        super().__init__()
        self.predictions = [torch.as_tensor(p) for p in predictions]
        self.num_classes = num_classes
        self.scale = nn.Parameter(torch.ones(()))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        index = int(x[0, 0, 0, 0])
        one_hot = nn.functional.one_hot(self.predictions[index], self.num_classes)
        return one_hot.permute(0, 3, 1, 2).float() * self.scale


def noisy_models(data, noise_levels, seed=0, num_classes=C):
    """One ReplayModel per noise level: labels with that fraction replaced at random."""
    rng = np.random.default_rng(seed)
    models = []
    for noise in noise_levels:
        preds = []
        for _, y in data:
            guess = rng.integers(0, num_classes, tuple(y.shape))
            flip = rng.random(tuple(y.shape)) < noise
            preds.append(np.where(flip, guess, y.numpy()))
        models.append(ReplayModel(preds, num_classes))
    return models


class Recorder(nn.Module):
    """Records the mode and autograd state it is called in."""

    def __init__(self, num_classes=C):
        super().__init__()
        self.conv = nn.Conv2d(3, num_classes, 1)
        self.seen = []

    def forward(self, x):
        self.seen.append((self.training, torch.is_grad_enabled(), x.device.type))
        return self.conv(x)


@pytest.fixture
def data():
    return make_data()


def _quiet_compare(*args, **kwargs):
    # the task and test these cases were written for (compare's defaults were segmentation, welch)
    if len(args) < 3:
        kwargs.setdefault("task", "segmentation")
    kwargs.setdefault("test", "welch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return compare(*args, **kwargs)


@pytest.fixture(autouse=True, scope="module")
def _single_torch_thread():
    # the tensors here are tiny: handing them to a second thread costs more
    # than the work, and on a busy machine far more
    with one_torch_thread():
        yield


# ------------------------------------------------------------ streaming --


def test_both_import_paths_are_the_same_objects():
    from mushin.benchmark import BenchmarkResult as B2
    from mushin.benchmark import compare as c2

    assert c2 is compare and B2 is BenchmarkResult


def _one_shot(data, kind):
    return {
        "iterator": lambda: iter(data),
        "generator": lambda: (batch for batch in data),
        "map": lambda: map(lambda b: b, data),
    }[kind]()


@pytest.mark.parametrize("kind", ["iterator", "generator", "map"])
def test_one_shot_data_is_a_type_error_one_model_at_a_time_before_any_model_runs(data, kind):
    model = Recorder()
    with pytest.raises(TypeError, match="one-shot .* exhausted after the first model") as raised:
        compare({"a": [model, model]}, _one_shot(data, kind), num_classes=C, task="segmentation", test="welch", one_pass=False)
    assert "Leave one_pass=True" in str(raised.value)
    assert model.seen == []


@pytest.mark.parametrize("kind", ["iterator", "generator", "map"])
def test_one_shot_data_works_in_one_pass_and_equals_a_list(data, kind):
    models = [Recorder(), Recorder()]
    one_shot = _quiet_compare({"a": models}, _one_shot(data, kind), num_classes=C)
    assert all(len(model.seen) == len(data) for model in models)
    listed = _quiet_compare({"a": models}, data, num_classes=C, one_pass=False)
    np.testing.assert_array_equal(one_shot.confusion.values, listed.confusion.values)


def test_models_run_in_eval_mode_under_no_grad_and_get_their_mode_back(data):
    training = [Recorder(), Recorder()]
    evaluating = [Recorder().eval(), Recorder().eval()]
    _quiet_compare({"a": training, "b": evaluating}, data, num_classes=C)
    for model in training + evaluating:
        assert len(model.seen) == len(data)
        assert all(seen == (False, False, "cpu") for seen in model.seen)
    assert all(model.training for model in training)
    assert not any(model.training for model in evaluating)
    assert torch.is_grad_enabled()


def test_training_flag_restored_when_a_model_fails(data):
    class Failing(Recorder):
        def forward(self, x):
            raise RuntimeError("boom")

    model = Failing()
    with pytest.raises(RuntimeError, match="boom"):
        compare({"a": [model]}, data, num_classes=C, task="segmentation", test="welch")
    assert model.training


def test_every_model_sees_every_batch_once(data):
    models = noisy_models(data, [0.1, 0.2, 0.3])
    _quiet_compare({"a": models[:2], "b": models[2:]}, data, num_classes=C)
    assert [m.calls for m in models] == [len(data)] * 3


def test_models_are_evaluated_on_the_device_of_their_parameters(data):
    class OnMeta(nn.Module):
        """Parameters on the meta device; answers with CPU logits of the right shape."""

        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(3, device="meta"))
            self.devices = []

        def forward(self, x):
            self.devices.append(x.device.type)
            n, _, h, w = x.shape
            logits = torch.zeros(n, C, h, w)
            logits[:, 1] = 1.0
            return logits

    model = OnMeta()
    result = _quiet_compare({"a": [model, OnMeta()]}, data, num_classes=C)
    assert model.devices == ["meta"] * len(data)
    assert result.data["pixel_acc"].shape == (1, 2)


# ----------------------------------------------------------- predict_fn --


@pytest.mark.parametrize(
    "returned, text",
    [
        (lambda logits: logits.argmax(1), "got Tensor"),
        (lambda logits: (logits.argmax(1),), "got a tuple of length 1"),
        (lambda logits: (logits.argmax(1), logits, logits), "got a tuple of length 3"),
        (lambda logits: [logits.argmax(1), logits], "got list"),
    ],
)
def test_predict_fn_must_return_a_two_tuple(data, returned, text):
    def predict_fn(model, x):
        return returned(model(x))

    with pytest.raises(TypeError, match=rf"predict_fn must return a 2-tuple \(predictions, probabilities\), {text}"):
        compare({"a": [Recorder()]}, data, num_classes=C, predict_fn=predict_fn, task="segmentation", test="welch")


def test_predictions_twice_is_a_valid_two_tuple(data):
    models = noisy_models(data, [0.1, 0.3])

    def predict_fn(model, x):
        preds = model(x).argmax(dim=1)
        return preds, preds

    default = _quiet_compare({"a": models}, data, num_classes=C)
    custom = _quiet_compare({"a": models}, data, num_classes=C, predict_fn=predict_fn)
    np.testing.assert_array_equal(default.confusion.values, custom.confusion.values)


def test_dict_output_with_default_predict_fn_says_to_pass_predict_fn(data):
    class DictModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, C, 1)

        def forward(self, x):
            return {"out": self.conv(x), "aux": self.conv(x)}

    with pytest.raises(TypeError, match=r"returned a dict \(keys: 'out', 'aux'\).*pass predict_fn=\.\.\."):
        compare({"a": [DictModel()]}, data, num_classes=C, task="segmentation", test="welch")


def test_predict_fn_returning_logits_is_checked_against_num_classes(data):
    def logits_fn(model, x):
        logits = model(x)
        return logits, logits.softmax(1)

    with pytest.raises(ValueError, match=r"logits of shape \(2, 5, 6, 6\) have 5 classes in dim 1, but num_classes=4"):
        compare({"a": [nn.Conv2d(3, 5, 1)]}, data, num_classes=C, predict_fn=logits_fn, task="segmentation", test="welch")


# ------------------------------------------------------------ bad input --


def test_num_classes_is_required(data):
    with pytest.raises(ValueError, match=r"compare\(task='segmentation'\) needs num_classes="):
        compare({"a": [Recorder()]}, data, task="segmentation", test="welch")


@pytest.mark.parametrize("model_classes", [3, 6])
def test_logits_class_dim_must_equal_num_classes(data, model_classes):
    with pytest.raises(
        ValueError,
        match=rf"logits of shape \(2, {model_classes}, 6, 6\) with {model_classes} classes in dim 1, but num_classes=4",
    ):
        compare({"a": [nn.Conv2d(3, model_classes, 1)]}, data, num_classes=C, task="segmentation", test="welch")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_float_labels_are_a_type_error_naming_the_dtype(dtype):
    data = [(torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=dtype))]
    with pytest.raises(TypeError, match=rf"batch 0: labels have dtype {dtype}; labels must be integer"):
        compare({"a": [Recorder()]}, data, num_classes=C, task="segmentation", test="welch")


def test_prediction_and_label_shapes_must_match():
    data = [(torch.zeros(2, 3, 8, 8), torch.zeros(2, 4, 4, dtype=torch.long))]
    with pytest.raises(ValueError, match=r"predictions of shape \(2, 8, 8\) do not match labels of shape \(2, 4, 4\)"):
        compare({"a": [Recorder()]}, data, num_classes=C, task="segmentation", test="welch")


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"test": "ttest_welch"}, r"unknown test 'ttest_welch'; valid tests: \[.*'welch'.*\]"),
        ({"correction": "holmes"}, r"unknown correction 'holmes'; valid corrections: \[.*'holm'.*\]"),
        ({"task": "depth-estimation"}, r"unknown task 'depth-estimation'; registered tasks: \[.*'segmentation'.*\]"),
        ({"alpha": 1.5}, r"alpha must be in \(0, 1\), got 1.5"),
    ],
)
def test_bad_settings_are_refused_before_any_model_runs(data, kwargs, text):
    model = Recorder()
    with pytest.raises(ValueError, match=text):
        compare({"a": [model]}, data, num_classes=C, **kwargs)
    assert model.seen == []


@pytest.mark.parametrize(
    "methods, exc, text",
    [
        ([Recorder()], TypeError, "methods must be a non-empty dict"),
        ({}, TypeError, "methods must be a non-empty dict"),
        ({"a": Recorder()}, TypeError, r"methods\['a'\] must be a list of models"),
        ({"a": []}, ValueError, r"methods\['a'\] is empty"),
        ({"a": ["not a model"]}, TypeError, r"methods\['a'\]\[0\] is a str, not a callable model"),
    ],
)
def test_malformed_methods_are_refused(data, methods, exc, text):
    with pytest.raises(exc, match=text):
        compare(methods, data, num_classes=C, task="segmentation", test="welch")


def test_bad_label_value_in_a_batch_names_the_tensor(data):
    bad = [(x, y.clone()) for x, y in data]
    bad[1][1][0, 2, 3] = 9
    with pytest.raises(ValueError, match=r"target holds 1 value outside \[0, 4\) \(first: 9"):
        compare({"a": [Recorder()]}, bad, num_classes=C, task="segmentation", test="welch")


def test_label_255_without_ignore_index_is_bad_and_with_it_is_skipped(data):
    void = [(x, y.clone().to(torch.uint8)) for x, y in data]
    void[0][1][:, 0, :] = 255
    with pytest.raises(ValueError, match=r"target holds 12 values outside \[0, 4\) \(first: 255"):
        compare({"a": [Recorder()]}, void, num_classes=C, task="segmentation", test="welch")
    result = _quiet_compare({"a": [Recorder(), Recorder()]}, void, num_classes=C, ignore_index=255)
    n_counted = sum(int((y != 255).sum()) for _, y in void)
    assert (result.confusion.values.sum(axis=(2, 3)) == n_counted).all()


def test_bad_prediction_value_names_preds(data):
    def predict_fn(model, x):
        preds = model(x).argmax(1)
        preds[0, 0, 0] = 11
        return preds, preds

    with pytest.raises(ValueError, match=r"preds holds 1 value outside \[0, 4\) \(first: 11"):
        compare({"a": [Recorder()]}, data, num_classes=C, predict_fn=predict_fn, task="segmentation", test="welch")


# ----------------------------------------------------- degenerate stats --


def test_one_seed_gives_nan_p_and_is_never_significant(data):
    good, bad = noisy_models(data, [0.0, 0.9])
    with pytest.warns(UserWarning, match="significance needs at least two seeds"):
        result = compare({"good": [good], "bad": [bad]}, data, num_classes=C, task="segmentation", test="welch")
    comp = result.comparisons
    assert comp["p_value"].isna().all() and comp["p_corrected"].isna().all()
    assert not comp["significant"].any()
    # an untested pair is "n/a" with its reason, never a blank (was pinned as "")
    summary = result.summary()
    assert summary.set_index("method").loc["bad", "significant_vs_ref"].eq("n/a").all()
    assert summary.set_index("method").loc["bad", "note"].eq("n/a: one seed").all()
    assert result.summary()["ci_low"].isna().all()


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy on a constant sample
def test_constant_method_against_a_varying_one_is_tested(data):
    # this pinned the old masking (NaN + warning); a constant method against a
    # varying one is a well-defined Welch test (SPEC "Statistics")
    import scipy.stats

    constant = noisy_models(data, [0.3], seed=1) * 3  # one model three times: no seed variance
    varied = noisy_models(data, [0.1, 0.2, 0.3], seed=2)
    result = _quiet_compare({"varied": varied, "constant": constant}, data, num_classes=C)
    comp = result.comparisons
    assert len(comp) == len(result.metrics)
    for _, row in comp.iterrows():
        a, b = result.scores(row.metric, "varied"), result.scores(row.metric, "constant")
        expected = scipy.stats.ttest_ind(a, b, equal_var=False).pvalue
        assert row.p_value == pytest.approx(expected, rel=1e-8) and row.note == ""


def test_identical_methods_with_variance_give_p_one(data):
    models = noisy_models(data, [0.1, 0.4, 0.7])
    result = _quiet_compare({"a": models, "b": models}, data, num_classes=C)
    comp = result.comparisons
    assert (comp["p_value"] == 1.0).all()
    assert (comp["mean_diff"] == 0.0).all()
    assert not comp["significant"].any()


# --------------------------------------------------------- the result --


@pytest.fixture(scope="module")
def ranked():
    data = make_data(n_batches=4, seed=3, shape=(2, 16, 16))
    methods = {
        "good": noisy_models(data, [0.05, 0.08, 0.06, 0.07], seed=4),
        "bad": noisy_models(data, [0.6, 0.65, 0.7, 0.62], seed=5),
        "similar": noisy_models(data, [0.05, 0.09, 0.06, 0.08], seed=6),
    }
    result = _quiet_compare(methods, data, num_classes=C, ignore_index=255)
    return result, methods, data


def test_data_has_method_and_seed_dims(ranked):
    result, methods, _ = ranked
    assert isinstance(result, BenchmarkResult)
    assert list(result.metrics) == ["miou", "dice", "pixel_acc", "precision", "recall"]
    for name in result.metrics:
        assert result.data[name].dims == ("method", "seed")
        assert result.data[name].dtype == np.float64
    assert list(result.data["method"].values) == ["good", "bad", "similar"]
    assert list(result.data["seed"].values) == [0, 1, 2, 3]


def test_confusion_holds_the_counts_and_rederives_the_data(ranked):
    result, methods, data = ranked
    conf = result.confusion
    assert conf.dims == ("method", "seed", "target", "prediction")
    assert conf.shape == (3, 4, C, C)
    battery = get_task("segmentation").battery
    for method, models in methods.items():
        for seed, model in enumerate(models):
            counts = conf.sel({"method": method, "seed": seed}).values
            want_counts = sum(
                ref.confusion_counts(p.numpy(), y.numpy(), C, 255) for p, (_, y) in zip(model.predictions, data)
            )
            np.testing.assert_array_equal(counts, want_counts)
            for metric, fn in battery.items():
                assert fn(counts, 255) == float(result.data[metric].sel({"method": method, "seed": seed}))
    again = BenchmarkResult.from_confusion(
        {m: conf.sel({"method": m}).values for m in methods}, task="segmentation", ignore_index=255
    )
    for metric in result.metrics:
        np.testing.assert_array_equal(again.data[metric].values, result.data[metric].values)


def test_comparisons_table_columns_and_values(ranked):
    result, _, _ = ranked
    comp = result.comparisons
    for column in ["metric", "method_a", "method_b", "mean_diff", "effect_size", "p_value", "p_corrected", "significant"]:
        assert column in comp.columns
    assert len(comp) == 5 * 3
    for metric in result.metrics:
        rows = comp[comp["metric"] == metric]
        assert [tuple(r) for r in rows[["method_a", "method_b"]].values] == [
            ("good", "bad"),
            ("good", "similar"),
            ("bad", "similar"),
        ]
        family = []
        for _, row in rows.iterrows():
            a = result.data[metric].sel({"method": row["method_a"]}).values
            b = result.data[metric].sel({"method": row["method_b"]}).values
            want = scipy.stats.ttest_ind(a, b, equal_var=False)
            assert row["p_value"] == pytest.approx(want.pvalue, rel=1e-8, abs=1e-300)
            assert row["mean_diff"] == pytest.approx(a.mean() - b.mean(), rel=1e-12, abs=1e-15)
            assert row["effect_size"] == pytest.approx(ref.cohens_d(a, b), rel=1e-10)
            family.append(row["p_value"])
        np.testing.assert_allclose(rows["p_corrected"].values, ref.holm(family), rtol=1e-14)
        assert (rows["significant"].values == (ref.holm(family) < 0.05)).all()


def test_summary_columns_ci_and_significance_marks(ranked):
    result, _, _ = ranked
    summary = result.summary()
    spec_columns = ["method", "metric", "mean", "ci_low", "ci_high", "significant_vs_ref"]
    assert [c for c in summary.columns if c in spec_columns] == spec_columns
    assert len(summary) == 3 * 5
    for _, row in summary.iterrows():
        values = result.data[row["metric"]].sel({"method": row["method"]}).values
        low, high = scipy.stats.t.interval(0.95, values.size - 1, loc=values.mean(), scale=scipy.stats.sem(values))
        assert row["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert row["ci_low"] == pytest.approx(low, rel=1e-8, abs=1e-12)
        assert row["ci_high"] == pytest.approx(high, rel=1e-8, abs=1e-12)
    marks = summary.set_index(["method", "metric"])["significant_vs_ref"]
    comp = result.comparisons
    for metric in result.metrics:
        assert marks[("good", metric)] == ""  # the reference itself
        for other in ("bad", "similar"):
            row = comp[(comp["metric"] == metric) & (comp["method_a"] == "good") & (comp["method_b"] == other)]
            assert marks[(other, metric)] == ("*" if bool(row["significant"].iloc[0]) else "")
    assert marks[("bad", "pixel_acc")] == "*"
    assert marks[("similar", "pixel_acc")] == ""


def test_summary_against_another_reference(ranked):
    result, _, _ = ranked
    marks = result.summary(reference="bad").set_index(["method", "metric"])["significant_vs_ref"]
    assert marks[("bad", "pixel_acc")] == ""
    assert marks[("good", "pixel_acc")] == "*"
    assert marks[("similar", "pixel_acc")] == "*"
    with pytest.raises(ValueError, match="reference 'nope' is not one of the methods"):
        result.summary(reference="nope")


def test_summary_ci_level_follows_alpha(data):
    models = noisy_models(data, [0.1, 0.3, 0.2, 0.25])
    result = _quiet_compare({"a": models[:2], "b": models[2:]}, data, num_classes=C, alpha=0.2)
    row = result.summary().iloc[0]
    values = result.data[row["metric"]].sel({"method": row["method"]}).values
    low, high = scipy.stats.t.interval(0.8, values.size - 1, loc=values.mean(), scale=scipy.stats.sem(values))
    assert row["ci_low"] == pytest.approx(low, rel=1e-8)
    assert row["ci_high"] == pytest.approx(high, rel=1e-8)


# ----------------------------------------------- device accumulation path --


@pytest.mark.parametrize("ignore_index", [None, 255, 2])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32, torch.int64])
def test_device_confusion_matrix_counts_like_the_c_path(ignore_index, dtype):
    from mushin import ConfusionMatrix

    gen = torch.Generator().manual_seed(0)
    on_device = DeviceConfusionMatrix(7, ignore_index, "cpu")
    in_c = ConfusionMatrix(7, ignore_index=ignore_index)
    for i in range(4):
        target = torch.randint(0, 7, (3, 9, 11), generator=gen)
        preds = torch.randint(0, 7, (3, 9, 11), generator=gen)
        if ignore_index is not None:
            void = torch.rand((3, 9, 11), generator=gen) < 0.3
            target[void] = ignore_index
            if ignore_index == 255:
                preds[void & (torch.rand((3, 9, 11), generator=gen) < 0.5)] = 255
        preds, target = preds.to(dtype), target.to(dtype)
        view_p, view_t = (preds.transpose(1, 2), target.transpose(1, 2)) if i % 2 else (preds, target)
        on_device.update(view_p, view_t)
        in_c.update(view_p, view_t)
    np.testing.assert_array_equal(on_device.counts, in_c.counts)


def test_device_confusion_matrix_drops_bad_batches_and_reports_at_the_end():
    on_device = DeviceConfusionMatrix(3, 255, "cpu")
    on_device.update(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 255]))
    on_device.update(torch.tensor([0, 7, 2]), torch.tensor([0, 1, 2]))  # bad prediction
    on_device.update(torch.tensor([0, 1, 2]), torch.tensor([5, 1, 2]))  # bad target
    on_device.update(torch.tensor([2, 255]), torch.tensor([2, 1]))  # 255 predicted where not void
    with pytest.raises(ValueError) as info:
        on_device.counts  # noqa: B018
    message = str(info.value)
    assert "target held 1 value(s) outside [0, 3)" in message
    assert "preds held 2 value(s) outside [0, 3)" in message
    assert "batch(es) [1, 2, 3]" in message
    assert on_device._counts.reshape(3, 3).tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_models_count_on_the_device_like_cpu_models(data):  # pragma: no cover - CPU-only CI
    cpu_models = noisy_models(data, [0.1, 0.3])
    cuda_models = noisy_models(data, [0.1, 0.3])
    for model in cuda_models:
        model.predictions = [p.cuda() for p in model.predictions]
        model.cuda()
    on_cpu = _quiet_compare({"a": cpu_models}, data, num_classes=C)
    on_cuda = _quiet_compare({"a": cuda_models}, data, num_classes=C)
    np.testing.assert_array_equal(on_cpu.confusion.values, on_cuda.confusion.values)


def test_comparisons_and_summary_have_no_nan_for_healthy_runs(ranked):
    result, _, _ = ranked
    assert not result.comparisons["p_value"].isna().any()
    assert not result.summary()[["mean", "ci_low", "ci_high"]].isna().any().any()
    assert all(math.isfinite(v) for v in result.comparisons["effect_size"])
