"""The models the distributed tests fit, shared by the worker processes and the test."""

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


# One dataset split by observations (shard_data + fit): a logistic regression, 96 rows.
_rng = np.random.default_rng(1)
X = np.column_stack([np.ones(96), _rng.normal(size=(96, 2))])
Y = (X @ np.array([0.3, 1.0, -0.7]) + _rng.logistic(size=96) > 0).astype(float)
BETA0 = {"beta": np.zeros(3)}


def logit_loglik(p, X, y):
    eta = X @ p["beta"]
    return y * eta - jnp.logaddexp(0.0, eta)
