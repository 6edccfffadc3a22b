"""Write the data files the examples fit (fixed seeds: rerunning gives the
same bytes).

    python examples/make_data.py

data/decay.csv      t, y: y = 2.5 exp(-1.3 t) + 0.5 + N(0, 0.05^2), 100 points
                    on t in [0, 5] (examples/fit_decay.sh)
data/logistic_X.csv 400 x 5 features, N(0, 1)      (examples/logistic.sh)
data/logistic_y.csv labels in {-1, +1}: P(y = 1) = sigmoid(X w*) with
                    w* = (1.5, -2, 0.5, 0, 1)
data/osborne1.csv   t, y of Osborne 1 (Moré, Garbow & Hillstrom 1981,
                    problem 17): 33 points, t = 0, 10, ..., 320
"""
from __future__ import annotations

import os

import numpy as np

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
DECAY = {"a": 2.5, "b": 1.3, "c": 0.5, "sigma": 0.05, "n": 100}
LOGISTIC_W = [1.5, -2.0, 0.5, 0.0, 1.0]
OSBORNE_Y = [0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751,
             0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490,
             0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406]


def write(name: str, columns: list[str], rows: np.ndarray) -> None:
    np.savetxt(os.path.join(HERE, name), rows, delimiter=",", header=",".join(columns),
               comments="", fmt="%.10g")


def main() -> None:
    os.makedirs(HERE, exist_ok=True)
    rng = np.random.default_rng(20261126)
    t = np.linspace(0.0, 5.0, DECAY["n"])
    y = DECAY["a"] * np.exp(-DECAY["b"] * t) + DECAY["c"] \
        + rng.normal(0.0, DECAY["sigma"], t.size)
    write("decay.csv", ["t", "y"], np.column_stack([t, y]))

    X = rng.normal(size=(400, len(LOGISTIC_W)))
    p = 1.0 / (1.0 + np.exp(-(X @ np.array(LOGISTIC_W))))
    labels = np.where(rng.uniform(size=p.size) < p, 1.0, -1.0)
    write("logistic_X.csv", [f"f{j + 1}" for j in range(X.shape[1])], X)
    write("logistic_y.csv", ["y"], labels[:, None])

    write("osborne1.csv", ["t", "y"], np.column_stack([10.0 * np.arange(33), OSBORNE_Y]))


if __name__ == "__main__":
    main()
