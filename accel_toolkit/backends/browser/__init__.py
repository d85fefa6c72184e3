"""The browser backends: WGSL in Chromium's WebGPU (``webgpu``) and WebNN graphs (``webnn``).

Both run in the *headless* venue: a Chromium launched once per backend instance through
Playwright, serving ``widgets/runtime/`` from a local 127.0.0.1 server. Browser discovery is
documented in :mod:`accel_toolkit.backends.browser._discover`.
"""

from __future__ import annotations

from ._backends import WebGPUBackend, WebNNBackend

__all__ = ["WebGPUBackend", "WebNNBackend"]
