"""Which adapter a tuning result belongs to: the adapter fingerprint.

A fingerprint is what makes a kernel's best configuration change: the backend (wgpu-py or a
browser), the adapter's vendor and architecture, the driver (wgpu: the adapter description,
e.g. Mesa's version) or browser and its version, and the fallback flag. Its ``key`` is a
short hash of those fields; the tuning table stores both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["fingerprint", "fingerprint_key"]


def fingerprint(backend: str, device: Mapping[str, Any]) -> dict[str, Any]:
    """The fingerprint of ``device`` (a backend's ``device_info()``) on ``backend``."""
    if backend == "wgpu":
        return {
            "backend": "wgpu",
            "vendor": str(device.get("vendor", "")),
            "architecture": str(device.get("architecture", "")),
            "device": str(device.get("device", "")),
            "driver": str(device.get("description", "")),
            "api": f"wgpu-py {device.get('wgpu', '')}",
            "backend_type": str(device.get("backend_type", "")),
            "fallback": bool(device.get("is_fallback_adapter", False)),
        }
    ad = device.get("adapter") or {}
    browser = device.get("browser") or device.get("browser_name") or ""
    return {
        "backend": backend,
        "vendor": str(ad.get("vendor", "")),
        "architecture": str(ad.get("architecture", "")),
        "device": str(ad.get("device", "")),
        "driver": str(ad.get("description", "")),
        "api": f"{browser} {device.get('browser_version', device.get('version', ''))}".strip(),
        "backend_type": "",
        "fallback": bool(ad.get("isFallbackAdapter", ad.get("is_fallback_adapter", False))),
    }


def fingerprint_key(fp: Mapping[str, Any]) -> str:
    """A 16-hex-digit hash of a fingerprint."""
    return hashlib.sha1(json.dumps(dict(fp), sort_keys=True).encode()).hexdigest()[:16]
