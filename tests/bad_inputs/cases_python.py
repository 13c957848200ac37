"""Bad input to the Python API: compare(), Study and its manifest, BenchmarkResult.save/load.

Every error must name the argument, the place (method, seed, batch; the
manifest and run; the file and line) and leave models, data and files as
they were.
"""

from bad_input_case import case

# ----------------------------------------------------------------- compare --

_CMP = (
    "from torch import nn\n"
    "import mushin\n"
    "def compare(methods, data, task='segmentation', **kwargs):\n"
    "    kwargs.setdefault('test', 'welch')  # the task and test these cases were written for\n"
    "    return mushin.compare(methods, data, task, **kwargs)\n"
    "torch.manual_seed(0)\n"
    "data = [(torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))) for _ in range(2)]\n"
    "methods = {'a': [nn.Conv2d(3, 3, 1), nn.Conv2d(3, 3, 1)], 'b': [nn.Conv2d(3, 3, 1), nn.Conv2d(3, 3, 1)]}\n"
    "def bad_label(batch, value):\n"
    "    out = [(x, y.clone()) for x, y in data]\n"
    "    out[batch][1][0, 1, 2] = value\n"
    "    return out\n"
)
# models untouched (weights, train/eval mode), data untouched, no file written
_CMP_STATE = (
    "(tree_digest(tmp), [m.training for ms in methods.values() for m in ms], "
    "[float(p.sum()) for ms in methods.values() for m in ms for p in m.parameters()], "
    "[y.tolist() for _, y in data])"
)
_CLS = (
    "from torch import nn\n"
    "from mushin import compare\n"
    "torch.manual_seed(0)\n"
    "data = [(torch.randn(4, 6), torch.tensor([0, 1, 2, 1]))]\n"
    "methods = {'a': [nn.Linear(6, 3), nn.Linear(6, 3)]}\n"
)
_CLS_STATE = "([float(p.sum()) for m in methods['a'] for p in m.parameters()], data[0][1].tolist())"


def _compare(id, call, error, match, setup=_CMP, state=_CMP_STATE, extra=""):
    return case(f"python_compare_{id}", setup + extra, call, error, match, state)


_A0 = r"method 'a', seed 0 \(methods\['a'\]\[0\]\)"

CASES = [
    _compare("empty_list", "compare(methods, [], num_classes=3)", "ValueError", r"data is empty"),
    _compare("empty_iterable", "compare(methods, Empty(), num_classes=3)", "ValueError",
             r"data yielded no batches for " + _A0,
             extra="class Empty:\n    def __iter__(self):\n        return iter(())\n"),
    _compare("data_runs_out_after_one_model", "compare(methods, Once(), num_classes=3, one_pass=False)", "ValueError",
             r"data yielded no batches for method 'a', seed 1 .*it yielded 2 for " + _A0,
             extra=("class Once:\n    n = 0\n    def __iter__(self):\n        self.n += 1\n"
                    "        return iter(data if self.n == 1 else ())\n")),
    _compare("data_changes_between_models", "compare(methods, Shrinking(), num_classes=3, one_pass=False)", "ValueError",
             r"data yielded 1 batch\(es\) for method 'a', seed 1 .*but 2 for " + _A0,
             extra=("class Shrinking:\n    n = 0\n    def __iter__(self):\n        self.n += 1\n"
                    "        return iter(data if self.n == 1 else data[:1])\n")),
    _compare("generator", "compare(methods, (b for b in data), num_classes=3, one_pass=False)", "TypeError",
             r"data is a one-shot generator"),
    _compare("map_iterator", "compare(methods, map(tuple, data), num_classes=3, one_pass=False)", "TypeError",
             r"data is a one-shot map"),
    _compare("data_not_iterable", "compare(methods, 3, num_classes=3)", "TypeError",
             r"data must be an iterable of \(x, y\) batches"),
    _compare("bad_label_names_method_seed_batch", "compare(methods, bad_label(1, 7), num_classes=3)",
             "ValueError", _A0 + r", batch 1: target holds 1 value outside \[0, 3\)"),
    _compare("negative_label", "compare(methods, bad_label(0, -1), num_classes=3)", "ValueError",
             _A0 + r", batch 0: target holds 1 value outside \[0, 3\) \(first: -1"),
    _compare("void_255_without_ignore_index", "compare(methods, bad_label(1, 255), num_classes=3)",
             "ValueError", r"batch 1: .*if 255 marks void pixels, pass ignore_index=255"),
    _compare("label_above_num_classes_hint", "compare(methods, bad_label(0, 9), num_classes=3)", "ValueError",
             r"if 9 marks void pixels, pass ignore_index=9, or check num_classes=3"),
    _compare("bad_label_with_other_ignore_index", "compare(methods, bad_label(1, 255), num_classes=3, ignore_index=100)",
             "ValueError", _A0 + r", batch 1: target holds 1 value outside \[0, 3\) that is not ignore_index=100"),
    _compare("labels_n1hw", "compare(methods, [(x, y[:, None]) for x, y in data], num_classes=3)", "ValueError",
             _A0 + r", batch 0: labels have shape \(2, 1, 4, 4\), i\.e\. \(N, 1, H, W\).*squeeze dim 1 \(y\.squeeze\(1\)\)"),
    _compare("labels_n1_classification",
             "compare(methods, [(x, y[:, None]) for x, y in data], task='classification', num_classes=3)",
             "ValueError", r"labels have shape \(4, 1\), i\.e\. \(N, 1\).*squeeze dim 1", setup=_CLS, state=_CLS_STATE),
    _compare("float_labels", "compare(methods, [(x, y.float()) for x, y in data], num_classes=3)", "TypeError",
             _A0 + r", batch 0: labels have dtype torch\.float32.*y\.long\(\)"),
    _compare("batch_not_a_pair", "compare(methods, [(x,) for x, y in data], num_classes=3)", "TypeError",
             _A0 + r", batch 0: .*tuple of length 1; data must yield \(x, y\) pairs"),
    _compare("batch_is_a_dict", "compare(methods, [{'x': x, 'y': y} for x, y in data], num_classes=3)",
             "TypeError", r"batch 0 is a dict; data must yield \(x, y\) pairs"),
    _compare("dict_model_default_predict_fn", "compare({'a': [DictModel()]}, data, num_classes=3)", "TypeError",
             r"(?s)method 'a', seed 0 .*batch 0: the model returned a dict \(keys: 'out'\).*runs the model once"
             r".*logits = model\(x\)\['out'\]",
             extra=("class DictModel(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                    "        self.conv = nn.Conv2d(3, 3, 1)\n"
                    "    def forward(self, x):\n        return {'out': self.conv(x)}\n")),
    _compare("predict_fn_returns_tensor", "compare(methods, data, num_classes=3, predict_fn=lambda m, x: m(x))",
             "TypeError", _A0 + r", batch 0: predict_fn must return a 2-tuple \(predictions, probabilities\), got Tensor"),
    _compare("predict_fn_returns_3_tuple",
             "compare(methods, data, num_classes=3, predict_fn=lambda m, x: (m(x), m(x), m(x)))",
             "TypeError", r"batch 0: predict_fn must return a 2-tuple .*got a tuple of length 3"),
    _compare("predict_fn_not_callable", "compare(methods, data, num_classes=3, predict_fn='argmax')", "TypeError",
             r"predict_fn must be callable, got str"),
    _compare("predictions_wrong_shape",
             "compare(methods, data, num_classes=3, predict_fn=lambda m, x: (m(x).argmax(1)[:, :3], None))",
             "ValueError", _A0 + r", batch 0: predictions of shape \(2, 3, 4\) do not match labels of shape \(2, 4, 4\)"),
    _compare("predictions_not_tensor",
             "compare(methods, data, num_classes=3, predict_fn=lambda m, x: (m(x).argmax(1).tolist(), None))",
             "TypeError", r"batch 0: predict_fn returned predictions of type list"),
    _compare("prediction_value_out_of_range",
             "compare(methods, data, num_classes=3, predict_fn=lambda m, x: (m(x).argmax(1) + 5, None))",
             "ValueError", _A0 + r", batch 0: preds? holds? .*outside \[0, 3\)"),
    _compare("logits_with_too_many_classes", "compare({'a': [nn.Conv2d(3, 5, 1)]}, data, num_classes=3)",
             "ValueError", _A0 + r", batch 0: the model returned logits of shape \(2, 5, 4, 4\) with 5 classes in dim 1, but num_classes=3"),
    _compare("second_method_wrong_classes", "compare(two, data, num_classes=3)", "ValueError",
             r"method 'b', seed 1 \(methods\['b'\]\[1\]\), batch 0: .*with 4 classes in dim 1, but num_classes=3",
             extra="two = {'a': methods['a'], 'b': [methods['b'][0], nn.Conv2d(3, 4, 1)]}\n"),
    _compare("model_forward_fails", "compare({'a': [nn.Conv2d(5, 3, 1)]}, data, num_classes=3)", "RuntimeError",
             _A0 + r", batch 0: .*channels"),
    _compare("num_classes_above_65536", "compare(methods, data, num_classes=70000)", "ValueError",
             r"num_classes must be between 1 and 65536.*got 70000"),
    _compare("num_classes_zero", "compare(methods, data, num_classes=0)", "ValueError",
             r"num_classes must be between 1 and 65536.*got 0"),
    _compare("num_classes_float", "compare(methods, data, num_classes=3.0)", "TypeError",
             r"num_classes must be an int, got 3\.0"),
    _compare("num_classes_bool", "compare(methods, data, num_classes=True)", "TypeError",
             r"num_classes must be an int, got True"),
    _compare("num_classes_missing", "compare(methods, data)", "ValueError",
             r"compare\(task='segmentation'\) needs num_classes="),
    _compare("ignore_index_beyond_int64", "compare(methods, data, num_classes=3, ignore_index=2**64)", "ValueError",
             r"ignore_index=18446744073709551616 does not fit in int64"),
    _compare("ignore_index_str", "compare(methods, data, num_classes=3, ignore_index='255')", "TypeError",
             r"ignore_index must be an int or None, got '255'"),
    _compare("metrics_unknown_name", "compare(methods, data, num_classes=3, metrics=['miou', 'mIoU'])",
             "ValueError", r"no metric\(s\) \['mIoU'\]; available: \['miou', 'dice', 'pixel_acc'"),
    _compare("metrics_single_string", "compare(methods, data, num_classes=3, metrics='miou')", "TypeError",
             r"metrics must be a list of metric names .*write metrics=\['miou'\]"),
    _compare("metrics_empty_list", "compare(methods, data, num_classes=3, metrics=[])", "ValueError",
             r"metrics=\[\] selects nothing"),
    _compare("metrics_repeated", "compare(methods, data, num_classes=3, metrics=['miou', 'miou'])", "ValueError",
             r"names \['miou'\] more than once"),
    _compare("metrics_non_string_name", "compare(methods, data, num_classes=3, metrics=['miou', 3])", "TypeError",
             r"metrics\[1\] is 3"),
    _compare("metrics_bad_entry", "compare(methods, data, num_classes=3, metrics={'x': 3})", "TypeError",
             r"metric 'x' is a int"),
    _compare("metrics_auroc_for_segmentation", "compare(methods, data, num_classes=3, metrics=['auroc'])",
             "ValueError", r"task 'segmentation' has no metric\(s\) \['auroc'\]"),
    _compare("prob_metrics_without_metrics", "compare(methods, data, num_classes=3, prob_metrics=['auroc'])",
             "ValueError", r"prob_metrics= names entries of a custom metrics= battery"),
    _compare("unknown_task", "compare(methods, data, task='segmentaton', num_classes=3)", "ValueError",
             r"unknown task 'segmentaton'"),
    _compare("unknown_test", "compare(methods, data, num_classes=3, test='welsh')", "ValueError",
             r"unknown test 'welsh'"),
    _compare("unknown_correction", "compare(methods, data, num_classes=3, correction='holm-sidak')", "ValueError",
             r"unknown correction 'holm-sidak'"),
    _compare("alpha_above_one", "compare(methods, data, num_classes=3, alpha=1.5)", "ValueError",
             r"alpha must be in \(0, 1\), got 1\.5"),
    _compare("alpha_not_number", "compare(methods, data, num_classes=3, alpha='5%')", "TypeError",
             r"alpha must be a number in \(0, 1\), got '5%'"),
    _compare("methods_list", "compare([m for ms in methods.values() for m in ms], data, num_classes=3)",
             "TypeError", r"methods must be a non-empty dict \{name: \[model_seed0"),
    _compare("methods_empty", "compare({}, data, num_classes=3)", "TypeError", r"methods must be a non-empty dict"),
    _compare("method_without_models", "compare({'a': []}, data, num_classes=3)", "ValueError",
             r"methods\['a'\] is empty"),
    _compare("method_single_model", "compare({'a': methods['a'][0]}, data, num_classes=3)", "TypeError",
             r"methods\['a'\] must be a list of models \(one per seed\)"),
    _compare("model_not_callable", "compare({'a': [methods['a'][0], 'ckpt.pt']}, data, num_classes=3)",
             "TypeError", r"methods\['a'\]\[1\] is a str, not a callable model"),
    _compare("method_name_not_str", "compare({1: methods['a']}, data, num_classes=3)", "TypeError",
             r"method names must be strings, got 1"),
    _compare("paired_test_unequal_seeds",
             "compare({'a': methods['a'], 'b': methods['b'][:1]}, data, num_classes=3, test='ttest_rel')",
             "ValueError", r"ttest_rel"),
    _compare("class_names_wrong_length", "compare(methods, data, num_classes=3, class_names=['sky', 'road'])",
             "ValueError", r"got 2 class_names for num_classes=3"),
    _compare("class_names_repeated", "compare(methods, data, num_classes=3, class_names=['sky', 'sky', 'car'])",
             "ValueError", r"class_names\[0\] and class_names\[1\] are both 'sky'"),
    _compare("progress_not_bool", "compare(methods, data, num_classes=3, progress='yes')", "TypeError",
             r"progress must be True, False or None"),
    _compare("device_typo", "compare(methods, data, num_classes=3, device='cud')", "ValueError",
             r"device='cud' is not a torch device"),
    _compare("device_not_str", "compare(methods, data, num_classes=3, device=0.5)", "TypeError",
             r"device must be a str such as 'cuda:0' or a torch\.device, got 0\.5"),
    _compare("probabilities_wrong_shape",
             "compare(methods, data, task='classification', num_classes=3, "
             "predict_fn=lambda m, x: (m(x).argmax(-1), m(x).softmax(-1)[:, :2]))",
             "ValueError", _A0 + r", batch 0: probabilities of shape \(4, 2\) do not fit", setup=_CLS, state=_CLS_STATE),
    _compare("probabilities_above_one",
             "compare(methods, data, task='classification', num_classes=3, "
             "predict_fn=lambda m, x: (m(x).argmax(-1), m(x).softmax(-1) * 2))",
             "ValueError", _A0 + r", batch 0, metric 'auroc'", setup=_CLS, state=_CLS_STATE),
]

# ------------------------------------------------------------------- Study --

_STUDY = (
    "import json, os\n"
    "from torch import nn\n"
    "from mushin import Study\n"
    "calls = []\n"
    "def train(seed):\n"
    "    calls.append(seed)\n"
    "    path = tmp / f'ckpt-{seed}-{len(calls)}.pt'\n"
    "    torch.save(nn.Conv2d(3, 3, 1), path)\n"
    "    return str(path)\n"
    "data = [(torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4)))]\n"
    "work = tmp / 'study'\n"
    "kw = dict(load_fn=lambda p: torch.load(p, weights_only=False), seeds=[0, 1], data=data,\n"
    "          task='segmentation', num_classes=3, working_dir=work)\n"
)
_STUDY_STATE = "(tree_digest(tmp), list(calls))"


def _study(id, call, error, match, extra=""):
    return case(f"python_study_{id}", _STUDY + extra, call, error, match, _STUDY_STATE)


def _init(id, kwargs, error, match, methods="{'a': train, 'b': train}"):
    return _study(id, f"Study({methods}, **dict(kw, {kwargs}))", error, match)


# A completed study whose manifest is then edited by ``edit`` (source on ``m``).
def _manifest(id, edit, error, match, call="Study({'a': train, 'b': train}, **kw).train()"):
    extra = (
        "Study({'a': train, 'b': train}, **kw).train()\n"
        "man = work / 'manifest.json'\n"
        "m = json.loads(man.read_text())\n"
        f"{edit}\n"
        "man.write_text(m if isinstance(m, str) else json.dumps(m))\n"
        "calls.clear()\n"
    )
    return _study(f"manifest_{id}", call, error, match, extra=extra)


_MAN = r"study manifest .*study/manifest\.json"

CASES += [
    _init("num_classes_above_65536", "num_classes=70000", "ValueError", r"num_classes must be between 1 and 65536"),
    _init("ignore_index_beyond_int64", "ignore_index=-2**70", "ValueError", r"ignore_index=-\d+ does not fit in int64"),
    _init("metrics_unknown_name", "metrics=['miou', 'acc']", "ValueError", r"no metric\(s\) \['acc'\]; available"),
    _init("metrics_string", "metrics='miou'", "TypeError", r"write metrics=\['miou'\]"),
    _init("empty_data", "data=[]", "ValueError", r"data is empty"),
    _init("generator_data", "data=(b for b in data)", "TypeError", r"data is a one-shot generator"),
    _init("unknown_test", "test='t'", "ValueError", r"unknown test 't'"),
    _init("unknown_correction", "correction='sidak'", "ValueError", r"unknown correction 'sidak'"),
    _init("alpha_zero", "alpha=0", "ValueError", r"alpha must be in \(0, 1\), got 0"),
    _init("seeds_repeated", "seeds=[0, 1, 0]", "ValueError", r"seeds repeats \[0\]"),
    _init("seeds_empty", "seeds=[]", "ValueError", r"seeds is empty"),
    _init("seed_not_int", "seeds=[0, '1']", "TypeError", r"seeds\[1\] is '1'; seeds must be ints"),
    _init("seeds_string", "seeds='012'", "TypeError", r"seeds must be a list of ints"),
    _init("methods_are_model_lists", "", "TypeError", r"methods\['a'\] is a list, not a training function.*from_checkpoints",
          methods="{'a': [nn.Conv2d(3, 3, 1)]}"),
    _init("method_name_empty", "", "TypeError", r"method names must be non-empty strings, got ''",
          methods="{'': train}"),
    _init("predict_fn_not_callable", "predict_fn=3", "TypeError", r"predict_fn must be callable, got int"),
    _init("load_fn_not_callable", "load_fn='torch.load'", "TypeError", r"load_fn must be callable"),
    _init("num_classes_missing", "num_classes=None", "ValueError", r"needs num_classes="),
    _init("on_error_unknown", "on_error='ignore'", "ValueError", r"on_error must be one of \['raise', 'nan', 'record'\]"),
    _init("on_change_unknown", "on_change='keep'", "ValueError", r"on_change must be one of"),
    _init("rerun_unknown_method", "rerun=['c']", "ValueError", r"rerun names unknown method\(s\) \['c'\]"),
    _init("executor_without_submit", "executor=4", "TypeError", r"executor must be a concurrent\.futures\.Executor"),
    _init("group_bytes_zero", "group_bytes=0", "ValueError",
          r"group_bytes must be a positive int \(parameter bytes per group\) or None, got 0"),
    _init("group_bytes_float", "group_bytes=1.5e9", "TypeError",
          r"group_bytes must be a positive int \(parameter bytes per group\) or None, got 1500000000\.0"),
    _init("working_dir_is_a_file", "working_dir=tmp / 'file' / 'study'", "NotADirectoryError",
          r"working_dir .* cannot be created: .*file' is a file"),
    _init("device_typo", "device='gpu0'", "ValueError", r"device='gpu0' is not a torch device"),
    _init("class_names_wrong_length", "class_names=['a']", "ValueError", r"got 1 class_names for num_classes=3"),
    _init("paired_test_needs_equal_seeds_from_checkpoints", "", "ValueError", r"ttest_rel",
          methods="{}") | {"call": ("Study.from_checkpoints({'a': [train(0), train(1)], 'b': [train(2)]}, "
                                    "load_fn=kw['load_fn'], data=data, num_classes=3, test='ttest_rel')"),
                           "state": None},
    _study("from_checkpoints_missing_file",
           "Study.from_checkpoints({'a': [str(tmp / 'nope.pt')]}, load_fn=kw['load_fn'], data=data, num_classes=3)",
           "FileNotFoundError", r"checkpoints\['a'\]\[0\]: .*nope\.pt' does not exist"),
    _study("working_dir_not_a_path", "Study({'a': train}, **dict(kw, working_dir=3))", "TypeError",
           r"working_dir must be a path, got int"),
]
# the working_dir-is-a-file case needs the file
for _case in CASES:
    if _case["id"] == "python_study_working_dir_is_a_file":
        _case["setup"] += "(tmp / 'file').write_text('not a folder')\n"

CASES += [
    _manifest("invalid_json", "m = '{\"format\": 1, \"runs\": '", "ValueError",
              _MAN + r" is damaged: it is not valid JSON.*Restore it from a backup, or delete it to train every run again"),
    _manifest("not_an_object", "m = []", "ValueError", _MAN + r" is damaged: it holds a JSON list, not an object"),
    _manifest("no_format", "del m['format']", "ValueError", _MAN + r" is damaged: it has no 'format' key"),
    _manifest("other_format", "m['format'] = 2", "ValueError",
              _MAN + r" has format 2, but this mushin reads format 1: it was written by another version"),
    _manifest("no_runs", "del m['runs']", "ValueError", _MAN + r" is damaged: it has no 'runs' key"),
    _manifest("runs_is_a_list", "m['runs'] = []", "ValueError", _MAN + r" is damaged: 'runs' is a JSON list"),
    _manifest("seeds_are_text", "m['seeds'] = ['0', '1']", "ValueError", _MAN + r" is damaged: seeds\[0\] is '0', not an int"),
    _manifest("method_runs_not_object", "m['runs']['a'] = 5", "ValueError",
              _MAN + r" is damaged: runs\['a'\] is a JSON int, not an object"),
    _manifest("record_not_object", "m['runs']['a']['0'] = 'done'", "ValueError",
              _MAN + r" is damaged: runs\['a'\]\['0'\] is a JSON str, not an object"),
    _manifest("seed_key_not_int", "m['runs']['a']['zero'] = m['runs']['a'].pop('0')", "ValueError",
              _MAN + r" is damaged: runs\['a'\]\['zero'\]: the seed 'zero' is not an int"),
    _manifest("unknown_status", "m['runs']['a']['0']['status'] = 'finished'", "ValueError",
              _MAN + r" is damaged: runs\['a'\]\['0'\]\['status'\] is 'finished', not one of"),
    _manifest("done_without_checkpoint", "m['runs']['b']['1']['checkpoint'] = None", "ValueError",
              _MAN + r" is damaged: runs\['b'\]\['1'\] is done but names no checkpoint"),
    _manifest("checkpoint_not_a_path", "m['runs']['a']['1']['checkpoint'] = 7", "ValueError",
              _MAN + r" is damaged: runs\['a'\]\['1'\]\['checkpoint'\] is 7, not a path"),
    _manifest("error_not_object", "m['runs']['a']['1']['error'] = 'boom'", "ValueError",
              _MAN + r" is damaged: runs\['a'\]\['1'\]\['error'\] is a JSON str"),
    _manifest("code_hash_not_text", "m['runs']['a']['1']['code_hash'] = 12", "ValueError",
              _MAN + r" is damaged: runs\['a'\]\['1'\]\['code_hash'\] is a JSON int"),
    _manifest("another_runs_checkpoint", "m['runs']['a']['0']['checkpoint'] = m['runs']['b']['0']['checkpoint']",
              "ValueError",
              _MAN + r" names 'checkpoints/b/seed-0\.pt' as the checkpoint of method 'a', seed 0, and it is not "
              r"this run's own file checkpoints/a/seed-0<suffix>.*delete it to train every run again"),
    _manifest("another_seeds_checkpoint", "m['runs']['a']['1']['checkpoint'] = 'checkpoints/a/seed-0.pt'",
              "ValueError", _MAN + r" names 'checkpoints/a/seed-0\.pt' as the checkpoint of method 'a', seed 1"),
    _manifest("parent_escape", "m['runs']['a']['0']['checkpoint'] = '../outside.pt'", "ValueError",
              _MAN + r" names '\.\./outside\.pt' as the checkpoint of method 'a', seed 0, and it is not a path inside working_dir"),
    _manifest("dotdot_inside_own_name", "m['runs']['a']['0']['checkpoint'] = 'checkpoints/a/../../../x/seed-0.pt'",
              "ValueError", _MAN + r" names 'checkpoints/a/\.\./\.\./\.\./x/seed-0\.pt'.*not a path inside working_dir"),
    _manifest("absolute_path", "m['runs']['b']['0']['checkpoint'] = str(tmp / 'ckpt-0-1.pt')", "ValueError",
              _MAN + r" names '.*ckpt-0-1\.pt' as the checkpoint of method 'b', seed 0, and it is not a path inside working_dir"),
    _manifest("symlink_escaping_working_dir",
              "(work / 'checkpoints/a/seed-0.pt').unlink()\n"
              "(work / 'checkpoints/a/seed-0.pt').symlink_to(tmp / 'ckpt-0-1.pt')",
              "ValueError", _MAN + r" names 'checkpoints/a/seed-0\.pt' as the checkpoint of method 'a', seed 0, "
              r"and it is a link to .*ckpt-0-1\.pt, outside working_dir"),
    _manifest("failed_run_names_foreign_file",
              "m['runs']['a']['1'].update(status='failed', checkpoint='checkpoints/b/seed-1.pt')", "ValueError",
              _MAN + r" names 'checkpoints/b/seed-1\.pt' as the checkpoint of method 'a', seed 1"),
    _manifest("checkpoints_property_checks_too", "m['runs']['a']['0']['checkpoint'] = '../outside.pt'", "ValueError",
              _MAN + r" names '\.\./outside\.pt'", call="Study({'a': train, 'b': train}, **kw).checkpoints"),
    _manifest("run_checks_before_evaluating", "m['runs']['b']['1']['checkpoint'] = '/etc/passwd'", "ValueError",
              _MAN + r" names '/etc/passwd' as the checkpoint of method 'b', seed 1",
              call="Study({'a': train, 'b': train}, **kw).run()"),
]

# ------------------------------------------------------- BenchmarkResult I/O --

_RESULT = (
    "import json, re\n"
    "from mushin import BenchmarkResult\n"
    "conf = {'a': [[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]],\n"
    "        'b': [[[5, 5], [4, 6]], [[6, 4], [5, 5]]]}\n"
    "r = BenchmarkResult.from_confusion(conf, class_names=['sky', 'road'])\n"
    "path = r.save(tmp / 'run')\n"
    "def edit(name, old, new, count=1):\n"
    "    text = (path / name).read_text()\n"
    "    assert re.search(old, text, flags=re.M), (name, old)\n"
    "    (path / name).write_text(re.sub(old, new, text, count=count, flags=re.M))\n"
    "def edit_cell(name, row, column, value):\n"
    "    import csv\n"
    "    with open(path / name, newline='') as handle:\n"
    "        rows = list(csv.reader(handle))\n"
    "    rows[row][rows[0].index(column)] = value\n"
    "    with open(path / name, 'w', newline='') as handle:\n"
    "        csv.writer(handle, lineterminator='\\n').writerows(rows)\n"
    "def edit_manifest(change):\n"
    "    m = json.loads((path / 'manifest.json').read_text())\n"
    "    change(m)\n"
    "    (path / 'manifest.json').write_text(json.dumps(m))\n"
)
_RESULT_STATE = "tree_digest(tmp)"
_TAIL = r".*edited or damaged; restore the folder from a backup, or save the result again"


def _load(id, edit, error, match, call="BenchmarkResult.load(path)"):
    return case(f"python_load_{id}", _RESULT + edit, call, error, match, _RESULT_STATE)


def _save(id, setup, call, error, match):
    return case(f"python_save_{id}", _RESULT + setup, call, error, match, _RESULT_STATE)


CASES += [
    _load("negative_target", "edit('confusion.csv', r'^a,0,1,0,1$', 'a,0,-1,0,1')", "ValueError",
          r"run/confusion\.csv line 4: target -1 is outside \[0, 1\]" + _TAIL),
    _load("target_out_of_range", "edit('confusion.csv', r'^a,0,1,0,1$', 'a,0,2,0,1')", "ValueError",
          r"confusion\.csv line 4: target 2 is outside \[0, 1\]"),
    _load("negative_prediction", "edit('confusion.csv', r'^a,0,1,0,1$', 'a,0,1,-2,1')", "ValueError",
          r"confusion\.csv line 4: prediction -2 is outside \[0, 1\]"),
    _load("negative_count", "edit('confusion.csv', r'^a,0,1,0,1$', 'a,0,1,0,-5')", "ValueError",
          r"confusion\.csv line 4: count -5 is negative"),
    _load("minus_one_in_a_present_matrix", "edit('confusion.csv', r'^a,1,0,1,2$', 'a,1,0,1,-1')", "ValueError",
          r"confusion\.csv line 7: count -1 \(a seed the method does not have\) in a matrix of method 'a', seed 1"),
    _load("fractional_count", "edit('confusion.csv', r'^a,0,1,0,1$', 'a,0,1,0,1.5')", "ValueError",
          r"confusion\.csv line 4: count '1\.5' is not an integer"),
    _load("count_beyond_int64", "edit('confusion.csv', r'^a,0,1,0,1$', 'a,0,1,0,' + str(2**63))", "ValueError",
          r"confusion\.csv line 4: count 9223372036854775808 is outside"),
    _load("count_text", "edit('confusion.csv', r'^a,0,1,0,1$', 'a,0,1,0,one')", "ValueError",
          r"confusion\.csv line 4: count 'one' is not an integer"),
    _load("deleted_confusion_row", "edit('confusion.csv', r'^a,0,1,0,1\\n', '')", "ValueError",
          r"confusion\.csv: 1 row\(s\) are missing, the first for method 'a', seed '0', target '1', prediction '0'"),
    _load("duplicated_confusion_row", "edit('confusion.csv', r'^(a,0,1,0,1)$', r'\\1\\n\\1')", "ValueError",
          r"confusion\.csv line 5: the row for method 'a', seed '0', target '1', prediction '0' repeats line 4"),
    _load("unknown_method_row", "edit('confusion.csv', r'^a,0,1,0,1$', 'c,0,1,0,1')", "ValueError",
          r"confusion\.csv line 4: method 'c' is not in the manifest"),
    _load("unknown_seed_row", "edit('confusion.csv', r'^a,0,1,0,1$', 'a,7,1,0,1')", "ValueError",
          r"confusion\.csv line 4: seed '7' is not in the manifest"),
    _load("short_row", "edit('confusion.csv', r'^a,0,1,0,1$', 'a,0,1,0')", "ValueError",
          r"confusion\.csv line 4: 4 fields where 5 \(method, seed, target, prediction, count\) belong"),
    _load("renamed_column", "edit('confusion.csv', r'^method,seed,target,prediction,count$', 'method,seed,target,pred,count')",
          "ValueError", r"confusion\.csv line 1: expected the columns \['method', 'seed', 'target', 'prediction', 'count'\]"),
    _load("edited_count_breaks_scores", "edit('confusion.csv', r'^a,0,1,0,1$', 'a,0,1,0,3')", "ValueError",
          r"scores\.csv line 2: miou of method 'a', seed 0 is 0\.8181818181818182, but its confusion matrix in "
          r"confusion\.csv gives 0\.69"),
    _load("edited_score", "edit('scores.csv', r'^a,1,pixel_acc,.*$', 'a,1,pixel_acc,0.99')", "ValueError",
          r"scores\.csv line \d+: pixel_acc of method 'a', seed 1 is 0\.99, but its confusion matrix in confusion\.csv gives 0\.85"),
    _load("score_for_missing_seed", "edit('scores.csv', r'^b,2,dice,$', 'b,2,dice,0.5')", "ValueError",
          r"scores\.csv line \d+: dice of method 'b', seed 2 is 0\.5, but that seed has no confusion matrix"),
    _load("emptied_score", "edit('scores.csv', r'^a,0,recall,.*$', 'a,0,recall,')", "ValueError",
          r"scores\.csv line \d+: recall of method 'a', seed 0 is nan, but its confusion matrix .* gives 0\.9"),
    _load("score_not_a_number", "edit('scores.csv', r'^a,0,miou,.*$', 'a,0,miou,high')", "ValueError",
          r"scores\.csv line 2: value 'high' is not a number"),
    _load("score_nan_text", "edit('scores.csv', r'^a,0,miou,.*$', 'a,0,miou,nan')", "ValueError",
          r"scores\.csv line 2: value 'nan' is not how save writes a number"),
    _load("deleted_score_row", "edit('scores.csv', r'^a,2,precision,.*\\n', '')", "ValueError",
          r"scores\.csv: 1 row\(s\) are missing, the first for method 'a', seed '2', metric 'precision'"),
    _load("unknown_metric_row", "edit('scores.csv', r'^a,0,miou,', 'a,0,mIoU,')", "ValueError",
          r"scores\.csv line 2: metric 'mIoU' is not in the manifest"),
    _load("edited_per_class", "edit('per_class.csv', r'^a,0,road,per_class_iou,.*$', 'a,0,road,per_class_iou,0.5')",
          "ValueError", r"per_class\.csv line \d+: per_class_iou of method 'a', seed 0, class 'road' is 0\.5, but the "
          r"confusion matrix in confusion\.csv gives 0\.818"),
    _load("unknown_class_row", "edit('per_class.csv', r'^a,0,road,', 'a,0,river,')", "ValueError",
          r"per_class\.csv line \d+: class 'river' is not in the manifest"),
    _load("flipped_significance", "edit('comparisons.csv', r'True', 'False')", "ValueError",
          r"comparisons\.csv line 2: significant is False, but the scores in scores\.csv give True \(metric 'miou'\)"),
    _load("edited_p_value", "edit_cell('comparisons.csv', 1, 'p_value', '0.5')", "ValueError",
          r"comparisons\.csv line 2: p_value is 0\.5, but the scores in scores\.csv give"),
    _load("deleted_comparison_row", "edit('comparisons.csv', r'^dice,.*\\n', '')", "ValueError",
          r"comparisons\.csv: it holds 4 rows .* but the scores give 5 rows"),
    _load("comparison_bool_text", "edit('comparisons.csv', r'True', 'yes')", "ValueError",
          r"comparisons\.csv line 2: significant 'yes' is not a bool"),
    _load("num_classes_8000",
          "def huge(m):\n"
          "    m['num_classes'] = 8000; m['classes'] = []; m['per_class_metrics'] = []\n"
          "    m['settings']['num_classes'] = 8000\n"
          "    m['variable_attrs'] = {k: v for k, v in m['variable_attrs'].items() if not k.startswith('per_class')}\n"
          "edit_manifest(huge)\n",
          "ValueError",
          r"confusion\.csv: it holds 24 rows, but 2 method\(s\) x 3 seed\(s\) x num_classes=8000\*\*2 need 384000000"),
    _load("num_classes_zero", "edit_manifest(lambda m: m.update(num_classes=0))", "ValueError",
          r"manifest\.json: num_classes is 0, not an int in \[1, 65536\]"),
    _load("num_classes_text", "edit_manifest(lambda m: m.update(num_classes='2'))", "ValueError",
          r"manifest\.json: num_classes is '2', not an int"),
    _load("num_classes_disagrees_with_settings", "edit_manifest(lambda m: m['settings'].update(num_classes=3))",
          "ValueError", r"manifest\.json: settings say num_classes=3 but the manifest says 2"),
    _load("methods_not_a_list", "edit_manifest(lambda m: m.update(methods='a,b'))", "ValueError",
          r"manifest\.json: 'methods' is str, not a list"),
    _load("methods_repeated", "edit_manifest(lambda m: m.update(methods=['a', 'a']))", "ValueError",
          r"manifest\.json: 'methods' repeats \['a'\]"),
    _load("seed_label_float", "edit_manifest(lambda m: m.update(seeds=[0, 1, 2.5]))", "ValueError",
          r"manifest\.json: seeds\[2\] is 2\.5, not a str or int"),
    _load("missing_manifest_key", "edit_manifest(lambda m: m.pop('variable_attrs'))", "ValueError",
          r"manifest\.json: it has no \['variable_attrs'\] key"),
    _load("unknown_test_setting", "edit_manifest(lambda m: m['settings'].update(test='z'))", "ValueError",
          r"manifest\.json: settings: unknown test 'z'"),
    _load("alpha_setting_out_of_range", "edit_manifest(lambda m: m['settings'].update(alpha=2))", "ValueError",
          r"manifest\.json: settings: alpha must be in \(0, 1\)"),
    _load("ignore_index_setting_text", "edit_manifest(lambda m: m['settings'].update(ignore_index='255'))",
          "ValueError", r"manifest\.json: settings: ignore_index is '255', not an int or null"),
    _load("unknown_column_kind", "edit_manifest(lambda m: m['comparisons_columns'].update(p_value='decimal'))",
          "ValueError", r"manifest\.json: 'comparisons_columns' has unknown kinds \{'p_value': 'decimal'\}"),
    _load("derived_metrics_unknown", "edit_manifest(lambda m: m.update(derived_metrics=['miou', 'zzz']))",
          "ValueError", r"manifest\.json: 'derived_metrics' is \['miou', 'zzz'\], not a list of the metrics"),
    _load("manifest_invalid_json", "(path / 'manifest.json').write_text('{\"format\": ')", "ValueError",
          r"manifest\.json' is not valid JSON"),
    _load("manifest_other_format", "edit_manifest(lambda m: m.update(format='other'))", "ValueError",
          r"manifest\.json' does not describe a mushin-result folder"),
    _load("manifest_other_version", "edit_manifest(lambda m: m.update(version=2))", "ValueError",
          r"holds format version 2; this mushin reads version 1"),
    _load("missing_file", "(path / 'per_class.csv').unlink()", "ValueError", r"is missing \['per_class\.csv'\]"),
    _load("not_a_result_folder", "(tmp / 'plain').mkdir()", "ValueError", r"plain' is not a saved mushin result",
          call="BenchmarkResult.load(tmp / 'plain')"),
    _load("no_such_folder", "", "FileNotFoundError", r"no saved result at .*nothing': it does not exist",
          call="BenchmarkResult.load(tmp / 'nothing')"),
    _load("path_not_pathlike", "", "TypeError", r"path must be a str or os\.PathLike, got int",
          call="BenchmarkResult.load(3)"),
    _load("not_utf8", "(path / 'scores.csv').write_bytes(b'method,seed,metric,value\\n\\xff\\xfe,0,miou,1\\n')",
          "ValueError", r"scores\.csv: not UTF-8 text"),
    _save("path_is_a_file", "(tmp / 'notes.txt').write_text('keep')", "r.save(tmp / 'notes.txt')",
          "FileExistsError", r"cannot save to .*notes\.txt': a file is in the way"),
    _save("parent_is_a_file", "(tmp / 'notes.txt').write_text('keep')", "r.save(tmp / 'notes.txt' / 'deep' / 'run')",
          "NotADirectoryError", r"notes\.txt' is not a folder"),
    _save("foreign_folder", "(tmp / 'mine').mkdir(); (tmp / 'mine' / 'data.bin').write_bytes(b'x')",
          "r.save(tmp / 'mine')", "FileExistsError", r"mine': it is a non-empty folder that holds no saved result"),
    _save("nan_setting_creates_no_folders",
          "bad = BenchmarkResult.from_parts(r.data, r.comparisons, dict(r.settings, extra=float('nan')), confusion=r.confusion)",
          "bad.save(tmp / 'runs' / 'deep' / 'x')", "ValueError", r"cannot save the result's settings or attributes as JSON"),
    _save("write_fails_leaves_no_folders",
          "import mushin.result.files as mio\n"
          "def full(path, header, rows):\n"
          "    raise OSError('disk full while writing ' + path.name)\n"
          "mio._write_csv = full\n",
          "r.save(tmp / 'runs' / 'deep' / 'x')", "OSError", r"disk full while writing scores\.csv"),
    _save("colliding_seed_labels", "r2 = BenchmarkResult.from_confusion({'a': conf['a'][:2]}, seeds=[1, 1])",
          "r2.save(tmp / 'new' / 'run')", "ValueError", r"seed labels 1 and 1 are the same as text"),
    _save("path_not_pathlike", "", "r.save(42)", "TypeError", r"path must be a str or os\.PathLike, got int"),
    _save("path_names_no_folder", "", "r.save(tmp / '..')", "ValueError", r"must name a folder to write, not '\.\.'"),
]
