"""Callback objects (adapter.LocalObject, remote.RemoteObject): driven like fit drives early stopping.

The same requests must give the same answers in this process and in the sandboxed worker: what
the object returned (a bool, or a description of anything else), the probe model's state after
the call (plain arrays), and numeric attributes. State is written into the probe's existing
tensors in place (so a shallow copy is caught) unless in_place=False. Only bools, numbers,
strings and plain arrays come back; a handle that is not an object is refused; an object does
not survive a restarted worker.
"""
import json
import sys

import numpy as np
import pytest

from autograder import protocol, sandbox
from autograder.checks import CheckFailed, LocalImplementation, StudentError, early_stopping
from autograder.checks.adapter import probe_model, probe_state_template
from autograder.remote import RemoteImplementation, WorkerDied
from dlcourse.course import grade_id_of
from notebook_runner import ROOT
from sample_notebooks import execute_variant, local_verdicts, parse_variant

MODE = "bwrap" if sandbox.bwrap_path() else "none"

CELLS = {"objects": '''
import copy
import numpy as np
import torch

class Keeper:
    """Keeps the state of every call (shallowly or deeply); stops on the call given; restores call `back`."""
    def __init__(self, stop_at=3, back=1, deep=True):
        if stop_at < 1:
            raise ValueError("stop_at must be positive")
        self.stop_at, self.back, self.deep = stop_at, back, deep
        self.calls, self.kept, self.seen = 0, [], 0.0
        self.tensor_attr = torch.tensor(2.5)
        self.np_attr = np.int64(7)
        self.list_attr = [1, 2]

    def __call__(self, val_loss, model):
        self.calls += 1
        self.seen = val_loss
        state = model.state_dict()
        self.kept.append(copy.deepcopy(state) if self.deep else state)
        if self.calls == self.stop_at:
            model.load_state_dict(self.kept[self.back - 1])
            return True
        return np.bool_(False)

class Lying(torch.Tensor):
    def __eq__(self, other):
        return True

class Odd:
    def __init__(self):
        self.liar = torch.tensor(1.0).as_subclass(Lying)
    def __call__(self, val_loss, model):
        class Truthy:
            def __bool__(self):
                return True
        return Truthy()

class Plain:
    pass

class Tiny(torch.nn.Module):
    def forward(self, x):
        return x
'''}


def _states(n, seed=0):
    rng = np.random.default_rng(seed)
    template = probe_state_template()
    return [{k: (rng.integers(1, 100, size=v.shape).astype(v.dtype) if v.dtype.kind == "i"
                 else rng.standard_normal(v.shape).astype(v.dtype)) for k, v in template.items()} for _ in range(n)]


def _drive(impl, kwargs, losses, states, in_place=True):
    obj = impl.new_object("Keeper", **kwargs)
    trace = []
    for loss, state in zip(losses, states):
        answer, after = obj.step(loss, state, in_place=in_place)
        trace.append((answer, after, obj.attributes(["calls", "seen", "tensor_attr", "np_attr", "list_attr", "nope"])))
        if answer is True:
            break
    return trace


def _same(a, b):
    assert len(a) == len(b)
    for (answer_a, after_a, attrs_a), (answer_b, after_b, attrs_b) in zip(a, b):
        assert answer_a == answer_b and type(answer_a) is type(answer_b)
        assert sorted(after_a) == sorted(after_b)
        for key in after_a:
            assert type(after_b[key]) is np.ndarray and after_a[key].dtype == after_b[key].dtype
            assert np.array_equal(after_a[key], after_b[key])
        assert json.dumps(attrs_a) == json.dumps(attrs_b)


@pytest.fixture(scope="module")
def remote():
    with RemoteImplementation(list(CELLS.items()), mode=MODE, request_timeout=120) as impl:
        yield impl


@pytest.fixture(scope="module")
def local():
    namespace = {"__name__": "objects"}
    exec(CELLS["objects"], namespace)
    return LocalImplementation(namespace)


def test_probe_model_has_parameters_and_buffers():
    keys = list(probe_state_template())
    assert keys == list(probe_model().state_dict())
    assert {"0.weight", "0.bias", "1.weight", "1.bias"} == {n for n, _ in probe_model().named_parameters()}
    assert {"1.running_mean", "1.running_var", "1.num_batches_tracked"} <= set(keys)
    assert probe_state_template()["1.num_batches_tracked"].dtype == np.int64


def test_step_writes_the_state_calls_the_object_and_reads_the_state_back(local):
    states = _states(4)
    trace = _drive(local, {"stop_at": 3, "back": 1}, [0.5, float("nan"), 0.25, 0.1], states)
    assert [answer for answer, _, _ in trace] == [False, False, True]   # numpy.bool_ counts as a bool
    for (_, after, _), given in zip(trace[:2], states):
        assert all(np.array_equal(after[k], given[k]) for k in given)     # untouched on the other calls
    assert all(np.array_equal(trace[2][1][k], states[0][k]) for k in states[0])  # restored call 1
    attrs = trace[-1][2]
    assert attrs["calls"] == 3 and attrs["seen"] == 0.25 and attrs["tensor_attr"] == 2.5 and attrs["np_attr"] == 7
    assert attrs["list_attr"] == "a list" and attrs["nope"] == "no such attribute"
    assert isinstance(trace[1][2]["seen"], float) and trace[1][2]["seen"] != trace[1][2]["seen"]  # NaN arrives as NaN


@pytest.mark.parametrize("deep", [True, False])
@pytest.mark.parametrize("in_place", [True, False])
def test_remote_answers_like_local_and_in_place_writes_catch_a_shallow_copy(remote, local, deep, in_place):
    losses, states = [0.5, 0.4, 0.45, 0.6], _states(4, seed=1)
    kwargs = {"stop_at": 4, "back": 2, "deep": deep}
    here = _drive(local, kwargs, losses, states, in_place=in_place)
    there = _drive(remote, kwargs, losses, states, in_place=in_place)
    _same(here, there)
    restored = there[-1][1]
    # a deep copy restores call 2; a shallow one does only when the state arrived in fresh tensors
    expect = states[1] if (deep or not in_place) else states[3]
    assert all(np.array_equal(restored[k], expect[k]) for k in expect)


def test_errors_and_oddities_arrive_as_data(remote, local):
    for impl in (local, remote):
        with pytest.raises(StudentError) as error:
            impl.new_object("Keeper", stop_at=0)
        assert error.value.is_a("ValueError") and "stop_at" in error.value.message
        with pytest.raises(CheckFailed, match="cannot be called"):
            impl.new_object("Plain")
        odd = impl.new_object("Odd")
        answer, after = odd.step(1.0, _states(1)[0])
        assert answer == "a Truthy"                                  # truthy, but not a bool: described
        assert odd.attributes(["liar"]) == {"liar": "a Lying"}       # a tensor subclass never counts as a number
        with pytest.raises(CheckFailed, match="state_dict keys"):
            odd.step(1.0, {"0.weight": np.zeros((4, 3), np.float32)})


def test_the_worker_refuses_anything_but_object_methods_on_object_handles(remote):
    obj = remote.new_object("Keeper")
    for method in ("__init__", "obj", "model", "_write_state"):
        with pytest.raises(CheckFailed, match="no LocalObject method"):
            remote._request("object", handle=obj.handle.number, method=method, kwargs={})
    module = remote.new_module("Tiny")                      # a handle of another kind
    for handle in (module.handle.number, 10_000, -1, True):
        with pytest.raises(CheckFailed, match="no LocalObject method"):
            remote._request("object", handle=handle, method="step", kwargs={})
    with pytest.raises(CheckFailed, match="no LocalObject method"):
        remote._request("object", handle="0", method="step", kwargs={})
    assert obj.step(0.5, _states(1)[0])[0] is False         # the worker is still fine


def test_the_worker_refuses_anything_but_module_methods_on_module_handles(remote):
    obj = remote.new_object("Keeper")
    module = remote.new_module("Tiny")
    for method in ("__init__", "module", "__class__"):
        with pytest.raises(CheckFailed, match="no LocalModule method"):
            remote._request("module", handle=module.handle.number, method=method, kwargs={})
    for handle in (obj.handle.number, 10_000, -1, "0"):     # an object handle is not a module
        with pytest.raises(CheckFailed, match="no LocalModule method"):
            remote._request("module", handle=handle, method="is_training", kwargs={})
    assert module.is_training() is True                     # the worker is still fine


def test_nothing_but_plain_values_comes_back():
    # what the worker sends for a step is JSON with plain arrays; a decoded reply has no other type
    state = _states(1)[0]
    wire = protocol.encode(("a Truthy", state))
    back = protocol.decode(json.loads(json.dumps(wire)))
    assert back[0] == "a Truthy" and all(type(v) is np.ndarray for v in back[1].values())


def test_an_object_does_not_survive_a_restarted_worker():
    cells = {"objects": CELLS["objects"] + "\nimport os\ndef leave():\n    os._exit(3)\n"}
    with RemoteImplementation(list(cells.items()), mode=MODE, request_timeout=120) as impl:
        obj = impl.new_object("Keeper")
        with pytest.raises(CheckFailed, match="exit status 3"):
            impl.call("leave")
        with pytest.raises(WorkerDied, match="lost when the student's process was restarted"):
            obj.step(0.5, _states(1)[0])


@pytest.mark.parametrize("stem", ["correct_clone_dict", "mistake_shallow_copy"])
def test_the_early_stopping_checks_give_the_same_verdicts_in_the_sandbox(stem):
    path = ROOT / "tests" / "submissions" / early_stopping.CHAPTER / f"{stem}.py"
    here = local_verdicts(early_stopping.PARTS, execute_variant(path))
    there = {}
    with RemoteImplementation(list(parse_variant(path).items()), mode=MODE, request_timeout=120) as impl:
        for hidden in (False, True):
            try:
                early_stopping.PARTS["EarlyStopping"](impl, hidden)
                there[grade_id_of("EarlyStopping", hidden)] = None
            except CheckFailed as failure:
                there[grade_id_of("EarlyStopping", hidden)] = str(failure)
    assert {k: v is None for k, v in here.items()} == {k: v is None for k, v in there.items()}
    if stem.startswith("mistake"):
        assert all("shallow copy" in message for message in there.values())


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
