"""Data for objectives: ``--data NAME=FILE[:COL]`` and ``--data FILE``.

A data file is a table of numbers: ``.npy`` (a 1-D or 2-D float array), or
text: ``.csv`` (comma), ``.tsv`` (tab) or any other name (comma or tab if
the first line has one, else blanks).  A first line with a cell that is not
a number is a header naming the columns; ``#`` starts a comment.

How a file binds:

    --data FILE.csv         each column by its header name (vectors)
    --data t=FILE.csv:time  one column, by header name or 0-based index
    --data X=FILE.csv       a one-column file is a vector, a wider one a
                            matrix (rows x columns)

numpy's C reader does the reading (10^7 values in a few seconds); only
when it fails is the file scanned in Python, to say which line and column
hold what is not a number.  Every value must be finite.
"""
from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from .errors import ObjectiveError

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class DataSource:
    """One ``--data`` item: ``name`` None binds every column by header."""

    name: str | None
    path: str
    column: str | None = None

    @classmethod
    def parse(cls, text: str, base: str | None = None) -> "DataSource":
        """``NAME=FILE[:COL]`` or ``FILE``; a relative FILE is taken from
        the directory ``base`` when given (a batch spec's)."""
        name, eq, rest = text.partition("=")
        if eq and _NAME.match(name.strip()):
            name, spec = name.strip(), rest.strip()
        else:
            name, spec = None, text.strip()
        path, column = spec, None
        head, colon, tail = spec.rpartition(":")
        # FILE:COL, but not a Windows drive letter and not a file named "a:b"
        if colon and head and not os.path.exists(spec) and len(head) > 1:
            path, column = head, tail.strip()
            if not column:
                raise ObjectiveError(f"--data {text}: the column after ':' is missing")
        if not path:
            raise ObjectiveError(f"--data {text!r}: expected NAME=FILE, NAME=FILE:COLUMN or FILE")
        if name is None and column is not None:
            raise ObjectiveError(f"--data {text}: a single column needs a name "
                                 f"(NAME={spec})")
        if base is not None and not os.path.isabs(path):
            path = os.path.join(base, path)
        return cls(name, path, column)

    def load(self) -> dict[str, np.ndarray]:
        """``{name: array}`` for this item (every column when unnamed)."""
        table, header = read_table(self.path)
        if self.name is not None:
            if self.column is not None:
                return {self.name: _column(table, header, self.column, self.path)}
            value = table[:, 0].copy() if table.ndim == 2 and table.shape[1] == 1 else table
            return {self.name: value}
        if table.ndim != 2 or header is None:
            raise ObjectiveError(f"{self.path}: no header row names the columns; bind it "
                                 f"with --data NAME={self.path}")
        for j, name in enumerate(header):
            if name in header[:j]:
                raise ObjectiveError(f"{self.path}: the header names column {name} twice")
            if not _NAME.match(name):
                raise ObjectiveError(f"{self.path}: column {name!r} is not a usable name; "
                                     f"bind it with --data NAME={self.path}:{name}")
        return {name: np.ascontiguousarray(table[:, j]) for j, name in enumerate(header)}


def load_all(sources: Iterable[DataSource]) -> tuple[dict[str, np.ndarray], set[str]]:
    """Every item loaded into one mapping, and the names bound by a whole
    file (which the objective need not use); a name bound twice is an error."""
    data: dict[str, np.ndarray] = {}
    optional: set[str] = set()
    for source in sources:
        for name, value in source.load().items():
            if name in data:
                raise ObjectiveError(f"--data binds {name} twice")
            data[name] = value
            if source.name is None:
                optional.add(name)
    return data, optional


def _column(table: np.ndarray, header: list[str] | None, column: str,
            path: str) -> np.ndarray:
    width = table.shape[1] if table.ndim == 2 else 1
    if header is not None and column in header:
        j = header.index(column)
    elif column.lstrip("-").isdigit() and -width <= int(column) < width:
        j = int(column)
    else:
        known = ", ".join(header) if header else f"0 to {width - 1}"
        raise ObjectiveError(f"{path} has no column {column!r} (columns: {known})")
    if table.ndim == 1:
        return table
    return np.ascontiguousarray(table[:, j])


def read_table(path: str) -> tuple[np.ndarray, list[str] | None]:
    """The numbers of a data file (1-D or 2-D float64) and its header."""
    if not os.path.isfile(path):
        what = "is a directory" if os.path.isdir(path) else "does not exist"
        raise ObjectiveError(f"data file {path} {what}")
    if path.endswith(".npy"):
        return _read_npy(path), None
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first, skip = "", 0
            for first in fh:
                if first.strip() and not first.lstrip().startswith("#"):
                    break
                skip += 1
    except OSError as exc:
        raise ObjectiveError(f"cannot read {path}: {exc.strerror}") from None
    delimiter = _delimiter(path, first)
    cells = _cells(first, delimiter)
    header = None
    if cells and not all(_is_number(c) for c in cells):
        header = [c.strip().strip('"').strip("'") for c in cells]
        skip += 1
    try:
        with warnings.catch_warnings():   # an empty table is reported below
            warnings.simplefilter("ignore", UserWarning)
            table = np.loadtxt(path, delimiter=delimiter, skiprows=skip, ndmin=2,
                               dtype=np.float64, comments="#", encoding="utf-8")
    except (ValueError, UnicodeDecodeError):
        _explain(path, delimiter, skip, header)
        raise ObjectiveError(f"{path}: not a table of numbers") from None
    if table.size == 0:
        raise ObjectiveError(f"data file {path} has no rows of numbers")
    if header is not None and len(header) != table.shape[1]:
        raise ObjectiveError(f"{path}: the header names {len(header)} columns, "
                             f"the rows have {table.shape[1]}")
    if not np.all(np.isfinite(table)):
        _explain(path, delimiter, skip, header, finite=True)
    return table, header


def _read_npy(path: str) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ObjectiveError(f"{path}: not a numpy array file ({exc})") from None
    if array.ndim not in (1, 2) or array.size == 0 or array.dtype.kind not in "biuf":
        raise ObjectiveError(f"{path}: expected a non-empty 1-D or 2-D array of numbers, "
                             f"got {array.dtype} of shape {array.shape}")
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        where = tuple(int(i) for i in np.unravel_index(int(np.argmin(np.isfinite(array))),
                                                       array.shape))
        raise ObjectiveError(f"{path}: element {list(where)} is {array[where]}; "
                             "data must be finite")
    return array


def _delimiter(path: str, first: str) -> str | None:
    if path.endswith(".csv"):
        return ","
    if path.endswith(".tsv"):
        return "\t"
    return "," if "," in first else ("\t" if "\t" in first else None)


def _cells(line: str, delimiter: str | None) -> list[str]:
    line = line.split("#", 1)[0].strip()
    return [c.strip() for c in line.split(delimiter)] if line else []


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _explain(path: str, delimiter: str | None, skip: int, header: list[str] | None,
             finite: bool = False) -> None:
    """Raise an error naming the first bad cell as file:line:column."""
    width = len(header) if header is not None else None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if number <= skip:
                continue
            cells = _cells(line, delimiter)
            if not cells:
                continue
            if width is None:
                width = len(cells)
            if len(cells) != width:
                raise ObjectiveError(f"{path}:{number}: {len(cells)} values where the "
                                     f"{'header has' if header else 'first row has'} {width}")
            for col, cell in enumerate(cells, start=1):
                if not _is_number(cell):
                    hint = " (values are separated by commas, tabs or blanks)" \
                        if ";" in cell else ""
                    raise ObjectiveError(f"{path}:{number}:{col}: {cell!r} is not a number{hint}")
                if finite and not np.isfinite(float(cell)):
                    raise ObjectiveError(f"{path}:{number}:{col}: {cell} in data; every "
                                         "value must be finite")


def check_data(data: Mapping[str, object]) -> dict[str, np.ndarray]:
    """The Python API's ``data={name: array}`` as float64 arrays of at most
    two dimensions, every value finite."""
    out = {}
    for name, value in data.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ObjectiveError(f"data name {name!r} is not a name "
                                 "(a letter, then letters, digits or _)")
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ObjectiveError(f"data {name} is not an array of numbers") from None
        if array.ndim > 2 or array.size == 0:
            raise ObjectiveError(f"data {name} must be a number, a vector or a matrix "
                                 f"(got shape {array.shape})")
        if not np.all(np.isfinite(array)):
            raise ObjectiveError(f"data {name} holds NaN or inf; data must be finite")
        out[name] = array
    return out
