"""The README's examples run as written, and every relative link in the docs resolves.

The fast tier runs the README's Python blocks and ``accel-toolkit`` commands narrowed to the
``cpu`` backend (the browser backends are dropped from their backend lists) against a
temporary database; the ``slow`` tier runs them verbatim, browsers and notebooks included.
Examples must use ``preset="tiny"``/``--preset tiny`` so that both tiers take seconds.
Blocks fenced as ``shell`` need what a test cannot have (a Dask cluster on other hosts, a git
checkout with two refs): they are not run here; ``ab`` and the cluster are tested in
``test_ab.py`` and ``test_distributed.py``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import accel_toolkit as at

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
BROWSER_BACKEND = re.compile(r"\b(webgpu|webnn|wgpu)\b")
CLI = "accel-toolkit"


def _blocks(text: str, *langs: str) -> list[str]:
    """The bodies of the fenced code blocks whose language is one of ``langs``."""
    return [m.group(2) for m in FENCE.finditer(text) if m.group(1) in langs]


def _commands(block: str) -> list[list[str]]:
    """The ``accel-toolkit`` command lines of a shell block, continuations joined."""
    joined = re.sub(r"\\\n\s*", " ", block)
    lines = (shlex.split(line, comments=True) for line in joined.splitlines())
    return [argv for argv in lines if argv and argv[0] == CLI]


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _python_examples() -> list[str]:
    return _blocks(_readme(), "python")


def _cli_examples() -> list[list[str]]:
    return [
        argv for block in _blocks(_readme(), "bash", "sh", "console") for argv in _commands(block)
    ]


def _cpu_only_python(code: str) -> str:
    """``code`` with the browser backends removed from its backend lists."""
    return re.sub(r',\s*"(webgpu|webnn|wgpu)"', "", code)


def _cpu_only_cli(argv: list[str]) -> list[str]:
    """``argv`` with the browser backends removed from its backend lists.

    ``doctor`` without ``--backends`` would launch every browser, so it is asked for ``cpu``.
    """
    out = [re.sub(r",(webgpu|webnn|wgpu)\b", "", a) for a in argv]
    if out[1] == "doctor" and "--backends" not in out:
        out += ["--backends", "cpu"]
    return out


def _run_cli(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "accel_toolkit.cli", *argv[1:]]
    r = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=600, env=os.environ.copy()
    )
    assert r.returncode == 0, f"README command failed: {shlex.join(argv)}\n{r.stdout}\n{r.stderr}"
    return r


def _stored(db: Path) -> list[tuple[str, str, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT kernel, backend, status FROM results").fetchall()


def _assert_all_ok(db: Path, backends: set[str]) -> None:
    rows = _stored(db)
    assert rows, "the README's examples stored nothing"
    assert {b for _, b, _ in rows} == backends
    bad = [r for r in rows if r[2] != "ok"]
    assert not bad, f"README examples stored failures: {bad}"


@pytest.fixture
def readme_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh default database (``$ACCEL_TOOLKIT_DB``) and working directory."""
    db = tmp_path / "readme.duckdb"
    monkeypatch.setenv("ACCEL_TOOLKIT_DB", str(db))
    monkeypatch.chdir(tmp_path)
    return db


def _exec_python(code: str) -> dict[str, object]:
    namespace: dict[str, object] = {"__name__": "__readme__"}
    exec(compile(code, str(README), "exec"), namespace)
    return namespace


# --------------------------------------------------------------------------- the examples


def test_readme_has_the_promised_examples() -> None:
    text = _readme()
    shell = "\n".join(_blocks(text, "bash"))
    assert "make demo" in shell and "make test" in shell
    assert len(_python_examples()) == 1, "one Python example"
    assert 1 <= len(_python_examples()[0].strip().splitlines()) <= 12
    assert any(argv[1] == "bench" for argv in _cli_examples())
    assert any(argv[1] == "notebook" for argv in _cli_examples())
    for code in _python_examples():
        assert 'preset="tiny"' in code or "preset=" not in code
    for argv in _cli_examples():
        assert "--preset" not in argv or argv[argv.index("--preset") + 1] == "tiny"
        assert "--db" not in argv, "README commands use $ACCEL_TOOLKIT_DB, not --db"


def test_readme_python_example_runs_on_cpu(readme_db: Path) -> None:
    for code in _python_examples():
        namespace = _exec_python(_cpu_only_python(code))
        results = [v for v in namespace.values() if isinstance(v, at.RunResult)]
        assert all(r.passed for r in results)
    _assert_all_ok(readme_db, {"cpu"})


def test_readme_cli_example_runs_on_cpu(readme_db: Path) -> None:
    commands = [argv for argv in _cli_examples() if argv[1] != "notebook"]
    assert commands
    for argv in commands:
        _run_cli(_cpu_only_cli(argv), readme_db.parent)
    _assert_all_ok(readme_db, {"cpu"})
    for argv in commands:
        if "--out" in argv:
            assert (readme_db.parent / argv[argv.index("--out") + 1]).is_file()


@pytest.mark.slow
@pytest.mark.browser
def test_readme_python_example_runs_verbatim(readme_db: Path) -> None:
    code = "\n".join(_python_examples())
    assert BROWSER_BACKEND.search(code)
    _exec_python(code)
    _assert_all_ok(readme_db, {"cpu", *BROWSER_BACKEND.findall(code)})


@pytest.mark.slow
@pytest.mark.browser
def test_readme_cli_example_runs_verbatim(readme_db: Path) -> None:
    commands = [argv for argv in _cli_examples() if argv[1] != "notebook"]
    backends = {"cpu"}
    for argv in commands:
        _run_cli(argv, readme_db.parent)
        if "--backends" in argv:
            backends |= set(argv[argv.index("--backends") + 1].split(","))
    _assert_all_ok(readme_db, backends)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.notebook
def test_readme_notebook_example_runs_verbatim(readme_db: Path) -> None:
    commands = [argv for argv in _cli_examples() if argv[1] == "notebook"]
    assert commands
    for argv in commands:
        _run_cli(argv, readme_db.parent)
    assert _stored(readme_db)
    assert all(status == "ok" for _, _, status in _stored(readme_db))


# --------------------------------------------------------------------------- the links


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    anchors = set()
    for m in re.finditer(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, re.M):
        slug = _slug(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _relative_links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in _relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading with that anchor)")
    assert not broken, f"{page.relative_to(REPO)}: broken links: {broken}"


def test_every_docs_page_is_listed_in_the_index() -> None:
    index = REPO / "docs" / "index.md"
    listed = {(index.parent / t.partition("#")[0]).resolve() for t in _relative_links(index)}
    missing = [p.name for p in PAGES[1:] if p != index and p.resolve() not in listed]
    assert not missing, f"add these pages to docs/index.md: {missing}"


def test_the_link_checker_finds_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n[ok](page.md#title) [gone](nope.md) [bad](page.md#nowhere)\n"
        "```\n[in code](ignored.md)\n```\n[web](https://example.com)\n"
    )
    assert _relative_links(page) == ["page.md#title", "nope.md", "page.md#nowhere"]
    assert _anchors(page) == {"title"}
