"""Serving-engine profiles: what differs between TensorRT-LLM, vLLM, SGLang and a research
stack, as data (docs/model.md §4): scheduler limits, the memory share the engine takes, which
decode batches run as captured CUDA graphs and which all-reduce algorithms it can choose."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from optimizer.catalog.base import Entry, NonNegativeInt, PositiveInt
from optimizer.errors import HetplanError

DEFAULT_ENGINES = ("trtllm", "vllm")
"""When no engine is named (``--engine``, ``styles.engine``, a calibration row's blank
``engine``), an accelerator runs on the first of these that supports its vendor: TensorRT-LLM on
NVIDIA parts (the engine behind most published measurements, so the one whose overheads the fit
identifies best), vLLM on every other."""


class Collective(StrEnum):
    """All-reduce algorithms (docs/model.md §4): ``ring`` (NCCL's bandwidth-optimal ring,
    2(n−1) latency hops), ``two-shot`` (reduce-scatter then all-gather over a switched fabric,
    2 hops) and ``one-shot`` (every rank reads every peer's whole buffer, 1 hop, (n−1)× the
    traffic); the engine takes the fastest it has for each message."""

    RING = "ring"
    TWO_SHOT = "two-shot"
    ONE_SHOT = "one-shot"


class MoeExchange(StrEnum):
    """How tokens reach the routed experts on other ranks (docs/model.md §4). ``gather``: each
    attention-DP rank's MoE input is all-gathered to every rank, which runs its own experts on
    all of them, and the outputs are reduce-scattered back (without attention DP the TP
    all-reduce already leaves every rank with every token: nothing more moves).
    ``all-to-all``: each token goes only to the ranks that hold its ``k`` experts and back
    (DeepEP-style dispatch and combine, the wide-EP kernels)."""

    GATHER = "gather"
    ALL_TO_ALL = "all-to-all"


class Engine(Entry):
    """One serving engine's defaults: ``max_batch`` sequences and ``max_tokens_per_step``
    tokens per step, ``memory_fraction`` of device memory for weights and KV, pure-decode steps
    of at most ``graph_max_batch`` sequences replayed as CUDA graphs (0: eager; with
    ``graph_mixed_steps``, any step of at most that many tokens, prompt chunks included), the
    all-reduce algorithms it chooses from, and ``kv_reserved_output_share``: the share of a
    request's output whose KV the scheduler reserves when it admits the request (1: the whole
    output up front, TensorRT-LLM's guaranteed-no-evict; 0: blocks allocated as tokens come,
    vLLM's paging with preemption), and how an expert-parallel MoE layer exchanges tokens
    (:class:`MoeExchange`). ``pooled`` false marks a stack whose overheads are
    no evidence about the others (an eager research stack): the fit lets it deviate from the
    pooled engine without a prior, so that the pooled ``default`` engine, which stands in for
    unnamed and unfitted engines, is what the production engines share."""

    max_batch: PositiveInt
    max_tokens_per_step: PositiveInt
    memory_fraction: float = Field(ge=0.05, le=1, allow_inf_nan=False, strict=True)
    graph_max_batch: NonNegativeInt
    graph_mixed_steps: bool = False  # steps with a prompt chunk replay graphs too (by tokens)
    collectives: tuple[Annotated[Collective, Field()], ...] = Field(min_length=1)
    kv_reserved_output_share: float = Field(default=0.0, ge=0, le=1, allow_inf_nan=False)
    moe_exchange: MoeExchange = MoeExchange.GATHER
    vendors: tuple[str, ...] | None = None  # accelerator vendors it runs on; None: any
    pooled: bool = True  # its overheads inform the pooled default engine

    @model_validator(mode="after")
    def _collectives_unique(self) -> Engine:
        if len(set(self.collectives)) != len(self.collectives):
            raise ValueError("collectives: each algorithm at most once")
        return self


def runs_on(engine: Engine, vendor: str) -> bool:
    return engine.vendors is None or vendor in engine.vendors


def default_engine(engines: Mapping[str, Engine], vendor: str) -> str:
    """The engine an accelerator of ``vendor`` runs on when none is named
    (:data:`DEFAULT_ENGINES`).

    Raises:
        HetplanError: none of them runs on ``vendor`` (a user catalog narrowed their vendors).
    """
    for engine_id in DEFAULT_ENGINES:
        engine = engines.get(engine_id)
        if engine is not None and runs_on(engine, vendor):
            return engine_id
    raise HetplanError(
        f"no default engine runs on {vendor} accelerators ({', '.join(DEFAULT_ENGINES)} do "
        "not list it in their vendors): name one with --engine or styles.engine"
    )
