"""Test configuration: hessjax warnings are errors, everything is seeded.

x64 is NOT enabled globally here on purpose: the library must work with the
default configuration, and tests assert it never changes it.
"""

import random
import warnings

import numpy as np
import pytest

import hessjax


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "error::hessjax.HessjaxWarning")
    config.addinivalue_line("markers", "slow: longer-running tests")


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", hessjax.HessjaxWarning)
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
