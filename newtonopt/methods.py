"""Method names and one-line descriptions (no imports: the CLI's --help
and the problem list must not load solver code)."""

METHODS = {
    "gd": "gradient descent, backtracking Armijo (or fixed --lr)",
    "newton": "Newton, exact Hessian, modified when indefinite, escapes saddles",
    "bfgs": "BFGS, strong Wolfe line search",
    "lbfgs": "limited-memory BFGS (--memory, default 10)",
    "newton-cg": "line-search truncated Newton, CG with Hessian-vector products",
    "trust-ncg": "Steihaug-CG trust-region Newton, Hessian-vector products",
}
COMPARE_DEFAULT = ("gd", "newton", "bfgs", "newton-cg")
