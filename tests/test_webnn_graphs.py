"""WebNN GraphSpecs built in Python (no browser): structure, bytes, and what is unsupported."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from accel_toolkit.backends.browser._webnn_graphs import (
    GRAPH_BUILDERS,
    MATMUL_INT8_MAX_K,
    UNSUPPORTED,
    build_graph,
    limits_reason,
    param_reason,
)
from accel_toolkit.exceptions import UnsupportedKernelError
from accel_toolkit.kernels import KERNELS, get_kernel

CASES = [
    (name, p, dt)
    for name, spec in KERNELS.items()
    for p in spec.preset("tiny")
    for dt in ("float32", "float16")
]


@pytest.mark.parametrize("name", list(KERNELS))
def test_every_kernel_has_a_graph_or_a_stated_reason(name):
    for dt in ("float32", "float16"):
        assert name in GRAPH_BUILDERS or (name, dt) in UNSUPPORTED, GRAPH_BUILDERS.missing(name)


def test_a_missing_graph_builder_names_the_file_to_add_it_in():
    spec = get_kernel("softmax")
    unknown = dataclasses.replace(spec, name="no_such_kernel")
    reason = param_reason(unknown, spec.preset("tiny")[0], "float32")
    assert reason == (
        "kernel 'no_such_kernel' has no WebNN graph builder: add one in "
        "accel_toolkit/backends/browser/_webnn_graphs.py "
        "(see docs/adding-a-kernel.md)"
    )
    with pytest.raises(UnsupportedKernelError, match="_webnn_graphs.py"):
        build_graph(unknown, spec.preset("tiny")[0], "float32")


@pytest.mark.parametrize(
    "name,params,dtype", CASES, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)]
)
def test_graph_structure(name, params, dtype):
    spec = get_kernel(name)
    g = build_graph(spec, params, dtype)
    doc = json.loads(json.dumps(g.to_json()))  # JSON-ready
    assert doc["kernel"] == name and doc["key"].startswith(name)
    # every kernel input is a graph input (never a constant the browser could fold)
    inputs = spec.make_inputs(params, dtype, 0)
    assert [d["name"] for d in doc["inputs"]] == list(inputs)
    for d in doc["inputs"]:
        assert d["shape"] == list(inputs[d["name"]].shape)
        assert d["dataType"] == str(inputs[d["name"]].dtype)
    # operands are defined before use; outputs name defined operands
    defined = {d["name"] for d in doc["inputs"]} | {c["name"] for c in doc["constants"]}
    for op in doc["ops"]:
        for a in op["args"]:
            if isinstance(a, str) and a not in ("float32", "float16", "int8"):
                assert a in defined, f"{op['op']} uses {a} before it is defined"
        defined.add(op["out"])
    ref = spec.reference(inputs, params)
    assert [o["name"] for o in doc["outputs"]] == list(ref)
    for o in doc["outputs"]:
        assert o["operand"] in defined
        assert o["shape"] == list(ref[o["name"]].shape)
        assert o["dtype"] == spec.output_dtype(o["name"], dtype)
    # buffers: inputs first, then constants with data, indices consistent
    bufs = g.encode_inputs(inputs)
    assert len(bufs) == len(doc["inputs"]) + sum("init" in c for c in doc["constants"])
    for d in doc["inputs"]:
        assert bufs[d["init"]] == np.ascontiguousarray(inputs[d["name"]]).tobytes()
    for c in doc["constants"]:
        if "init" in c:
            n = int(np.prod(c["shape"], dtype=np.int64))
            assert len(bufs[c["init"]]) == n * np.dtype(c["dataType"]).itemsize


def test_decode_outputs_round_trips_bytes():
    spec = get_kernel("quantize_int8")
    p = spec.preset("tiny")[1]
    g = build_graph(spec, p, "float32")
    ref = spec.reference(spec.make_inputs(p, "float32", 3), p)
    q = ref["q"].astype(np.int8)
    scale = ref["scale"].astype(np.float32)
    out = g.decode_outputs([q.tobytes(), scale.tobytes()])
    assert out["q"].dtype == np.int8 and np.array_equal(out["q"], q)
    assert out["scale"].dtype == np.float32 and np.array_equal(out["scale"], scale)
    with pytest.raises(ValueError, match="expected 2 output buffers"):
        g.decode_outputs([q.tobytes()])


def test_keys_identify_configurations():
    spec = get_kernel("attention")
    a, b = spec.preset("tiny")
    assert build_graph(spec, a, "float32").key == build_graph(spec, a, "float32").key
    assert build_graph(spec, a, "float32").key != build_graph(spec, b, "float32").key
    assert build_graph(spec, a, "float32").key != build_graph(spec, a, "float16").key


def test_causal_mask_is_a_constant_of_the_graph():
    spec = get_kernel("attention")
    causal = spec.resolve(batch=1, heads=1, seq=5, head_dim=4, causal=True)
    g = build_graph(spec, causal, "float32")
    masks = [c for c in g.constants if c["name"].startswith("mask")]
    assert len(masks) == 1 and masks[0]["shape"] == [5, 5]
    mask = np.frombuffer(
        g.encode_inputs(spec.make_inputs(causal))[masks[0]["init"]], np.float32
    ).reshape(5, 5)
    assert (mask[np.triu_indices(5, 1)] < -1e38).all() and (mask[np.tril_indices(5)] == 0).all()
    plain = build_graph(spec, spec.resolve(batch=1, heads=1, seq=5, head_dim=4), "float32")
    assert not [c for c in plain.constants if c["name"].startswith("mask")]


def test_conv2d_uses_nchw_and_oihw():
    spec = get_kernel("conv2d")
    p = spec.preset("tiny")[1]
    (op,) = build_graph(spec, p, "float32").ops
    assert op["op"] == "conv2d"
    assert op["options"]["inputLayout"] == "nchw" and op["options"]["filterLayout"] == "oihw"
    assert (
        op["options"]["strides"] == [p["stride"]] * 2
        and op["options"]["padding"] == [p["padding"]] * 4
    )


# -- what WebNN cannot run ----------------------------------------------------------------
def test_matmul_int8_beyond_exact_float_accumulation_is_unsupported():
    spec = get_kernel("matmul_int8")
    ok = spec.resolve(M=4, N=4, K=MATMUL_INT8_MAX_K)
    too_long = spec.resolve(M=4, N=4, K=MATMUL_INT8_MAX_K + 1)
    assert 127 * 127 * MATMUL_INT8_MAX_K < 2**24 <= 127 * 127 * (MATMUL_INT8_MAX_K + 1)
    assert param_reason(spec, ok, "float32") is None
    reason = param_reason(spec, too_long, "float32")
    assert reason and "int32 accumulation" in reason
    with pytest.raises(UnsupportedKernelError, match="K <= 1040"):
        build_graph(spec, too_long, "float32")


@pytest.mark.parametrize("key", sorted(UNSUPPORTED) or [None])
def test_static_unsupported_entries_raise(key):
    if key is None:
        assert UNSUPPORTED == {}  # nothing statically unsupported today (see the module docs)
        return
    name, dtype = key
    spec = get_kernel(name)
    with pytest.raises(UnsupportedKernelError, match=UNSUPPORTED[key][:20]):
        build_graph(spec, spec.preset("tiny")[0], dtype)


def _limits(**over):
    """opSupportLimits in the browser's format (here: what our graphs use, all float types)."""
    f = {"dataTypes": ["float32", "float16"], "rankRange": {"min": 0, "max": 6}}
    ops = {
        "matmul": {"a": f, "b": f, "output": f},
        "softmax": {"input": f, "output": f},
        "input": f,
        "constant": f,
        "output": f,
    }
    ops.update(over)
    return ops


def test_limits_reason_reads_op_support_limits():
    spec = get_kernel("matmul")
    g32 = build_graph(spec, spec.preset("tiny")[0], "float32")
    assert limits_reason(g32, _limits()) is None
    only32 = {"dataTypes": ["float32"], "rankRange": {"min": 2, "max": 4}}
    g16 = build_graph(spec, spec.preset("tiny")[0], "float16")
    assert "does not accept float16" in limits_reason(
        g16, _limits(matmul={"a": only32, "b": only32, "output": only32})
    )
    rank3 = {"dataTypes": ["float32"], "rankRange": {"min": 3, "max": 3}}
    assert "rank" in limits_reason(g32, _limits(matmul={"a": rank3, "b": rank3, "output": rank3}))
    sm = get_kernel("softmax")
    gs = build_graph(sm, sm.preset("tiny")[0], "float32")
    lim = _limits()
    del lim["softmax"]
    assert "no softmax operator" in limits_reason(gs, lim)
    assert limits_reason(gs, None) is None
