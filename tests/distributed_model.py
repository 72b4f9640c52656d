"""The model the distributed tests fit, shared by the worker processes and the test."""

import jax.numpy as jnp
import numpy as np

DATA = np.random.default_rng(0).normal(1.0, 2.0, size=(48, 25))
INIT = {"mu": 0.0, "ls": 0.0}


def loglik(p, y):
    return -0.5 * ((y - p["mu"]) / jnp.exp(p["ls"])) ** 2 - p["ls"]


INIT_TRUE = {"mu": 1.0, "ls": 0.5}


def simulate(key, p):
    import jax

    return (p["mu"] + jnp.exp(p["ls"]) * jax.random.normal(key, (25,)),)
