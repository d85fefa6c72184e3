"""Browser discovery and the Playwright-missing message (no browser launched here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from accel_toolkit.backends.browser import _discover
from accel_toolkit.backends.browser._discover import (
    BASE_FLAGS,
    SPARTICUZ_FLAGS,
    find_browser,
    find_browsers,
)
from accel_toolkit.exceptions import BackendUnavailableError


def _system_chromium() -> str | None:
    found = _discover._system_specs()
    return found[0].executable if found else None


def test_env_variable_comes_first(monkeypatch):
    exe = _system_chromium()
    if exe is None:
        pytest.skip("no system Chrome/Chromium installed")
    monkeypatch.setenv("ACCEL_TOOLKIT_BROWSER", exe)
    first = find_browsers()[0]
    assert first.source == "env" and first.executable == exe
    assert find_browser().executable == exe


def test_env_variable_naming_nothing_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("ACCEL_TOOLKIT_BROWSER", str(tmp_path / "no-such-chrome"))
    with pytest.raises(BackendUnavailableError, match="ACCEL_TOOLKIT_BROWSER"):
        find_browsers()


def test_explicit_browser_option_wins(monkeypatch, tmp_path):
    monkeypatch.delenv("ACCEL_TOOLKIT_BROWSER", raising=False)
    with pytest.raises(BackendUnavailableError, match="not an executable"):
        find_browser(str(tmp_path / "nothing"))
    exe = _system_chromium()
    if exe:
        spec = find_browser(exe)
        assert spec.source == "option" and spec.executable == exe
        assert find_browser("system").source == "system"


def test_every_launch_gets_the_base_flags(monkeypatch):
    monkeypatch.delenv("ACCEL_TOOLKIT_BROWSER", raising=False)
    found = find_browsers()
    if not found:
        pytest.skip("no browser installed")
    for spec in found:
        assert set(BASE_FLAGS) <= set(spec.flags)
        assert len(spec.flags) == len(set(spec.flags))
        if spec.source == "sparticuz":
            assert set(SPARTICUZ_FLAGS) <= set(spec.flags)
            assert str(Path(spec.executable).parent) in spec.env["LD_LIBRARY_PATH"].split(":")


def test_sparticuz_is_preferred_over_the_system_browser(monkeypatch):
    monkeypatch.delenv("ACCEL_TOOLKIT_BROWSER", raising=False)
    if _discover.sparticuz_package() is None:
        pytest.skip("@sparticuz/chromium not in node_modules (run make install)")
    order = [s.source for s in find_browsers()]
    assert order[0] == "sparticuz"
    assert find_browser("sparticuz").label.startswith("@sparticuz/chromium")


def test_missing_playwright_says_what_to_install(monkeypatch):
    from accel_toolkit.backends.browser import WebGPUBackend, WebNNBackend

    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # makes the import fail
    for cls in (WebGPUBackend, WebNNBackend):
        a = cls.probe()
        assert not a.available and "pip install 'accel-toolkit[browser]'" in a.reason
        with pytest.raises(BackendUnavailableError, match=r"accel-toolkit\[browser\]"):
            cls()


@pytest.mark.parametrize(
    "module", ["", "._backends", "._discover", "._headless", "._server", "._webnn_graphs"]
)
def test_browser_modules_export_sorted_names(module):
    import importlib

    mod = importlib.import_module("accel_toolkit.backends.browser" + module)
    assert list(mod.__all__) == sorted(mod.__all__)
    assert all(hasattr(mod, n) for n in mod.__all__)
