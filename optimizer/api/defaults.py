"""Defaults the use cases and their front ends share; plain constants, cheap to import."""

ANALYSIS_ACCELERATORS = ("h100-sxm", "h200-sxm", "b200", "mi300x")
"""Accelerators ``analyze`` compares when none is named: two Hopper generations, Blackwell and
the MI300X, the parts most agentic fleets run on today."""
