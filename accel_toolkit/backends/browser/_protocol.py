"""The runtime protocol of ``widgets/runtime/PROTOCOL.md`` as types: requests and replies.

Both venues speak it: the headless page (:mod:`._headless`, through Playwright) and the live
notebook tab (``accel_toolkit.tab``, inside the widget envelopes of
``accel_toolkit/tab/_protocols.py``). Input and output bytes travel beside the JSON, as
binary buffers in ``init`` and ``index`` order.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "ErrorInfo",
    "InfoRequest",
    "Mode",
    "OutputInfo",
    "PingRequest",
    "RunRequest",
    "RuntimeReply",
    "RuntimeRequest",
]


# -- runtime requests (PROTOCOL.md, "Request") ---------------------------------------------
#: ``once``: run and return the outputs; ``measure``: also time it (``timing``)
Mode = Literal["measure", "once"]


class RunRequest(TypedDict):
    """Run one WebGPU plan or WebNN graph once, or measure it; input bytes travel beside it."""

    op: Literal["run"]
    backend: Literal["webgpu", "webnn"]
    mode: Mode
    id: NotRequired[str]
    #: ``TimingSettings.as_dict()``
    timing: NotRequired[dict[str, Any]]
    time_limit_s: NotRequired[float]
    #: a ComputePlan (``backend == "webgpu"``)
    plan: NotRequired[dict[str, Any]]
    #: a GraphSpec and its WebNN device type (``backend == "webnn"``)
    graph: NotRequired[dict[str, Any]]
    device_type: NotRequired[str]
    #: ``{"model", "blobs": [{"name", "url", "sha256", "bytes", "index"}]}``: request buffers
    #: the page takes from its IndexedDB weight cache (``model_weights.js``), not the request
    weights: NotRequired[dict[str, Any]]


class PingRequest(TypedDict):
    """An empty round trip, answered by the widget without touching WebGPU or WebNN."""

    op: Literal["ping"]
    id: NotRequired[str]
    time_limit_s: NotRequired[float]


class InfoRequest(TypedDict):
    """The runtime's ``info()``: browser, WebGPU adapter and limits, WebNN devices."""

    op: Literal["info"]
    id: NotRequired[str]
    time_limit_s: NotRequired[float]


RuntimeRequest = RunRequest | PingRequest | InfoRequest


# -- runtime replies (PROTOCOL.md, "Reply") -------------------------------------------------
class ErrorInfo(TypedDict):
    """Why a request failed; ``type`` names the toolkit exception (or ``DeviceLost``,
    ``Timeout``)."""

    type: str
    message: str
    shader: NotRequired[str]
    line: NotRequired[int]
    column: NotRequired[int]
    compiler_message: NotRequired[str]


class OutputInfo(TypedDict):
    """One output: its name, dtype, shape, and the index of its binary buffer."""

    name: str
    dtype: str
    shape: list[int]
    index: int


class RuntimeReply(TypedDict, total=False):
    """The answer to a request: ``ok`` with outputs (and samples), or ``ok: false`` with
    ``error``. Output bytes travel beside it, in ``outputs[i]["index"]`` order."""

    id: str
    ok: bool
    error: ErrorInfo
    outputs: list[OutputInfo]
    samples: list[float]
    inner_loops: int
    first_run_s: float
    compile_s: float
    warmup_s: float
    handle_s: float
    wall_s: float
    timer: str
    cached: bool
    variant: str
    plan_key: str
    #: where it ran, as the runtime sees it (stored with ``plan_`` prefixes)
    device: dict[str, Any]
    #: the answer to ``info``
    info: dict[str, Any]
    #: the answer to ``ping`` (the page's ``performance.now()``)
    pong: float
