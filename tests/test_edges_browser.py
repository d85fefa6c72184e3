"""Every kernel at the numerical edges on webgpu and webnn, in one browser session each.

The same hypothesis cases as ``test_edges.py`` (large magnitudes, one large value in any
lane, all-equal rows, zeros, negatives, float16 near overflow), a few examples per kernel so
the slow tier stays cheap; configurations a backend reports as unsupported are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from edge_inputs import assert_matches, edge_case, edge_inputs
from hypothesis import HealthCheck, given, settings

from accel_toolkit.backends import Backend, get_backend
from accel_toolkit.exceptions import BackendUnavailableError
from accel_toolkit.kernels import KERNELS, get_kernel

pytestmark = [pytest.mark.slow, pytest.mark.browser]

NAMES = sorted(KERNELS)
EXAMPLES = 4


@pytest.fixture(scope="module", params=["webgpu", "webnn"])
def browser_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    try:
        be = get_backend(request.param)
    except BackendUnavailableError as exc:
        pytest.skip(f"{request.param} unavailable here: {exc}")
    yield be
    be.close()


@pytest.mark.parametrize("name", NAMES)
def test_browser_at_the_edges(browser_backend: Backend, name: str) -> None:
    spec = get_kernel(name)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
        ],
    )
    @given(case=edge_case(name))
    def check(case: tuple[dict, str, str, int, int]) -> None:
        p, dtype, kind, lane, seed = case
        if browser_backend.supports(spec, p, dtype) is not None:
            return
        x = edge_inputs(name, p, dtype, kind, lane, seed)
        got = browser_backend.run(spec, p, dtype, x)
        assert_matches(name, got, x, p, dtype, f"{browser_backend.name} {kind} lane={lane}")

    check()
