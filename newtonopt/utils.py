"""``from newtonopt.utils import plot_dot_graph`` as ``dezero.utils``."""
from newtonopt.autodiff.graph import get_dot_graph, plot_dot_graph

__all__ = ["get_dot_graph", "plot_dot_graph"]
