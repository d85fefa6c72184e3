"""Running the toolkit's notebooks through papermill, with provenance.

:func:`run_notebook` executes ``notebooks/<name>.ipynb`` with the ``python3`` kernel of
the interpreter running it, injects the executed notebook's own path as the
``notebook_output`` parameter (so the runs it stores say where their notebook is), and
turns papermill's execution error into a :class:`NotebookError` naming the failing cell.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..exceptions import NotebookError

__all__ = ["NOTEBOOKS", "NotebookRun", "notebook_path", "parse_value", "run_notebook"]

#: the notebooks shipped with the toolkit
NOTEBOOKS = ("benchmark", "report", "explore")
KERNEL_NAME = "python3"


#: arguments of the notebook's kernel: its own log at ERROR, so that IPKernelApp's warning
#: about the local TCP transport papermill asks for is not printed on every run (the kernel's
#: cell output and errors are unaffected)
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=ERROR",)


def notebook_path(name: str) -> Path:
    """Path of a shipped notebook (``benchmark``, ``report``, ``explore``) or of a file."""
    p = Path(name).expanduser()
    if p.suffix == ".ipynb" and p.is_file():
        return p.resolve()
    stem = p.stem if p.suffix == ".ipynb" else name
    if stem not in NOTEBOOKS:
        raise NotebookError(
            f"Unknown notebook {name!r}: give one of {', '.join(NOTEBOOKS)} or the path of an "
            f".ipynb file."
        )
    from .._assets import asset_dir

    try:
        folder = asset_dir("notebooks")
    except FileNotFoundError as exc:
        raise NotebookError(str(exc)) from exc
    return (folder / f"{stem}.ipynb").resolve()


def parse_value(text: str) -> Any:
    """A ``-p NAME VALUE`` value: int, float, bool, None, JSON list/dict, else the string."""
    t = text.strip()
    low = t.lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    if t[:1] in "[{":
        try:
            return json.loads(t)
        except ValueError:
            pass
    return text


def _check_kernel() -> None:
    """The ``python3`` kernel must start this interpreter (where accel_toolkit is)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel as exc:
        raise NotebookError(
            f"No Jupyter kernel named {KERNEL_NAME!r}. Install one for this environment: "
            f"{sys.executable} -m ipykernel install --sys-prefix"
        ) from exc
    exe = spec.argv[0] if spec.argv else ""
    if exe in ("python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"):
        return  # jupyter_client starts sys.executable for these
    if Path(exe).resolve() != Path(sys.executable).resolve():
        raise NotebookError(
            f"The {KERNEL_NAME!r} Jupyter kernel runs {exe}, not this interpreter "
            f"({sys.executable}), so it may not have accel_toolkit. Register this environment's "
            f"kernel: {sys.executable} -m ipykernel install --sys-prefix"
        )


@dataclass(frozen=True)
class NotebookRun:
    """An executed notebook and the runs it stored."""

    notebook: str
    output: Path
    parameters: dict[str, Any]
    run_ids: list[str]

    def _repr_html_(self) -> str:
        import html

        return (
            f"<b>{html.escape(self.notebook)}</b> executed to "
            f"<code>{html.escape(str(self.output))}</code>; runs: "
            f"{html.escape(', '.join(self.run_ids) or 'none')}"
        )


def _output_path(stem: str, output: str | os.PathLike[str] | None) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    if output is None:
        return (Path("out") / f"{stem}-{stamp}.ipynb").resolve()
    p = Path(output).expanduser()
    if p.suffix != ".ipynb":
        return (p / f"{stem}-{stamp}.ipynb").resolve()
    return p.resolve()


def run_notebook(
    name: str,
    parameters: Mapping[str, Any] | None = None,
    output: str | os.PathLike[str] | None = None,
    *,
    db: str | os.PathLike[str] | None = None,
    log_output: bool = False,
    progress_bar: bool = False,
    start_timeout: int = 120,
) -> NotebookRun:
    """Execute a toolkit notebook with papermill and record where its output went.

    Parameters
    ----------
    name : str
        ``benchmark``, ``report``, ``explore`` or a path to an ``.ipynb``.
    parameters : dict, optional
        Values for the notebook's ``parameters`` cell; unknown names are an error.
    output : path, optional
        The executed notebook (``.ipynb``) or a folder for ``<name>-<UTC time>.ipynb``
        (default ``out/``).
    db : path, optional
        The results database (passed as the ``db_path`` parameter).
    log_output : bool
        Stream the notebook's output to the console while it runs.

    Returns
    -------
    NotebookRun
        The executed notebook's path and the ids of the runs it stored.

    Raises
    ------
    NotebookError
        An unknown notebook or parameter, a missing kernel, or a cell that failed (the
        message names the cell and the error; the output notebook shows it in place).
    """
    import papermill as pm

    src = notebook_path(name)
    stem = src.stem
    out = _output_path(stem, output)
    out.parent.mkdir(parents=True, exist_ok=True)
    params = dict(parameters or {})
    declared = pm.inspect_notebook(str(src))
    if db is not None:
        params["db_path"] = str(Path(db).expanduser().resolve())
    if "notebook_output" in declared:
        params["notebook_output"] = str(out)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise NotebookError(
            f"{src.name} has no parameter(s) {', '.join(unknown)}; its parameters are: "
            f"{', '.join(declared)}."
        )
    _check_kernel()
    try:
        pm.execute_notebook(
            str(src),
            str(out),
            parameters=params,
            kernel_name=KERNEL_NAME,
            language="python",
            log_output=log_output,
            progress_bar=progress_bar,
            start_timeout=start_timeout,
            cwd=os.getcwd(),
            extra_arguments=list(KERNEL_ARGUMENTS),
        )
    except pm.PapermillExecutionError as exc:
        raise NotebookError(
            f"{src.name} failed in cell {exc.cell_index} (execution count {exc.exec_count}): "
            f"{exc.ename}: {exc.evalue}\nThe executed notebook, with the error in place, is "
            f"{out}."
        ) from exc
    run_ids = _runs_of(out, params.get("db_path"))
    return NotebookRun(stem, out, params, run_ids)


def _runs_of(output: Path, db_path: str | None) -> list[str]:
    """Ids of the runs whose ``notebook_output`` is ``output``."""
    from ..store import Store, default_db_path

    path = Path(db_path) if db_path else default_db_path()
    if not path.is_file():
        return []
    runs = Store(path).query(
        "SELECT run_id FROM runs WHERE notebook_output = ? ORDER BY created_at", [str(output)]
    )
    return list(runs["run_id"])
