"""``python -m framefill`` runs the CLI."""

from framefill.cli import main

main()
