"""SciPy's special functions come without numpy.f2py, which SciPy's array-API shim would
import only to copy its name (optimizer/perf/special.py), and f2py still works where used."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import sys
from optimizer.perf.special import nbdtrik
import scipy.special
assert nbdtrik is scipy.special.nbdtrik
print("numpy.f2py.crackfortran" in sys.modules)
import numpy
assert callable(numpy.f2py.run_main)  # reading a name loads the module
print("numpy.f2py.crackfortran" in sys.modules)
"""


def test_f2py_loads_only_when_used():
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
