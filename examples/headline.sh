#!/usr/bin/env bash
# The headline example: Newton with an exact Hessian on a double well.
set -euo pipefail
newtonopt minimize "x**4 - 2*x**2" --method newton --x0 x=2
