"""Method names and one-line descriptions (no imports: the CLI's --help
and the problem list must not load solver code).  The names are the presets
of ``solvers.method.PRESETS`` (a test checks they agree)."""

METHODS = {
    "gd": "gradient descent, backtracking Armijo (or fixed --lr)",
    "newton": "Newton, exact Hessian, modified when indefinite, escapes saddles",
    "bfgs": "BFGS, strong Wolfe line search",
    "lbfgs": "limited-memory BFGS (--memory, default 10)",
    "cg": "nonlinear conjugate gradient, Hager-Zhang beta (CG_DESCENT)",
    "newton-cg": "line-search truncated Newton, CG with Hessian-vector products",
    "trust-ncg": "Steihaug-CG trust-region Newton, Hessian-vector products",
    "trust-exact": "trust region, nearly exact steps (Moré-Sorensen), dense Hessian",
}
COMPARE_DEFAULT = ("gd", "newton", "bfgs", "newton-cg")
