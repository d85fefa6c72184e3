"""MiniLM's weights stay on the GPU of the headless page between webgpu requests: uploaded by
the first request, bound as they are by later ones (the same or another batch shape), uploaded
again after the browser dies and is relaunched; every request reads back once."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import numpy as np
import pytest

from accel_toolkit.exceptions import BackendUnavailableError
from accel_toolkit.models import forward, get_model_spec, minilm_dir, synthetic_inputs, tokenize
from accel_toolkit.models._blobs import cached_weights
from accel_toolkit.models._inputs import ModelInputs
from accel_toolkit.models._plan import model_plan, plan_inputs

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SPEC = get_model_spec("minilm-l6")


@pytest.fixture(scope="module")
def webgpu():  # type: ignore[no-untyped-def]
    try:
        minilm_dir()
        from accel_toolkit.models._embed import webgpu_backend

        return webgpu_backend()
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))


def _run(be: Any, x: ModelInputs) -> tuple[float, dict[str, Any]]:
    """One forward of ``x`` (rows of one length) on the page: (cosine to ORT, reply extras)."""
    plan = model_plan(SPEC, x.batch, x.seq)
    weights = cached_weights(be, SPEC.name, plan.inputs)
    out, res = be.run_plan(plan, plan_inputs(plan, x, weights=False), weights=weights)
    got, ref = out["out"], forward(SPEC.name, x, backend="onnxruntime")
    cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
    names = {b["name"] for b in weights["blobs"]}
    # what a request must write when the weights are resident: ids, positions, uniforms
    small = sum(b.size for b in plan.buffers if b.init is not None and b.name not in names)
    weight_bytes = sum(b.size for b in plan.buffers if b.name in names)
    return float(cos.min()), {
        **res.extra,
        "small": small,
        "weight_bytes": weight_bytes,
        "blobs": len(names),
    }


def test_weights_are_uploaded_once_per_browser_and_again_after_a_crash(webgpu) -> None:  # type: ignore[no-untyped-def]
    be = webgpu
    be.recover()  # a fresh browser: nothing resident yet
    one = tokenize(SPEC, ["A man is eating food."])
    cos, e = _run(be, one)
    w = e["weights"]
    assert cos >= 0.9999
    assert (w["resident"], w["blobs"]) == (0, e["blobs"]) and w["uploaded"] > 0
    assert w["uploaded_bytes"] >= 0.99 * e["weight_bytes"] > 80e6
    assert e["upload_bytes"] == w["uploaded_bytes"] + e["small"]
    assert w["fetched"] + w["cached"] == e["blobs"] and w["upload_s"] > 0
    assert e["readbacks"] == 1  # the output, once, after the forward

    # the same page again, the same shape and another one: nothing loaded or uploaded
    for x in (one, synthetic_inputs(SPEC, 2, 5, seed=3)):
        cos, e = _run(be, x)
        w = e["weights"]
        assert cos >= 0.9999
        assert (w["resident"], w["uploaded"], w["uploaded_bytes"]) == (e["blobs"], 0, 0)
        assert (w["fetched"], w["cached"], w["load_s"]) == (0, 0, 0)
        assert e["upload_bytes"] == e["small"] < 4096
        assert e["readbacks"] == 1

    # the browser dies: the relaunched page has nothing resident and uploads again
    pid = be.session.pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while be.session.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    cos, e = _run(be, one)
    w = e["weights"]
    assert be.session.pid != pid and cos >= 0.9999
    assert w["resident"] == 0 and w["uploaded_bytes"] >= 0.99 * e["weight_bytes"]
    assert e["readbacks"] == 1
