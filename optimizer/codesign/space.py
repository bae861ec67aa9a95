"""A co-design file's knobs as the sampler's search space, and the values fixed for all trials.

A knob with one value (a scalar or a one-item list) is fixed: samplers never see it, so the
space stays as small as the design question. Choices keep their file order; whole-number
ranges become integer distributions.
"""

from __future__ import annotations

from optimizer.codesign.search import Knob
from optimizer.codesign.spec import WHOLE, Codesign, Range


def search_space(codesign: Codesign) -> tuple[tuple[Knob, ...], dict[str, object]]:
    """(the knobs a sampler varies, knob name -> the value every trial takes)."""
    varied, fixed = [], {}
    for name, knob in codesign.knobs().items():
        whole = name.rsplit(".", 1)[1] in WHOLE
        if isinstance(knob, Range):
            if whole:
                low, high, step = int(knob.low), int(knob.high), int(knob.step or 1)
                varied.append(
                    Knob(name, low=low, high=high, step=step, log=knob.log, integer=True)
                )
            else:
                varied.append(
                    Knob(name, low=knob.low, high=knob.high, step=knob.step, log=knob.log)
                )
        elif isinstance(knob, list) and len(knob) > 1:
            varied.append(Knob(name, choices=tuple(int(v) if whole else v for v in knob)))
        else:
            value = knob[0] if isinstance(knob, list) else knob
            fixed[name] = int(value) if whole else value
    return tuple(varied), fixed
