"""The ``newtonopt`` command line (click).  Commands stay thin: they parse
options, call the library and hand results to ``newtonopt.render``."""
from __future__ import annotations

import click

from newtonopt import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newtonopt")
def cli() -> None:
    """Minimize a symbolic objective with exact derivatives."""


def main() -> None:
    cli()
