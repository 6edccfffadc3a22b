#!/usr/bin/env bash
# Four methods from the classic start of the Rosenbrock valley, side by side.
set -euo pipefail
newtonopt compare "(1-x)^2 + 100*(y-x^2)^2" --x0 x=-1.2,y=1
