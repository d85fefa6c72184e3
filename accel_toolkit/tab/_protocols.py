"""The messages between Python and the widgets' JavaScript, as types, and what a sweep needs
of the tab.

Two layers travel over a widget's custom messages (``model.send`` in the browser,
``Widget.send`` / ``on_msg`` in Python), as anywidget describes its own in ``_protocols.py``:

- **envelopes** (:data:`ToTab`, :data:`FromTab`): which page speaks (``session``) and what
  kind of message it is; written by ``widgets/runner.js`` and :mod:`._channel`;
- **runtime requests and replies** (:data:`RuntimeRequest`, :class:`RuntimeReply`): the
  protocol of ``widgets/runtime/PROTOCOL.md``, shared with the headless page.

The Explorer's panel sends :class:`ExplorerRun` when its Run button is pressed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, Protocol, TypedDict

__all__ = [
    "ErrorInfo",
    "ExplorerRun",
    "FromTab",
    "Frontend",
    "Hello",
    "InfoRequest",
    "Mode",
    "OutputInfo",
    "PageInfo",
    "PingRequest",
    "Ready",
    "Reply",
    "ReplyMessage",
    "RequestMessage",
    "RunRequest",
    "RuntimeReply",
    "RuntimeRequest",
    "ToTab",
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


# -- envelopes (widgets/runner.js <-> tab/_channel.py) ---------------------------------------
class PageInfo(TypedDict):
    """The page that loaded the widget."""

    href: str
    user_agent: str


class Hello(TypedDict):
    """Tab -> Python: a page loaded the widget (a new ``session`` means a reload)."""

    kind: Literal["hello"]
    session: str
    page: NotRequired[PageInfo]


class Ready(TypedDict):
    """Tab -> Python: the runtime is open (``info``), or could not open (``error``)."""

    kind: Literal["ready"]
    session: str
    info: dict[str, Any]
    error: str | None


class ReplyMessage(TypedDict):
    """Tab -> Python: the reply to one request, output bytes as the message's buffers."""

    kind: Literal["reply"]
    session: str
    reply: RuntimeReply


class RequestMessage(TypedDict):
    """Python -> tab: one runtime request, input bytes as the message's buffers."""

    kind: Literal["request"]
    request: RuntimeRequest


class ExplorerRun(TypedDict):
    """Explorer panel -> Python: the Run button was pressed."""

    kind: Literal["run"]


ToTab = RequestMessage
FromTab = Hello | Ready | ReplyMessage


@dataclass
class Reply:
    """A reply as Python holds it: the protocol JSON, its binary buffers (``bytes``), the
    session that answered and the round trip in seconds."""

    reply: RuntimeReply
    buffers: list[bytes] = field(default_factory=list)
    session: str | None = None
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.reply.get("ok"))


# -- what a sweep needs of the tab -----------------------------------------------------------
class Frontend(Protocol):
    """The live tab as a sweep sees it (implemented by :class:`~accel_toolkit.tab.TabRunner`).

    Attributes
    ----------
    status : str
        One line about the sweep in progress, shown by the widget.
    """

    status: str

    @property
    def tab_info(self) -> dict[str, Any]:
        """What the answering tab reported when it opened the runtime."""
        ...

    async def wait_ready(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the tab's runtime and return its info."""
        ...

    async def request(self, request: RuntimeRequest, buffers: Sequence[Any] = (), *,
                      time_limit_s: float = 60.0) -> Reply:
        """Send one runtime request and await its reply."""
        ...

    async def alive(self, timeout: float | None = None) -> bool:
        """Whether the tab still answers."""
        ...

