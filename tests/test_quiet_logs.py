"""Third-party notices no user can act on stay out of the run log; every other warning stays."""

from __future__ import annotations

import logging

import pytest

import imitation_kedro  # noqa: F401  (attaches the filters)


@pytest.mark.parametrize(
    ("logger", "message", "shown"),
    [
        ("py.warnings", "x.py:1: UserWarning: \x1b[33mAdd type hints to the `predict` method", False),
        ("py.warnings", "omegaconf.py:637: UserWarning: register_new_resolver() is deprecated", False),
        ("diffusers.models.modeling_utils", "modules in X that should be kept in float32: [].", False),
        ("diffusers.models.modeling_utils", "modules in X that should be kept in float32: ['n'].", True),
        ("py.warnings", "x.py:1: UserWarning: something the user should see", True),
    ],
)
def test_only_known_notices_are_dropped(logger, message, shown):
    record = logging.LogRecord(logger, logging.WARNING, __file__, 1, message, None, None)
    assert bool(logging.getLogger(logger).filter(record)) is shown
