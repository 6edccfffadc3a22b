"""``python -m newtonopt``."""
from newtonopt.cli import main

main()
