"""``accel-toolkit cluster --scheduler ADDR``: the cluster's machines, backends and devices."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _cluster(args: argparse.Namespace) -> int:
    from ..exceptions import ConfigError
    from ._format import print_frame

    try:
        from ..distributed._cluster import cluster_info, open_client
    except ImportError:
        raise ConfigError(
            "`accel-toolkit cluster` needs Dask: pip install 'accel-toolkit[distributed]'."
        ) from None
    client = open_client(args.scheduler, timeout=args.timeout)
    try:
        df = cluster_info(client=client)
    finally:
        client.close()
    print_frame(df, args.format)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "cluster",
        help="list a Dask cluster's machines, backends and devices",
        description="One line per worker of the cluster: its machine, "
        "accel-toolkit version, the backends it offers (with counts) and "
        "their devices.",
    )
    p.add_argument("--scheduler", required=True, help="scheduler address, tcp://HOST:8786")
    p.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the scheduler (default 10)"
    )
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=_cluster)
