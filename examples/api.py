"""The Python API: text objectives, Python callables, derivatives."""
import numpy as np

import newtonopt as no
import newtonopt.functions as F

# A typed objective, solved with Newton's method.
res = no.minimize("x**4 - 2*x**2", x0={"x": 2.0}, method="newton")
print(res.status, res.x, res.fun, res.nit)

# A Python callable on a Variable, with Hessian-vector products only.
def rosen(x):
    return F.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

x0 = np.zeros(100)
res = no.minimize(rosen, x0=x0, method="newton-cg")
print(res.status, res.nit, res.nhvp, float(np.max(np.abs(res.x - 1))))

# Derivatives by double backprop.
x = np.array([0.5, -0.3, 1.2])
v = np.array([1.0, 0.0, -1.0])
print(no.grad(rosen, x), no.hvp(rosen, x, v), no.hessian(rosen, x).shape)
