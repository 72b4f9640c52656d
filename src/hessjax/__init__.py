"""hessjax: exact Hessians and standard errors you can trust, built on JAX.

Write the objective or log-likelihood in ``jax.numpy`` as ``f(params, *data)``;
hessjax computes exact derivatives in float64 (scoped, never global) and
minimizes with JAX-native methods that run under ``jit`` and ``vmap``.
"""

from .hessian import DEFAULT_HESSIAN_MAX_BYTES as DEFAULT_HESSIAN_MAX_BYTES
from .hessian import HessianMemoryError as HessianMemoryError
from .hessian import hessian as hessian
from .hessian import hessian_memory_estimate as hessian_memory_estimate
from .hessian import hvp as hvp
from ._tree import param_names as param_names
from .approximations import FDHessian as FDHessian
from .approximations import StepSweep as StepSweep
from .approximations import default_step as default_step
from .approximations import fd_hessian as fd_hessian
from .approximations import step_sweep as step_sweep
from .bfgs_trace import BFGSTrace as BFGSTrace
from .bfgs_trace import bfgs_trace as bfgs_trace
from .compilation_cache import enable_compilation_cache as enable_compilation_cache
from .compare import Candidate as Candidate
from .compare import CandidateReport as CandidateReport
from .compare import HessianComparison as HessianComparison
from .compare import check_hessian as check_hessian
from .compare import check_scipy_result as check_scipy_result
from .compare import compare_hessians as compare_hessians
from .diagnostics import Diagnostics as Diagnostics
from .batch import DEFAULT_BATCH_MAX_BYTES as DEFAULT_BATCH_MAX_BYTES
from .batch import fit_batch as fit_batch
from .batch import shard_data as shard_data
from .bootstrap import BootstrapResult as BootstrapResult
from .bootstrap import bootstrap as bootstrap
from .coverage import CoverageStudy as CoverageStudy
from .coverage import coverage_study as coverage_study
from .results import BatchSummary as BatchSummary
from .matrix_free import LARGE_MODEL_THRESHOLD as LARGE_MODEL_THRESHOLD
from .results import EigenBounds as EigenBounds
from .results import LargeFitResult as LargeFitResult
from .results import SelectedSE as SelectedSE
from .matrix_free import extreme_eigenvalues as extreme_eigenvalues
from .matrix_free import fit_large as fit_large
from .matrix_free import selected_se as selected_se
from .optimize.minimize import minimize_newton_cg as minimize_newton_cg
from .results import DeltaResult as DeltaResult
from .results import FitResult as FitResult
from .fit import fit as fit
from .results import LeastSquaresResult as LeastSquaresResult
from .least_squares import least_squares as least_squares
from .plots import plot_bfgs_trace as plot_bfgs_trace
from .plots import plot_bootstrap as plot_bootstrap
from .plots import plot_comparison as plot_comparison
from .plots import plot_step_sweep as plot_step_sweep
from .plots import plot_contour as plot_contour
from .plots import plot_coverage as plot_coverage
from .plots import plot_profile as plot_profile
from .plots import plot_profiles as plot_profiles
from .profile import ProfileResult as ProfileResult
from .profile import profile_intervals as profile_intervals
from .profile import ProfileCurve as ProfileCurve
from .laplace import fit_laplace as fit_laplace
from .laplace import laplace_loglik as laplace_loglik
from .profile import profile_contour as profile_contour
from .profile import profile_curve as profile_curve
from .hypothesis_tests import TestResult as TestResult
from .hypothesis_tests import lr_test as lr_test
from .optimize import MinimizeResult as MinimizeResult
from .optimize import Status as Status
from .optimize import minimize as minimize
from .warnings import BoundaryWarning as BoundaryWarning
from .warnings import ConvergenceWarning as ConvergenceWarning
from .warnings import HessianWarning as HessianWarning
from .warnings import IntervalWarning as IntervalWarning
from .warnings import HessjaxWarning as HessjaxWarning
from .warnings import PrecisionWarning as PrecisionWarning
from .warnings import StaleDataWarning as StaleDataWarning

__version__ = "0.1.0"

__all__ = [
    "hessian",
    "hvp",
    "param_names",
    "hessian_memory_estimate",
    "HessianMemoryError",
    "DEFAULT_HESSIAN_MAX_BYTES",
    "fit",
    "FitResult",
    "DeltaResult",
    "fit_batch",
    "shard_data",
    "BatchSummary",
    "bootstrap",
    "BootstrapResult",
    "coverage_study",
    "CoverageStudy",
    "fit_large",
    "LargeFitResult",
    "selected_se",
    "SelectedSE",
    "extreme_eigenvalues",
    "EigenBounds",
    "minimize_newton_cg",
    "LARGE_MODEL_THRESHOLD",
    "DEFAULT_BATCH_MAX_BYTES",
    "Diagnostics",
    "profile_intervals",
    "ProfileCurve",
    "fit_laplace",
    "laplace_loglik",
    "profile_contour",
    "profile_curve",
    "ProfileResult",
    "lr_test",
    "TestResult",
    "least_squares",
    "LeastSquaresResult",
    "compare_hessians",
    "plot_step_sweep",
    "plot_comparison",
    "plot_bfgs_trace",
    "plot_profile",
    "plot_profiles",
    "plot_contour",
    "plot_bootstrap",
    "plot_coverage",
    "bfgs_trace",
    "BFGSTrace",
    "check_hessian",
    "check_scipy_result",
    "Candidate",
    "CandidateReport",
    "HessianComparison",
    "fd_hessian",
    "step_sweep",
    "default_step",
    "FDHessian",
    "StepSweep",
    "minimize",
    "MinimizeResult",
    "Status",
    "HessjaxWarning",
    "PrecisionWarning",
    "ConvergenceWarning",
    "HessianWarning",
    "BoundaryWarning",
    "IntervalWarning",
    "StaleDataWarning",
    "enable_compilation_cache",
    "__version__",
]
