"""The built wheel, installed in a fresh venv, finds shaders/ and widgets/ inside itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

CHECK = r"""
import json, sys
import accel_toolkit
from accel_toolkit._assets import asset_dir, load_shader, widget_path
shaders, widgets = asset_dir("shaders"), asset_dir("widgets")
assert "site-packages" in str(shaders), shaders
assert "site-packages" in str(widgets), widgets
wgsl = sorted(p.name for p in shaders.glob("*.wgsl"))
js = sorted(str(p.relative_to(widgets)) for p in widgets.rglob("*.js"))
print(json.dumps({"shaders": str(shaders), "wgsl": wgsl, "js": js,
                  "runtime": str(widget_path("runtime/timing.js"))}))
"""


def test_installed_wheel_finds_its_assets(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
        check=True,
        timeout=600,
    )
    wheel = next(dist.glob("accel_toolkit-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=900)
    out = subprocess.run(
        [str(py), "-c", CHECK],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    import json

    info = json.loads(out.stdout.strip().splitlines()[-1])
    checkout = sorted(p.name for p in (REPO / "shaders").glob("*.wgsl"))
    assert info["wgsl"] == checkout
    assert "runtime/timing.js" in info["js"]
