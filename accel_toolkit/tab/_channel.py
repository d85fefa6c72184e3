"""Request/reply over a widget comm: ids, binary buffers, time limits, the front end's session.

The live tab answers Python through the widget's custom messages (``model.send`` in the
browser, ``on_msg`` in Python). This module is the transport only; it knows nothing about
kernels. Messages are envelopes with a ``kind`` (typed in :mod:`._protocols`)::

    Python -> tab   {"kind": "request", "request": {"id": "r3", "op": "run", ...}}  + buffers
    tab -> Python   {"kind": "hello", "session": "..."}              the page loaded the widget
                    {"kind": "ready", "session": "...", "info": {...}, "error": null}
                    {"kind": "reply", "session": "...", "reply": {"id": "r3", "ok": true, ...}}
                                                                                     + buffers
    tab -> Python   {"kind": "weights", "id": "w1", "sha256": "...", "offset": 0, ...}
    Python -> tab   {"kind": "weights", "id": "w1", "ok": true}                     + bytes

``request`` and ``reply`` are the runtime protocol of ``widgets/runtime/PROTOCOL.md``. A reply
is matched to its request by ``id``; replies nobody waits for (late, or from a second tab
showing the same widget) are dropped. A ``weights`` message comes while a model request runs
(the page has a weight tensor neither on the GPU nor cached) and is answered at once, from
the channel's :class:`~accel_toolkit.tab._weights.WeightServer`. A ``hello`` with a new
session while requests are in flight means the tab was reloaded: those requests fail at once with
:class:`~accel_toolkit.exceptions.NoFrontendError` instead of waiting out their time limit.

The channel lives on the asyncio loop of the kernel: a cell that *awaits* receives replies
while it waits; messages that arrive on another thread are handed to the loop.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

from ..exceptions import (
    BackendUnavailableError,
    BrowserCrashedError,
    KernelExecutionError,
    NoFrontendError,
    ResourceLimitError,
    ShaderCompileError,
    UnsupportedKernelError,
)
from ._protocols import (
    ErrorInfo,
    Hello,
    Ready,
    Reply,
    ReplyMessage,
    RequestMessage,
    RuntimeReply,
    RuntimeRequest,
    ToTab,
    WeightsRequest,
)
from ._weights import WeightServer

__all__ = ["Channel", "Reply", "raise_for_reply"]

Send = Callable[[ToTab, list[Any]], None]

#: seconds a reply may take beyond the request's own time limit (transfer, queueing)
GRACE_S = 10.0

HEADLESS_HINT = (
    "Run in the headless browser instead: accel_toolkit.bench(..., backends='webgpu,webnn') "
    "or runner.bench(..., venue='headless'); venue='auto' falls back to it by itself."
)


_ERRORS: dict[str, type[Exception]] = {
    "ShaderCompileError": ShaderCompileError,
    "UnsupportedKernelError": UnsupportedKernelError,
    "ResourceLimitError": ResourceLimitError,
    "DeviceLost": BrowserCrashedError,
    "KernelExecutionError": KernelExecutionError,
    "BackendUnavailableError": BackendUnavailableError,
}


def raise_for_reply(reply: RuntimeReply, what: str = "") -> None:
    """Raise the toolkit error that an ``ok: false`` reply describes; do nothing if ok."""
    if reply.get("ok"):
        return
    err = reply.get("error") or ErrorInfo(type="KernelExecutionError", message="")
    kind = str(err.get("type") or "KernelExecutionError")
    msg = str(err.get("message") or "the tab reported a failure without a message")
    where = ""
    if err.get("shader"):
        where = f" ({err['shader']}" + (f":{err['line']}" if err.get("line") else "")
        where += (f":{err['column']}" if err.get("column") else "") + ")"
    prefix = f"{what}: " if what else ""
    raise _ERRORS.get(kind, KernelExecutionError)(f"{prefix}{kind}{where}: {msg}")


def _as_bytes(buf: Any) -> bytes:
    if isinstance(buf, bytes):
        return buf
    return memoryview(buf).cast("B").tobytes()


class Channel:
    """Matches replies to requests and tracks which tab (session) answers.

    Parameters
    ----------
    send : callable
        ``send(content, buffers)`` delivers a message to the front end (the widget's
        ``send``).
    """

    def __init__(
        self,
        send: Send,
        *,
        grace_s: float = GRACE_S,
        on_ready: Callable[[dict[str, Any]], None] | None = None,
    ):
        self._send = send
        self._on_ready = on_ready
        #: the weight tensors this channel serves to the page (model requests register them)
        self.weights = WeightServer()
        self.grace_s = float(grace_s)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pending: dict[
            str, tuple[asyncio.AbstractEventLoop, asyncio.Future[Reply], float]
        ] = {}
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None], str]] = []
        self.session: str | None = None
        self.info: dict[str, Any] | None = None
        self.error: str | None = None
        self.ready = False
        self.sessions_seen = 0
        self.dropped = 0

    # -- incoming ---------------------------------------------------------------------
    def receive(self, content: Any, buffers: Sequence[Any] | None = None) -> None:
        """Handle one message from the front end (any thread): a ``FromTab`` envelope of
        :mod:`._protocols`; anything else is ignored."""
        if not isinstance(content, dict):
            return
        kind = content.get("kind")
        if kind == "hello":
            self._on_hello(cast(Hello, content).get("session"))
        elif kind == "ready":
            self._on_ready_message(cast(Ready, content))
        elif kind == "reply":
            self._on_reply(cast(ReplyMessage, content), buffers or [])
        elif kind == "weights":
            reply, data = self.weights.serve(cast(WeightsRequest, content))
            self._send(reply, list(data))

    def _on_ready_message(self, msg: Ready) -> None:
        session = msg.get("session")
        if session != self.session:
            self._on_hello(session)
        self.info = msg.get("info") or {}
        self.error = msg.get("error")
        self.ready = True
        if self._on_ready is not None:
            self._on_ready(self.info)
        self._wake("ready")

    def _on_reply(self, msg: ReplyMessage, buffers: Sequence[Any]) -> None:
        reply = msg.get("reply") or RuntimeReply()
        rid = str(reply.get("id"))
        with self._lock:
            entry = self._pending.pop(rid, None)
        if entry is None:
            self.dropped += 1
            return
        loop, fut, t0 = entry
        r = Reply(
            reply, [_as_bytes(b) for b in buffers], msg.get("session"), time.perf_counter() - t0
        )
        _resolve(loop, fut, r)

    def _on_hello(self, session: str | None) -> None:
        if session == self.session:
            return
        previous = self.session
        self.session = session
        self.sessions_seen += 1
        self.ready = False
        self.info = None
        if previous is not None:
            # The page reloaded: what the old page was running will never answer.
            with self._lock:
                lost = list(self._pending.items())
                self._pending.clear()
            for rid, (loop, fut, _) in lost:
                _fail(
                    loop,
                    fut,
                    NoFrontendError(
                        f"The tab was reloaded while request {rid} was running; its result is "
                        f"lost. Results already stored are kept: resume the sweep with "
                        f"resume=run_id."
                    ),
                )
        self._wake("hello")

    def _wake(self, what: str) -> None:
        with self._lock:
            waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None], str]] = []
            keep: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None], str]] = []
            for w in self._waiters:
                (waiters if what == "ready" or w[2] == "hello" else keep).append(w)
            self._waiters = keep
        for loop, fut, _ in waiters:
            _resolve(loop, fut, None)

    # -- waiting for the front end ----------------------------------------------------
    async def wait_for(self, what: str, timeout: float) -> bool:
        """Wait until a ``hello`` (page seen) or ``ready`` (runtime open) arrived; False on
        timeout."""
        if (what == "hello" and self.session is not None) or (what == "ready" and self.ready):
            return True
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._waiters.append((loop, fut, what))
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiters = [w for w in self._waiters if w[1] is not fut]

    # -- requests ---------------------------------------------------------------------
    def next_id(self) -> str:
        return f"r{next(self._ids)}"

    @property
    def pending(self) -> list[str]:
        """Ids of requests still waiting for a reply."""
        with self._lock:
            return list(self._pending)

    async def request(
        self,
        request: RuntimeRequest,
        buffers: Sequence[Any] = (),
        *,
        time_limit_s: float,
        grace_s: float | None = None,
    ) -> Reply:
        """Send one protocol request and wait for its reply.

        The tab is told ``time_limit_s`` (it stops sampling by then); Python waits that long
        plus ``grace_s`` (default: the channel's) and then raises
        :class:`BrowserCrashedError` (the tab is closed, hung or busy elsewhere).
        """
        if time_limit_s <= 0:
            raise ValueError(f"time_limit_s must be > 0, got {time_limit_s}")
        grace_s = self.grace_s if grace_s is None else grace_s
        rid = str(request.get("id") or self.next_id())
        msg = cast(RuntimeRequest, {**request, "id": rid, "time_limit_s": float(time_limit_s)})
        what = f"{msg['op']} {msg['backend']}" if msg["op"] == "run" else msg["op"]
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Reply] = loop.create_future()
        with self._lock:
            self._pending[rid] = (loop, fut, time.perf_counter())
        try:
            self._send(RequestMessage(kind="request", request=msg), list(buffers))
            return await asyncio.wait_for(fut, time_limit_s + grace_s)
        except asyncio.TimeoutError:
            raise BrowserCrashedError(
                f"The tab did not answer request {rid} ({what}) within "
                f"{time_limit_s + grace_s:.0f} s: it is closed, hung or busy. Re-display the "
                f"runner in an open tab, or resume with resume=run_id. {HEADLESS_HINT}"
            ) from None
        finally:
            with self._lock:
                self._pending.pop(rid, None)


def _resolve(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any], value: Any) -> None:
    def set_() -> None:
        if not fut.done():
            fut.set_result(value)

    _call_on(loop, set_)


def _fail(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any], exc: BaseException) -> None:
    def set_() -> None:
        if not fut.done():
            fut.set_exception(exc)

    _call_on(loop, set_)


def _call_on(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        fn()
    elif not loop.is_closed():
        loop.call_soon_threadsafe(fn)
