"""`python -m shadow` runs the command line."""

from shadow.cli import main

main()
