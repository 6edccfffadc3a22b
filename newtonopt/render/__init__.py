"""Output: rich tables for people (``tables``), JSON and CSV for programs
(``data``), and the small formatting helpers both share (``fmt``).

Nothing here computes; nothing in the solvers prints."""
