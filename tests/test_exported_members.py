import importlib

import pytest

import accel_toolkit

MODULES = [
    "accel_toolkit",
    "accel_toolkit.exceptions",
    "accel_toolkit.kernels",
    "accel_toolkit.harness",
    "accel_toolkit.store",
    "accel_toolkit.backends",
    "accel_toolkit.analysis",
    "accel_toolkit.charts",
    "accel_toolkit.report",
    "accel_toolkit.predict",
    "accel_toolkit.models",
    "accel_toolkit.tuning",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_complete(name):
    mod = importlib.import_module(name)
    exported = list(mod.__all__)
    assert exported == sorted(exported), f"{name}.__all__ is not sorted"
    for member in exported:
        assert hasattr(mod, member), f"{name}.{member} is in __all__ but missing"


def test_public_members_are_exported():
    public = {n for n in dir(accel_toolkit) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(accel_toolkit, n)).__name__ == "module"}
    assert public - modules <= set(accel_toolkit.__all__)


def test_import_needs_no_optional_backend():
    import subprocess
    import sys

    code = (
        "import sys, accel_toolkit\n"
        "heavy = [m for m in ('wgpu', 'playwright', 'cupy', 'sklearn', 'papermill') "
        "if m in sys.modules]\n"
        "print(heavy)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_gate_is_exported():
    # at.check returns the verdict `accel-toolkit check` prints (tests/test_check_cli.py)
    assert {"check", "CheckResult"} <= set(accel_toolkit.__all__)
    assert accel_toolkit.check.__module__ == "accel_toolkit._check"
