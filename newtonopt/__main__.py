"""``python -m newtonopt``."""
from newtonopt.console import main

main()
