#!/usr/bin/env bash
# Fit y = a exp(-b t) + c to 100 noisy points (examples/data/decay.csv, made
# by examples/make_data.py with a = 2.5, b = 1.3, c = 0.5, noise sd 0.05).
# Each column of the file is bound by its header name: t and y.
set -euo pipefail
cd "$(dirname "$0")"
newtonopt minimize "sum((y - a*exp(-b*t) - c)^2)" --data data/decay.csv \
    --method newton --x0 a=1,b=1,c=0
