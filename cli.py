"""Run the command line from a checkout: ``python cli.py minimize ...``."""
from newtonopt.cli import main

if __name__ == "__main__":
    main()
