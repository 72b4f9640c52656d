"""Test configuration: hessjax warnings are errors, everything is seeded.

x64 is NOT enabled globally here on purpose: the library must work with the
default configuration, and tests assert it never changes it.
"""

import os
import random
import warnings

# The CLI keeps compiled programs in a persistent cache by default; tests call
# it in-process, and must neither change the test process's JAX configuration
# nor write to the user's cache (test_cli_compilation_cache.py tests the default
# in a subprocess).
os.environ["HESSJAX_NO_COMPILATION_CACHE"] = "1"

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
