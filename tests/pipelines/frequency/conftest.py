"""``hyperscan_backend``: each Hyperscan backend the caption scan can run on.

``system`` (the system libhs, Debian ``libhyperscan5``, plus a C compiler) skips with the reason
when it cannot run here, and fails instead when ``CI=true`` (.ci/run installs it).
"""

from __future__ import annotations

import os

import pytest


def require_system_backend() -> None:
    from imitation_kedro.pipelines.frequency.hyperscan_backends import system_unavailable

    why = system_unavailable()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why} -- CI must test the system backend, not skip it")
        pytest.skip(why)


@pytest.fixture(params=["system", "bundled"])
def hyperscan_backend(request) -> str:
    if request.param == "system":
        require_system_backend()
    return request.param
