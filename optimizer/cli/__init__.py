"""The ``hetplan`` command line: parse, call the public API, render, map errors to exit codes."""
