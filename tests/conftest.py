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


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled executables after each test module.

    Every compiled XLA:CPU executable keeps memory mappings for its code; the
    suite compiles thousands of programs, and past the kernel's
    vm.max_map_count (65,530 by default) the next compilation segfaults inside
    LLVM. Tests in later modules recompile what they need.
    """
    yield
    import gc

    import jax

    jax.clear_caches()
    gc.collect()
