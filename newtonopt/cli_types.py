"""click pieces of the command line that know nothing of solving: the
objective argument (which may start with '-'), its shell completion, and a
duration type."""
from __future__ import annotations

import click


class ObjectiveCommand(click.Command):
    """A command whose argument is an objective, which may start with '-'
    ("-(x-1)^2", "-sinh(x)").  A word that starts with a single '-' and is
    not exactly one of the command's options is the objective, never a
    cluster of short options (so the h of -sinh is not -h); it is moved
    behind '--' so that options after it still parse.  A misspelt long
    option ("--methd") is still an error."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        names, takes_value = set(), set()
        for param in self.get_params(ctx):
            if isinstance(param, click.Option):
                names.update(param.opts + param.secondary_opts)
                if not param.is_flag and not param.count:
                    takes_value.update(param.opts)
        kept, objective, i = [], [], 0
        while i < len(args):
            word = args[i]
            if word == "--":
                kept.extend(args[i:])
                break
            if word in takes_value:
                kept.extend(args[i:i + 2])
                i += 2
                continue
            if (word.startswith("-") and not word.startswith("--") and word not in names
                    and len(word) > 1 and not objective):
                objective.append(word)
            else:
                kept.append(word)
            i += 1
        if objective:
            kept += objective if "--" in kept else ["--", *objective]
        return super().parse_args(ctx, kept)


def complete_objective(ctx, param, incomplete: str) -> list:
    """Shell completion of an objective: the built-in problems' @names."""
    if not incomplete.startswith("@"):
        return []
    from click.shell_completion import CompletionItem

    from newtonopt.problems import PROBLEMS

    return [CompletionItem("@" + name) for name in PROBLEMS
            if ("@" + name).startswith(incomplete)]


class Seconds(click.ParamType):
    """A positive, finite number of seconds (not inf, not nan)."""

    name = "seconds"

    def convert(self, value, param, ctx):
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not (seconds > 0 and seconds < float("inf")):
            self.fail(f"{value!r}: give a positive, finite number of seconds", param, ctx)
        return seconds
