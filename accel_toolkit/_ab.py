"""A/B in one job: two code versions measured interleaved (A B | B A) on this machine.

Each side is either a **git ref**, checked out into a throwaway ``git worktree`` and run with
that tree first on ``PYTHONPATH`` (the package is pure Python, so no build is needed; the
ref runs with this interpreter's dependencies), or a **Python environment** the user names
(an interpreter that imports its own accel_toolkit). Every block starts a fresh process per
side (:mod:`._ab_worker`), both pinned to one core, and they take turns configuration by
configuration, A then B, then B then A, for ``passes`` shuffled passes: the two members of a
pair are measured milliseconds apart, in the same state of a shared machine, and fresh
processes each block keep one process's memory layout from biasing the whole comparison.
A block's log ratio is the median over its passes of the paired log ratios (B's pass over
A's, configuration by configuration), so a state that both members of a pair met cancels.
Each side writes to its own temporary database; only when every block has succeeded are both
merged into the target database, tagged with their refs, so a failed or interrupted job
leaves nothing half-written there. The comparison is :func:`~.analysis._blocks.compare_blocks`
with the suite-wide shift gating too (the sides were interleaved).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .analysis._blocks import BlockComparison
from .exceptions import ConfigError

__all__ = ["ABResult", "Side", "ab", "git_side", "python_side", "thread_env", "wants_more_blocks"]

#: blocks measured before the first verdict, and the cap of ``sequential`` (Pinpoint-style).
#: A block is a fresh pair of processes, one per side, compared by the median of its passes'
#: paired ratios. At the 3-4% block noise of turn-taking on a 2-core VM with another job on
#: the other core, the ``strict`` rule needs about 20-30 blocks to see a 10% slowdown at a 5%
#: threshold, identical code about 10 to show nothing leans slower (docs/reproducibility.md,
#: replayed on the blocks of 215 kept evaluations)
DEFAULT_BLOCKS = 10
DEFAULT_MAX_BLOCKS = 30
#: when ``sequential`` adds blocks: ``leaning`` while a configuration's estimate is above the
#: threshold but the rule has not called it slower (only a suspected regression pays for
#: more blocks), ``ambiguous`` while any configuration is ambiguous, ``off`` never
SEQUENTIAL = ("leaning", "ambiguous", "off")
DEFAULT_SEQUENTIAL = "leaning"
#: seconds of sampling per configuration in each round: a round gives one median, and the
#: block-to-block noise of a shared machine, not the round's precision, limits the gate
#: (a round of 20 tiny+small cpu configurations: 2.7 s at 0.05 s, 8.9 s at bench's default)
DEFAULT_ROUND_BUDGET = 0.05
#: passes over the configurations in each block's processes; the block's log ratio is the
#: median of the passes' paired ratios. Contention on a shared machine comes in bursts and
#: states of 0.1 s to several seconds (docs/reproducibility.md), so a pass caught by one is
#: outvoted
DEFAULT_PASSES = 3
#: BLAS / OpenMP threads of each side's processes: one, because where cores are shared a BLAS
#: call whose second thread waits for a core takes a whole scheduler quantum (a 256^3 matmul
#: of 0.15-0.27 ms measured 15.7 ms in some rounds with OpenBLAS's two threads on a busy
#: 2-core VM, never with one); ``threads=0`` keeps the environment's setting
DEFAULT_THREADS = 1
#: when a configuration is slower (:func:`~accel_toolkit.analysis._blocks.compare_blocks`):
#: the Holm-adjusted lower bound of its ratio clears the threshold; ``check`` judges runs
#: that took turns by it too
DEFAULT_RULE = "strict"
_THREAD_VARS = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def thread_env(threads: int | None) -> dict[str, str]:
    """The environment variables that cap BLAS / OpenMP at ``threads`` (none for 0/None)."""
    if threads is not None and threads < 0:
        raise ConfigError(f"threads must be >= 0 (0: the environment's), got {threads}.")
    return {v: str(threads) for v in _THREAD_VARS} if threads else {}


@dataclass(frozen=True)
class Side:
    """One code version: its ``ref`` (a git ref, or the name of an environment), the
    interpreter that runs it, the folder put first on ``PYTHONPATH`` (``None``: the
    interpreter's own package) and the commit it resolved to (``None``: not a git ref)."""

    ref: str
    python: str
    path: str | None = None
    commit: str | None = None

    def env(self) -> dict[str, str]:
        """The environment of this side's processes."""
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        if self.path:
            env["PYTHONPATH"] = self.path
        env.pop("ACCEL_TOOLKIT_GIT_COMMIT", None)
        return env


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=120
    )


def _tail(text: str, n: int = 6) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:]) or "(no output)"


def _check_import(side: Side, cwd: Path, what: str) -> None:
    """Fail with the ref's name unless its interpreter imports the intended accel_toolkit."""
    code = "import accel_toolkit, accel_toolkit.cli; print(accel_toolkit.__file__)"
    try:
        out = subprocess.run(
            [side.python, "-c", code],
            env=side.env(),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except OSError as exc:
        raise ConfigError(
            f"{what} {side.ref!r}: cannot run {side.python} ({exc}). Pass an "
            f"existing Python interpreter."
        ) from None
    if out.returncode != 0:
        raise ConfigError(
            f"{what} {side.ref!r} fails to import accel_toolkit: "
            f"{_tail(out.stderr)}. Fix that version, or compare another."
        )
    found = Path(out.stdout.strip()).resolve()
    if side.path and not found.is_relative_to(Path(side.path).resolve()):
        raise ConfigError(
            f"{what} {side.ref!r}: its interpreter imported accel_toolkit from "
            f"{found}, not from the checkout of the ref; uninstall the "
            f"non-editable copy or pass --baseline-python/--candidate-python."
        )


def git_side(
    repo: str | os.PathLike[str],
    ref: str,
    workdir: str | os.PathLike[str],
    *,
    python: str = sys.executable,
    what: str = "ref",
) -> Side:
    """Check ``ref`` out of ``repo`` into a new worktree under ``workdir`` and check it imports.

    Raises
    ------
    ConfigError
        ``ref`` is not a commit of ``repo``, or its code fails to import.
    """
    top = _git(Path(repo), "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise ConfigError(
            f"{repo} is not a git checkout ({_tail(top.stderr)}); run `ab` inside "
            f"the repository, or pass --repo PATH."
        )
    root = Path(top.stdout.strip())
    sha = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if sha.returncode != 0:
        raise ConfigError(
            f"{what} {ref!r} does not exist in {root}: `git rev-parse` knows no "
            f"such branch, tag or commit. In a shallow CI checkout fetch it first "
            f"(git fetch origin {ref}), or pass another ref."
        )
    commit = sha.stdout.strip()
    tree = Path(workdir) / f"{what}-{commit[:12]}-{uuid.uuid4().hex[:6]}"
    add = _git(root, "worktree", "add", "--detach", str(tree), commit)
    if add.returncode != 0:
        raise ConfigError(f"{what} {ref!r}: `git worktree add` failed ({_tail(add.stderr)}).")
    side = Side(ref=ref, python=python, path=str(tree), commit=commit)
    _check_import(side, tree, what)
    return side


def python_side(python: str, name: str, *, what: str = "environment") -> Side:
    """A side run by the interpreter ``python`` (its own installed accel_toolkit)."""
    side = Side(ref=name, python=python)
    _check_import(side, Path(tempfile.gettempdir()), what)
    return side


@contextmanager
def _worktrees(repo: Path) -> Iterator[Path]:
    """A temporary folder for worktrees, removed (and the worktrees pruned) on exit."""
    with tempfile.TemporaryDirectory(prefix="accel-ab-") as tmp:
        try:
            yield Path(tmp)
        finally:
            for tree in Path(tmp).iterdir():
                _git(repo, "worktree", "remove", "--force", str(tree))
            _git(repo, "worktree", "prune")


@dataclass
class ABResult:
    """What :func:`ab` measured: the comparison, the tags both sides were stored under, the
    resolved commits, the number of blocks and each side's wall time in seconds."""

    comparison: BlockComparison
    tags: dict[str, str]
    commits: dict[str, str | None]
    blocks: int
    wall_s: dict[str, float] = field(default_factory=dict)
    db: str | None = None
    interleave: str = "config"
    passes: int = 1

    @property
    def status(self) -> int:
        """The gate's exit status: 1 when something is slower, else 0."""
        return self.comparison.status

    @property
    def markdown(self) -> str:
        from .analysis._rounds import rounds_markdown

        refs = ", ".join(
            f"{k} `{self.tags[k]}`" + (f" ({c[:12]})" if (c := self.commits[k]) else "")
            for k in self.tags
        )
        cost = ", ".join(f"{k} {v:.0f} s" for k, v in self.wall_s.items())
        how = (
            "taking turns configuration by configuration (A B | B A; each block's ratio the "
            "median of its passes' paired ratios)"
            if self.interleave == "config"
            else "one process after the other (A B | B A; each block's figure the median of "
            "its passes)"
        )
        return (
            rounds_markdown(self.comparison) + f"\nMeasured {how} in {self.blocks} block(s) "
            f"of {self.passes} pass(es), a fresh process per side each: {refs}; wall time "
            f"{cost}.\n"
        )


def _bench_command(side: Side, db: Path, tag: str, bench_args: Sequence[str]) -> list[str]:
    return [
        side.python,
        "-m",
        "accel_toolkit.cli",
        "bench",
        *bench_args,
        "--tag",
        tag,
        "--db",
        str(db),
    ]


def _measuring_env(side: Side, threads: int | None) -> dict[str, str]:
    """The environment of a side's measuring process: its own, BLAS capped at ``threads``,
    and its throwaway database held open between writes (no other process reads it)."""
    return {**side.env(), **thread_env(threads), "ACCEL_TOOLKIT_DB_HOLD": "10"}


def _run_round(
    side: Side,
    what: str,
    db: Path,
    tag: str,
    bench_args: Sequence[str],
    cwd: Path,
    threads: int | None = DEFAULT_THREADS,
) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(
        _bench_command(side, db, tag, bench_args),
        env=_measuring_env(side, threads),
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if out.returncode not in (0, 1):  # 1: some rows failed their check; they are stored
        raise ConfigError(
            f"{what} {side.ref!r}: `bench` failed (exit {out.returncode}): {_tail(out.stderr)}"
        )
    return time.perf_counter() - t0


#: how the two sides take turns: ``config`` (in each block a fresh process per side, both
#: pinned to one core, alternating configuration by configuration for ``passes`` passes) or
#: ``process`` (in each block one side's process, then the other's, each making ``passes``)
INTERLEAVES = ("config", "process")
#: how a block is compared (:func:`~.analysis._rounds.round_rows`): sides that took turns by
#: the median of their passes' paired ratios, which halved the block noise against the ratio
#: of the passes' medians while another job ran on the other core (docs/reproducibility.md,
#: "Pairs, not medians"); sides measured one process after the other by their medians
UNIT_OF = {"config": "pair", "process": "run"}
#: the ``command`` of every run measured taking turns: how ``check`` knows to pair them
TURNS_COMMAND = "accel-toolkit ab (sides taking turns configuration by configuration)"
#: what starts the ``command`` of every run ``--interleave process`` measured (the rest is the
#: ``bench`` command line it ran): how ``check`` knows that each run is one block
PROCESS_COMMAND = "accel-toolkit ab (sides one process after the other)"


def unit_of_runs(commands: Sequence[str | None]) -> str | None:
    """How ``ab`` compared runs with these ``command`` values: ``"pair"`` when all took turns,
    ``"run"`` when all ran one process after the other, ``None`` when not all came from one
    kind of ``ab`` job (``check`` then compares round by round)."""
    if commands and all(c == TURNS_COMMAND for c in commands):
        return "pair"
    if commands and all(c is not None and c.startswith(PROCESS_COMMAND) for c in commands):
        return "run"
    return None


class _Worker:
    """One side's ``accel_toolkit._ab_worker`` process, for one block."""

    def __init__(self, side: Side, what: str, cwd: Path, env: dict[str, str], log: Path):
        self.side, self.what, self.log = side, what, log
        self._err = open(log, "w")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [side.python, "-m", "accel_toolkit._ab_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            cwd=cwd,
            env=env,
            text=True,
            bufsize=1,
        )

    def pin(self, cpu: int | None) -> None:
        if cpu is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(self.proc.pid, {cpu})

    def ask(self, **req: object) -> dict[str, object]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        reply = json.loads(line) if line.strip() else None
        if not reply or not reply.get("ok"):
            self.proc.poll()
            why = reply.get("error") if reply else _tail(self.log.read_text(errors="replace"))
            hint = ""
            if "accel_toolkit._ab_worker" in str(why):
                hint = (
                    " That version predates taking turns; compare it with "
                    "--interleave process (interleave='process')."
                )
            raise ConfigError(f"{self.what} {self.side.ref!r}: measuring failed: {why}.{hint}")
        return dict(reply)

    def close(self) -> None:
        try:
            if self.proc.poll() is None and self.proc.stdin is not None:
                self.proc.stdin.write('{"stop": true}\n')
                self.proc.stdin.flush()
                self.proc.stdin.close()
                self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            self._err.close()


def _core() -> int | None:
    """The core both sides are pinned to: the last this process may run on (None: no
    affinity control on this platform)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    return max(os.sched_getaffinity(0))


def _turns(
    sides: dict[str, Side],
    tags: dict[str, str],
    dbs: dict[str, Path],
    cwd: dict[str, Path],
    tmp: Path,
    wall: dict[str, float],
    threads: int | None,
    *,
    kernels: str,
    backends: str,
    preset: str | None,
    grid: str | None,
    dtype: str | None,
    budget: float,
    passes: int,
) -> Callable[[int, int], None]:
    """``measure(first, n)``: blocks ``first .. first+n-1``, each a fresh pair of workers
    (one per side, both pinned to one core) taking turns for ``passes`` passes."""
    import numpy as np

    sweep: dict[str, object] = {
        "kernels": kernels,
        "backends": backends,
        "preset": None if grid else preset,
        "time_budget": budget,
        "rounds": passes,
        "command": TURNS_COMMAND,
    }
    if grid:
        from .cli._bench import read_grid

        sweep["grid"] = read_grid(grid)
    if dtype:
        sweep["dtypes"] = dtype
    core = _core()

    def block(b: int) -> None:
        names = list(sides) if b % 2 == 0 else list(sides)[::-1]  # who starts, alternating
        with ExitStack() as stack:
            workers: dict[str, _Worker] = {}
            for w in names:
                env = _measuring_env(sides[w], threads)
                workers[w] = _Worker(sides[w], w, cwd[w], env, tmp / f"{w}.log")
                stack.callback(workers[w].close)
                workers[w].pin(core)
            ready = {w: workers[w].ask(**sweep, db=str(dbs[w]), tag=tags[w]) for w in names}
            have = {w: {str(k) for k in ready[w]["keys"]} for w in names}  # type: ignore[attr-defined]
            keys = sorted(set.union(*have.values()))
            for p in range(passes):
                order = np.random.default_rng([0x5EED, b, p]).permutation(len(keys))
                for j, i in enumerate(order):
                    for w in names if (p + j) % 2 == 0 else names[::-1]:
                        if keys[i] not in have[w]:
                            continue  # listed as added / removed by the comparison
                        for backend in ready[w]["backends"]:  # type: ignore[attr-defined]
                            t0 = time.perf_counter()
                            workers[w].ask(key=keys[i], backend=backend, round=p)
                            wall[w] += time.perf_counter() - t0

    def measure(first: int, n: int) -> None:
        for b in range(first, first + n):
            block(b)

    return measure


def _results(db: Path) -> pd.DataFrame:
    from .store import Store

    return Store(db, create=False).results() if db.exists() else pd.DataFrame()


def wants_more_blocks(res: BlockComparison, sequential: str, threshold: float) -> bool:
    """Whether ``ab``'s ``sequential`` policy (:data:`SEQUENTIAL`) adds blocks after the
    comparison ``res``: ``leaning``, a configuration whose estimate is above ``1 +
    threshold`` but whose verdict is not yet ``slower``; ``ambiguous``, any ``ambiguous``
    configuration; ``off``, never."""
    t = res.table
    if sequential == "leaning":
        return bool(((t["verdict"] != "slower") & (t["ratio"] > 1 + threshold)).any())
    if sequential == "ambiguous":
        return bool((t["verdict"] == "ambiguous").any())
    return False


def ab(
    baseline: str,
    candidate: str,
    *,
    kernels: str,
    backends: str = "cpu",
    preset: str | None = "tiny",
    grid: str | None = None,
    dtype: str | None = None,
    time_budget: float | None = None,
    blocks: int = DEFAULT_BLOCKS,
    passes: int = DEFAULT_PASSES,
    sequential: str = DEFAULT_SEQUENTIAL,
    max_blocks: int = DEFAULT_MAX_BLOCKS,
    db: str | os.PathLike[str] | None = None,
    repo: str | os.PathLike[str] = ".",
    baseline_python: str | None = None,
    candidate_python: str | None = None,
    tag_prefix: str | None = None,
    threshold: float = 0.05,
    alpha: float = 0.01,
    test: str = "t",
    control: Sequence[str] | None = None,
    statistic: str = "median",
    rule: str = DEFAULT_RULE,
    threads: int | None = DEFAULT_THREADS,
    interleave: str = "config",
) -> ABResult:
    """Measure ``baseline`` and ``candidate`` interleaved in blocks; store both; compare.

    Parameters
    ----------
    baseline, candidate : str
        Git refs of ``repo``, or names of the environments ``*_python`` runs.
    kernels, backends, preset, grid, dtype
        The sweep each side measures (``accel-toolkit bench`` options).
    time_budget : float, optional
        Seconds of sampling per configuration in each pass (default
        ``DEFAULT_ROUND_BUDGET``).
    blocks : int
        Blocks: each a fresh process per side (default ``DEFAULT_BLOCKS``).
    passes : int
        Shuffled passes (rounds) over the configurations in each block's processes
        (default ``DEFAULT_PASSES``). Taking turns, a block's log ratio is the median over
        its passes of the paired log ratios; one process after the other, the ratio of the
        medians over the passes.
    sequential : str
        When to add two blocks at a time, up to ``max_blocks`` (:data:`SEQUENTIAL`):
        ``leaning`` (default) while a configuration's estimate is above the threshold but
        it is not yet ``slower``; ``ambiguous`` while any configuration is ambiguous;
        ``off``.
    db : path, optional
        The database both sides are stored in (tags ``<prefix>:baseline:<ref>`` and
        ``<prefix>:candidate:<ref>``), written only once every block has succeeded.
    baseline_python, candidate_python : str, optional
        Interpreters of two Python environments instead of git refs.
    threshold, alpha, test, control, rule
        :func:`~accel_toolkit.analysis._blocks.compare_blocks` settings; ``rule="strict"``
        (default): slower when the Holm-adjusted lower bound of the ratio clears the
        threshold; ``estimate``: slower with confidence and the estimate above the
        threshold, which needs about a quarter of the blocks.
    statistic : str
        Each round's figure: ``median`` (``median_s``) or ``min`` (``min_s``, the best case,
        which contention on a shared machine moves less).
    threads : int, optional
        BLAS / OpenMP threads of both sides' processes (default ``DEFAULT_THREADS``, 1;
        ``0`` or ``None``: the environment's).
    interleave : str
        ``config`` (default): in each block the two sides' processes, pinned to one core,
        take turns configuration by configuration (A then B, then B then A), so both
        members of a pair meet the same state of a shared machine. ``process``: one
        side's process after the other's (the only way to compare a ref older than
        ``accel_toolkit._ab_worker``).

    Raises
    ------
    ConfigError
        A ref that does not exist or fails to import or measure (named in the message).
    """
    from .analysis._rounds import compare_rounds
    from .store import open_store

    thread_env(threads)  # a bad count fails before anything is measured
    if statistic not in ("median", "min"):
        raise ConfigError(f"statistic must be 'median' or 'min', got {statistic!r}.")
    if interleave not in INTERLEAVES:
        raise ConfigError(f"interleave must be one of {INTERLEAVES}, got {interleave!r}.")
    if sequential not in SEQUENTIAL:
        raise ConfigError(f"sequential must be one of {SEQUENTIAL}, got {sequential!r}.")
    if not (isinstance(passes, int) and passes >= 1):
        raise ConfigError(f"passes must be a positive integer, got {passes!r}.")
    if blocks < 2 or max_blocks < blocks:
        raise ConfigError(
            f"need 2 <= blocks <= max_blocks, got blocks={blocks}, max_blocks={max_blocks}."
        )
    target = open_store(db)  # a bad --db path fails before anything is measured
    prefix = tag_prefix or f"ab-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
    bench_args = ["--kernels", kernels, "--backends", backends]
    if grid:
        bench_args += ["--grid", str(Path(grid).resolve())]
    elif preset:
        bench_args += ["--preset", preset]
    if dtype:
        bench_args += ["--dtype", dtype]
    budget = DEFAULT_ROUND_BUDGET if time_budget is None else time_budget
    bench_args += ["--time-budget", str(budget), "--rounds", str(passes)]
    names = ("baseline", "candidate")
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="accel-ab-db-")))
        trees = stack.enter_context(_worktrees(Path(repo)))
        sides: dict[str, Side] = {}
        for what, ref, py in (
            ("baseline", baseline, baseline_python),
            ("candidate", candidate, candidate_python),
        ):
            sides[what] = (
                python_side(py, ref, what=what) if py else git_side(repo, ref, trees, what=what)
            )
        tags = {w: f"{prefix}:{w}:{sides[w].ref}" for w in names}
        dbs = {w: tmp / f"{w}.duckdb" for w in names}
        cwd = {w: Path(sides[w].path or tmp) for w in names}
        wall = dict.fromkeys(names, 0.0)
        done = 0
        if interleave == "config":
            measure = _turns(
                sides,
                tags,
                dbs,
                cwd,
                tmp,
                wall,
                threads,
                kernels=kernels,
                backends=backends,
                preset=preset,
                grid=grid,
                dtype=dtype,
                budget=budget,
                passes=passes,
            )
        else:

            def measure(first: int, n: int) -> None:
                for b in range(first, first + n):
                    for w in names if b % 2 == 0 else names[::-1]:
                        wall[w] += _run_round(
                            sides[w], w, dbs[w], tags[w], bench_args, cwd[w], threads
                        )

        def more(n: int) -> None:
            nonlocal done
            measure(done, n)
            done += n

        def compared() -> BlockComparison:
            results = pd.concat([_results(dbs[w]) for w in names], ignore_index=True)
            return compare_rounds(
                results=results,
                baseline=tags["baseline"],
                candidate=tags["candidate"],
                by="tag",
                value=f"{statistic}_s",
                threshold=threshold,
                alpha=alpha,
                test=test,
                control=control,
                suite_gates=True,
                rule=rule,
                unit=UNIT_OF[interleave],
            )

        more(blocks)
        res = compared()
        while done < max_blocks and wants_more_blocks(res, sequential, threshold):
            more(min(2, max_blocks - done))
            res = compared()
        # every block succeeded: merge both sides into the target database
        from .store import Store

        for w in names:
            side = Store(dbs[w], create=False)
            if interleave == "process":
                side.prefix_commands(PROCESS_COMMAND)
            folder = tmp / f"export-{w}"
            side.export_parquet(folder)
            target.import_parquet(folder)
    commits = {w: sides[w].commit for w in names}
    return ABResult(res, tags, commits, done, wall, str(target.path), interleave, passes)
