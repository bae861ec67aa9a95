"""``python -m optimizer.cli`` runs the ``hetplan`` command."""

from optimizer.cli.main import entry_point

entry_point()
