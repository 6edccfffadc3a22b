"""ASCII spellings for streams that cannot encode our symbols.

With ``PYTHONIOENCODING=ascii`` or a C locale, ``‖g‖∞`` cannot be printed.
``protect(stream)`` installs an encoding error handler that spells each
symbol in ASCII (``||g||inf``, ``<=``, ``...``) and anything else as ``?``,
so every command prints readable text instead of raising
UnicodeEncodeError.  Streams that can encode the symbols are untouched.
"""
from __future__ import annotations

import codecs
from typing import IO

SPELLINGS = {
    "‖": "||", "∞": "inf", "≤": "<=", "≰": ">", "…": "...", "★": "*", "λ": "lambda",
    "∇": "grad ", "²": "^2", "·": ".", "Δ": "d", "₁": "1", "₀": "0", "→": "->",
    "×": "x", "τ": "tau", "—": "-", "▁": "_", "▂": "_", "▃": "-", "▄": "-", "▅": "=",
    "▆": "=", "▇": "#", "█": "#", "−": "-",
}
_HANDLER = "newtonopt-ascii"


def _spell(exc: UnicodeError):
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    bad = exc.object[exc.start:exc.end]
    return "".join(SPELLINGS.get(ch, "?") for ch in bad), exc.end


codecs.register_error(_HANDLER, _spell)


def protect(stream: IO[str] | None) -> None:
    """Spell symbols in ASCII on ``stream`` if it cannot encode them."""
    if stream is None or not hasattr(stream, "reconfigure"):
        return
    try:
        "‖∞≤…".encode(stream.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        stream.reconfigure(errors=_HANDLER)
