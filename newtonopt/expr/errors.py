"""One error type for bad objectives and points, rendered like a compiler's."""
from __future__ import annotations

_WINDOW = 36  # characters shown either side of the column in a long text


def printable(text: str) -> str:
    """Text safe to echo to a terminal: whitespace becomes a blank, any other
    control character its escape (ESC as \\x1b), so user text can never
    retitle or reprogram the terminal."""
    return "".join(_shown(ch) for ch in text)


def _shown(ch: str) -> str:
    if ch in "\n\r\t":
        return " "
    code = ord(ch)
    if code < 32 or 127 <= code < 160:
        return f"\\x{code:02x}"
    return ch


class ObjectiveError(ValueError):
    """Bad objective or point text: a message and, when known, a column."""

    def __init__(self, message: str, text: str | None = None,
                 column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.text = text
        self.column = column

    def render(self) -> str:
        """The text (a window of it when long), a caret, one sentence."""
        if self.text is None:
            return f"error: {printable(self.message)}"
        text = self.text
        col = len(text) if self.column is None else min(self.column, len(text))
        start = max(0, col - _WINDOW)
        end = min(len(text), col + _WINDOW)
        prefix = "…" if start > 0 else ""
        suffix = "…" if end < len(text) else ""
        shown = prefix + printable(text[start:end]) + suffix
        caret = " " * (len(prefix) + len(printable(text[start:col]))) + "^"
        return f"  {shown}\n  {caret}\nerror: {printable(self.message)}"

    def __str__(self) -> str:
        if self.column is None:
            return self.message
        return f"{self.message} (column {self.column + 1})"
