"""The console script: Ctrl-C and SIGTERM are ours before anything heavy is
imported, so a signal during start-up still ends with exit code 130."""
from newtonopt import interrupts


def main() -> None:
    interrupts.install()
    from newtonopt.cli import main as run

    run()
