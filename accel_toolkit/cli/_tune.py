"""``accel-toolkit tune``: search the WGSL knobs of tunable kernels on this machine's adapters."""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def _tune(args: argparse.Namespace) -> int:
    from .._driver_noise import quiet_driver_noise
    from ..tuning import tune
    from ._format import print_frame

    if not args.json:
        print(
            f"tuning {args.kernels} on {args.backends} for up to {args.budget:g} s ...", flush=True
        )
    with quiet_driver_noise():  # the progress bar would be held back with the noise: none
        report = tune(
            kernels=args.kernels,
            backends=args.backends,
            budget=args.budget,
            db=args.db,
            force=args.force,
            seed=args.seed,
            progress=False,
        )
    if args.json:
        print(
            json.dumps(
                {
                    "session_id": report.session_id,
                    "chosen": report.chosen.to_dict(orient="records"),
                },
                default=str,
            )
        )
        return 0
    print_frame(report.chosen.drop(columns=["fingerprint"]).round(4))
    n = len(report.points)
    print(
        f"\n{n} point(s) stored in the tuning table (session {report.session_id}); "
        f"the {args.backends} backend(s) now use the chosen knobs on this adapter."
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "tune",
        help="tune WGSL kernels to this machine's adapters (knobs stored and used)",
        description="Search each tunable kernel's WGSL knobs (workgroup shape, register block, "
        "K-tile, workgroup staging, vec4) per adapter and shape bucket within a time budget; "
        "every point is checked against numpy before it is timed, and every point tried is "
        "stored in the tuning table of the results database. A bucket already tuned on this "
        "adapter is only re-checked (--force searches again). See docs/tuning.md.",
    )
    p.add_argument(
        "--kernels", default="matmul", help="comma-separated tunable kernels (default matmul)"
    )
    p.add_argument(
        "--backends",
        default="wgpu",
        help="comma-separated WGSL backends: wgpu, webgpu (default wgpu)",
    )
    p.add_argument(
        "--budget", type=float, default=120.0, help="seconds of search in all (default 120)"
    )
    p.add_argument(
        "--db",
        help="DuckDB file (default: $ACCEL_TOOLKIT_DB or "
        "~/.local/share/accel_toolkit/results.duckdb)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="search again even where a stored winner still checks out",
    )
    p.add_argument("--seed", type=int, default=0, help="order of the screening (default 0)")
    p.add_argument("--json", action="store_true", help="print the chosen knobs as JSON")
    p.set_defaults(func=_tune)
