"""A ``hetplan`` that runs many command lines in one fresh interpreter, for the reader fuzz.

``python -m tests.cli.fuzz_worker`` reads one JSON request per line on stdin (``{"argv": [...],
"cwd": "..."}``), runs ``optimizer.cli.main.run(argv)`` in that directory with stdout and stderr
captured, and writes one JSON line back: ``{"code", "out", "err", "escaped"}``, ``escaped``
naming any exception that got past ``run`` (a traceback the user would see). The parent kills
and restarts it when a command does not answer in time (a hang), so each case runs apart from
the test process, but without paying an interpreter start per case.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback
import warnings


def _serve_one(request: dict) -> dict:
    from optimizer.cli.main import run

    out, err = io.StringIO(), io.StringIO()
    escaped = None
    os.chdir(request["cwd"])
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = run(request["argv"])
        except BaseException:  # noqa: BLE001 - whatever escapes is the finding
            code = None
            escaped = traceback.format_exc()
    return {"code": code, "out": out.getvalue(), "err": err.getvalue(), "escaped": escaped}


def main() -> None:
    warnings.simplefilter("always")  # as in a fresh process each time: no warning is hidden
    for line in sys.stdin:
        reply = _serve_one(json.loads(line))
        sys.__stdout__.write(json.dumps(reply) + "\n")
        sys.__stdout__.flush()


if __name__ == "__main__":
    main()
