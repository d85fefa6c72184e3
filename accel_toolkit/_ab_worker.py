"""The measuring end of ``ab --interleave config``: one code version's process for one block.

``accel-toolkit ab`` starts one of these per side, with that side's interpreter and code, and
has them take turns: A measures a configuration, then B measures the same one a few
milliseconds later on the same core, then the next configuration (B first, then A), and so
on, pass after pass. Contention on a shared machine comes in states that last seconds
(docs/reproducibility.md); turns this short put both sides of a pair in the same state,
where one process per side and block put them seconds apart.

The protocol is JSON lines on stdin / stdout. The first request holds the sweep (``bench``
keyword arguments, ``db`` and ``tag``); the reply lists the configuration keys and backends.
Then ``{"key": KEY, "backend": NAME, "round": R}`` measures one configuration of pass ``R``
and stores its row in ``db`` (one run, a round per pass), and ``{"stop": true}`` ends the
run. Every reply is one line: ``{"ok": true, ...}`` or ``{"ok": false, "error": TEXT}``. Run as
``python -m accel_toolkit._ab_worker``; it writes nothing else to stdout.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

__all__ = ["serve"]


def _reply(out: IO[str], **fields: Any) -> None:
    out.write(json.dumps(fields, default=str) + "\n")
    out.flush()


def serve(inp: IO[str], out: IO[str]) -> int:
    """Answer requests from ``inp`` on ``out`` until ``stop`` or end of input."""
    from ._api import SweepOptions, measure_and_store
    from .backends._pool import BackendPool
    from .kernels import config_key
    from .store import open_store

    first = json.loads(inp.readline() or "{}")
    try:
        db, tag = first.pop("db"), first.pop("tag")
        plan = SweepOptions.from_kwargs(**first, tag=tag, progress=False).plan()
        store = open_store(db)
        run_id, _, env_id = plan.start(store)
    except Exception as exc:  # the parent names the side and shows this
        _reply(out, ok=False, error=f"{type(exc).__name__}: {exc}")
        return 1
    configs = {config_key(spec.name, p, dtype): (spec, p, dtype) for spec, p, dtype in plan.configs}
    _reply(out, ok=True, keys=list(configs), backends=plan.backends, run_id=run_id)
    pool = BackendPool(plan.options.backend_options)
    status = 0
    try:
        with store.recording(run_id):
            for line in inp:
                req = json.loads(line)
                if req.get("stop"):
                    break
                spec, p, dtype = configs[req["key"]]
                rows = measure_and_store(
                    store,
                    pool,
                    plan,
                    run_id,
                    env_id,
                    int(req["round"]),
                    spec,
                    p,
                    dtype,
                    backends=[req["backend"]],
                )
                _reply(out, ok=True, status=[r.get("status") for r in rows])
    except Exception as exc:
        _reply(out, ok=False, error=f"{type(exc).__name__}: {exc}")
        status = 1
    finally:
        pool.close()
    return status


if __name__ == "__main__":
    protocol, sys.stdout = sys.stdout, sys.stderr  # a stray print cannot garble a reply
    sys.exit(serve(sys.stdin, protocol))
