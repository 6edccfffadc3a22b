#!/usr/bin/env bash
# L2-regularized logistic regression on 400 labelled points with 5 features:
# X is a 400 x 5 matrix (every column of logistic_X.csv), y the labels (+-1).
set -euo pipefail
cd "$(dirname "$0")"
newtonopt minimize "sum(softplus(-y * (X @ w))) + 0.5*lam*sum(w^2) where lam = 0.1" \
    --data X=data/logistic_X.csv --data data/logistic_y.csv --dim w=5 \
    --method newton --x0 w=0
