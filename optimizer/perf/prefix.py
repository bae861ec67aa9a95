"""Where a cached prefix lives between turns: the share of sessions whose prefix-cache hits
survive their tool call in an instance's memory (docs/model.md §6, §8), vectorized over
configurations."""

from __future__ import annotations

import numpy as np

from optimizer.perf.capacity import kv_bytes_per_sequence_per_device
from optimizer.perf.config import Config
from optimizer.perf.phases import Memory
from optimizer.perf.shape import ModelShape


def idle_kv_bytes_per_device(s: ModelShape, c: Config, request, requests_per_s, idle_s):
    """KV bytes per device the sessions waiting between turns hold: by Little's law
    ``λ · idle_s`` sessions, each with its history ``KV(input + output)`` at the instance's KV
    precision, split over devices like running KV and over the ``dp`` ranks."""
    history = np.asarray(request.input_tokens) + np.asarray(request.output_tokens)
    per_session = kv_bytes_per_sequence_per_device(s, c.kv_bytes, history, c.tp, c.pp)
    sessions = np.asarray(requests_per_s, dtype=np.float64) * idle_s
    return sessions * per_session / c.dp


def idle_kv_room_per_device(c: Config, mem: Memory, batch, *, spill: bool = False):
    """KV room per device left after the running batch (``batch / dp`` sequences per rank);
    with a spill tier, its bytes spread over the instance's devices add to the room."""
    running = np.asarray(batch, dtype=np.float64) / c.dp * mem.kv_per_sequence_per_device
    room = mem.kv_free_per_device - running
    if spill:
        room = room + c.tier_bytes / c.devices
    return np.maximum(room, 0.0)


def prefix_hit_share(
    s: ModelShape,
    c: Config,
    request,
    mem: Memory,
    batch,
    requests_per_s,
    idle_s: float,
    *,
    spill: bool = False,
) -> np.ndarray:
    """``h = clip(room / needed, 0, 1)``: the share of sessions whose cached prefix is still in
    the instance when their next turn arrives, ``room`` the KV room left after the running
    ``batch`` and ``needed`` the idle sessions' KV at ``requests_per_s`` per instance, each
    waiting ``idle_s`` between turns (1 where nothing is cached or nothing waits)."""
    needed = idle_kv_bytes_per_device(s, c, request, requests_per_s, idle_s)
    room = idle_kv_room_per_device(c, mem, batch, spill=spill)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(needed > 0, np.clip(room / needed, 0.0, 1.0), 1.0)
    cached = np.asarray(request.prefix_tokens, dtype=np.float64) > 0
    return np.where(cached, share, 1.0)
