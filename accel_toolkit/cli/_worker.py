"""``accel-toolkit worker SCHEDULER``: a Dask worker that offers this machine's backends."""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["register", "worker_command"]


def worker_command(args: argparse.Namespace) -> list[str]:
    """The ``dask worker`` command line (with the accel_toolkit preload) that ``worker`` runs."""
    from ..backends._pool import default_browsers

    browsers = args.browsers if args.browsers is not None else default_browsers()
    nthreads = args.nthreads or 1 + 2 * browsers  # cpu, and each browser backend's pool
    cmd = [
        sys.executable,
        "-m",
        "distributed.cli.dask_worker",
        args.scheduler,
        "--nthreads",
        str(nthreads),
        "--preload",
        "accel_toolkit.distributed",
    ]
    if args.name:
        cmd += ["--name", args.name]
    if args.no_nanny:
        cmd.append("--no-nanny")
    return cmd


def _worker(args: argparse.Namespace) -> int:
    from ..exceptions import ConfigError

    try:
        from ..distributed._cluster import open_client
    except ImportError:
        raise ConfigError(
            "`accel-toolkit worker` needs Dask: pip install 'accel-toolkit[distributed]'."
        ) from None
    if args.browsers is not None and args.browsers < 0:
        raise ConfigError(f"--browsers must be 0 or more, got {args.browsers}.")
    open_client(args.scheduler, timeout=args.timeout).close()  # a clear error if unreachable
    env = dict(os.environ)
    if args.backends:
        env["ACCEL_TOOLKIT_WORKER_BACKENDS"] = args.backends
    if args.browsers is not None:
        env["ACCEL_TOOLKIT_WORKER_BROWSERS"] = str(args.browsers)
    cmd = worker_command(args)
    print(f"accel-toolkit: starting {' '.join(cmd[2:])}", file=sys.stderr, flush=True)
    os.execve(cmd[0], cmd, env)
    return 0  # pragma: no cover - execve does not return


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "worker",
        help="start a Dask worker that offers this machine's backends",
        description="Start a Dask worker connected to SCHEDULER (tcp://HOST:8786). It runs "
        "`doctor` here and advertises each available backend as a Dask resource (cpu, wgpu, "
        "webgpu, webnn, cuda) with its count, and keeps browsers and devices warm. Same as "
        "`dask worker SCHEDULER --preload accel_toolkit.distributed`.",
    )
    p.add_argument("scheduler", help="the scheduler's address, e.g. tcp://10.0.0.5:8786")
    p.add_argument(
        "--backends", help="comma-separated backends to offer (default: every backend doctor finds)"
    )
    p.add_argument(
        "--browsers",
        type=int,
        default=None,
        help="browsers in the pool (default: what the cores can feed; see doctor)",
    )
    p.add_argument(
        "--nthreads", type=int, default=None, help="task threads (default: 1 + 2 x browsers)"
    )
    p.add_argument("--name", help="the worker's name in the cluster")
    p.add_argument(
        "--no-nanny",
        action="store_true",
        help="run without Dask's nanny (which restarts a worker that dies)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the scheduler before giving up (default 10)",
    )
    p.set_defaults(func=_worker)
