"""Unit suffixes and the one place where human-scale catalog units become SI base units.

Catalog files use human-scale units with the unit in the key name; the loader converts once, and
every quantity inside the package keeps an SI suffix:

===================  ==========================================================
suffix               meaning
===================  ==========================================================
``_bytes``           bytes
``_gb``              10^9 bytes (decimal gigabytes; GiB-quoted figures converted)
``_mb``              10^6 bytes
``_gb_per_s``        10^9 bytes per second (bandwidth is bytes, never bits)
``_tb_per_s``        10^12 bytes per second
``_tflops``          10^12 dense floating-point operations per second (int8: ops/s)
``_flop``            floating-point operations
``_s`` / ``_us``     seconds / microseconds
``_ns``              nanoseconds
``_w`` / ``_j``      watts / joules
``_pj_per_bit``      picojoules per bit moved
``_usd``             US dollars; ``_usd_per_hour``, ``_usd_per_gb``, ``_usd_per_kwh`` likewise
``_frac``            a fraction in [0, 1]
===================  ==========================================================
"""

from __future__ import annotations

KILO = 1e3
MEGA = 1e6
GIGA = 1e9
TERA = 1e12
PICO = 1e-12
NANO = 1e-9
MICRO = 1e-6
KIB = 1024
MIB = 1024**2
GIB = 1024**3
BITS_PER_BYTE = 8
SECONDS_PER_HOUR = 3600.0
HOURS_PER_YEAR = 8760.0
WH_PER_KWH = 1e3


def gb_to_bytes(gb: float) -> float:
    """10^9-byte gigabytes to bytes."""
    return gb * GIGA


def mb_to_bytes(mb: float) -> float:
    """10^6-byte megabytes to bytes."""
    return mb * MEGA


def gib_to_gb(gib: float) -> float:
    """Binary GiB (as Google and AWS quote HBM) to decimal GB."""
    return gib * GIB / GIGA


def gb_per_s_to_bytes_per_s(gb_per_s: float) -> float:
    return gb_per_s * GIGA


def tb_per_s_to_bytes_per_s(tb_per_s: float) -> float:
    return tb_per_s * TERA


def gbit_per_s_to_gb_per_s(gbit_per_s: float) -> float:
    """A line rate in Gb/s (as NICs are sold) to GB/s of payload bandwidth."""
    return gbit_per_s / BITS_PER_BYTE


def tflops_to_flop_per_s(tflops: float) -> float:
    return tflops * TERA


def pj_per_bit_to_j_per_byte(pj_per_bit: float) -> float:
    return pj_per_bit * PICO * BITS_PER_BYTE


def us_to_s(us: float) -> float:
    return us * MICRO


def ns_to_s(ns: float) -> float:
    return ns * NANO
