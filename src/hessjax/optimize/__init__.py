"""JAX-native optimizers: BFGS (line search) and trust-region Newton (exact Hessian)."""

from .base import MinimizeResult as MinimizeResult
from .base import Status as Status
from .minimize import minimize as minimize

__all__ = ["minimize", "MinimizeResult", "Status"]
