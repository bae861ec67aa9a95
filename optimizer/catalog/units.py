"""Unit suffixes and the prefix constants that convert them: the project's one units module.

Catalog entries keep the human-scale units of their files, named in each key; code that computes
converts with the constants below (``memory_bandwidth_tb_per_s * TERA`` -> bytes per second) and
names its results with SI suffixes (``_bytes``, ``_flop_per_s``, ``_s``). Suffixes:

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
MILLI = 1e-3
KIB = 1024
MIB = 1024**2
GIB = 1024**3
BITS_PER_BYTE = 8
SECONDS_PER_HOUR = 3600.0
HOURS_PER_YEAR = 8760.0
WH_PER_KWH = 1e3
