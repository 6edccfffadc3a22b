"""The recorded graph as Graphviz DOT text, as DeZero's ``utils``.

Variables are ovals (their name, and with ``verbose`` their shape and
dtype), functions are boxes (the op's class name).  The walk is iterative,
so a graph of any depth is drawn without recursion.  Rendering to an image
needs Graphviz's ``dot`` program; without it the DOT text is kept and one
line says so.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from .core import Variable

_IMAGE_FORMATS = ("png", "svg", "pdf")


def _variable_node(v: Variable, verbose: bool) -> str:
    label = "" if v.name is None else v.name
    if verbose and v.data is not None:
        label += (": " if label else "") + f"{v.shape} {v.dtype}"
    label = label.replace('"', '\\"')
    return f'{id(v)} [label="{label}", color=orange, style=filled]\n'


def _function_nodes(f) -> str:
    out = f'{id(f)} [label="{type(f).__name__}", color=lightblue, style=filled, shape=box]\n'
    out += "".join(f"{id(x)} -> {id(f)}\n" for x in f.inputs)
    for ref in f.outputs:
        y = ref()
        if y is not None:
            out += f"{id(f)} -> {id(y)}\n"
    return out


def get_dot_graph(output: Variable, verbose: bool = True) -> str:
    """DOT text of the graph that produced ``output``."""
    parts = [_variable_node(output, verbose)]
    stack = [output.creator] if output.creator is not None else []
    seen = {id(f) for f in stack} | {id(output)}
    while stack:
        f = stack.pop()
        parts.append(_function_nodes(f))
        for x in f.inputs:
            if id(x) not in seen:
                seen.add(id(x))
                parts.append(_variable_node(x, verbose))
            if x.creator is not None and id(x.creator) not in seen:
                seen.add(id(x.creator))
                stack.append(x.creator)
    return "digraph g {\n" + "".join(parts) + "}\n"


def plot_dot_graph(output: Variable, verbose: bool = True, to_file: str = "graph.png") -> str:
    """Write the graph of ``output``.  For ``to_file`` ending in .dot, the
    DOT text alone; for .png/.svg/.pdf, the DOT text beside it (same name,
    .dot) and the image drawn by Graphviz's ``dot`` when it is on PATH.
    Returns the path of the file that now holds the picture or its text."""
    stem, ext = os.path.splitext(to_file)
    fmt = ext[1:].lower()
    dot_path = to_file if fmt == "dot" else stem + ".dot"
    with open(dot_path, "w", encoding="utf-8") as fh:
        fh.write(get_dot_graph(output, verbose))
    if fmt == "dot":
        return dot_path
    program = shutil.which("dot")
    if fmt not in _IMAGE_FORMATS or program is None:
        why = (f"'{ext}' is not one of .dot, .png, .svg, .pdf" if fmt not in _IMAGE_FORMATS
               else "Graphviz 'dot' is not on PATH")
        print(f"{why}: the graph is in {dot_path}", file=sys.stderr)
        return dot_path
    subprocess.run([program, dot_path, "-T", fmt, "-o", to_file], check=True)
    return to_file
