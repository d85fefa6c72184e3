"""The messages between Python and the widgets' JavaScript, as types, and what a sweep needs
of the tab.

Two layers travel over a widget's custom messages (``model.send`` in the browser,
``Widget.send`` / ``on_msg`` in Python), as anywidget describes its own in ``_protocols.py``:

- **envelopes** (:data:`ToTab`, :data:`FromTab`): which page speaks (``session``) and what
  kind of message it is; written by ``widgets/runner.js`` and :mod:`._channel`;
- **runtime requests and replies** (:data:`RuntimeRequest`, :class:`RuntimeReply`): the
  protocol of ``widgets/runtime/PROTOCOL.md``, shared with the headless page and defined
  beside it (``accel_toolkit/backends/browser/_protocol.py``); re-exported here.

The Explorer's panel sends :class:`ExplorerRun` when its Run button is pressed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, Protocol, TypedDict

from ..backends.browser._protocol import (
    ErrorInfo,
    InfoRequest,
    Mode,
    OutputInfo,
    PingRequest,
    RunRequest,
    RuntimeReply,
    RuntimeRequest,
)

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
    "WeightsReply",
    "WeightsRequest",
]


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


class WeightsRequest(TypedDict):
    """Tab -> Python, while a model request runs: send ``length`` bytes at ``offset`` of the
    tensor whose SHA-256 is ``sha256`` (the page has it neither on the GPU nor cached)."""

    kind: Literal["weights"]
    session: str
    id: str
    model: str
    name: str
    sha256: str
    offset: int
    length: int


class WeightsReply(TypedDict):
    """Python -> tab: the bytes a :class:`WeightsRequest` asked for, as one buffer."""

    kind: Literal["weights"]
    id: str
    ok: bool
    error: NotRequired[str]


class ExplorerRun(TypedDict):
    """Explorer panel -> Python: the Run button was pressed."""

    kind: Literal["run"]


ToTab = RequestMessage | WeightsReply
FromTab = Hello | Ready | ReplyMessage | WeightsRequest


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

    async def request(
        self, request: RuntimeRequest, buffers: Sequence[Any] = (), *, time_limit_s: float = 60.0
    ) -> Reply:
        """Send one runtime request and await its reply."""
        ...

    async def alive(self, timeout: float | None = None) -> bool:
        """Whether the tab still answers."""
        ...
