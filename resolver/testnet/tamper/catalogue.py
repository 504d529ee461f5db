"""The catalogue: every registered mutation in a fixed order (the fuzzer draws from
it by seed, so the same seed names the same cases only while the order stays), by
name, and the headline forgeries built on demand."""

from __future__ import annotations

import random

from ...wire.message import Message
from ...wire.types import type_to_text
from . import answers, delegation, denial, harmless, injection, rcodes, signatures
from .delegation import _ds_groups, forge_ds
from .records import _claim_everywhere
from .registry import Context, Mutation, registered

# the modules of mutations in catalogue order (the order the mutations had when they
# were one module): keep it, or a seed no longer replays the same cases; a new module
# of mutations must be listed here
_MODULES = (answers, injection, signatures, harmless, denial, rcodes, delegation)

MUTATIONS: tuple[Mutation, ...] = tuple(
    m for module in _MODULES for m in registered(module.__name__))
BY_NAME: dict[str, Mutation] = {m.name: m for m in MUTATIONS}


def claim_algorithm(algorithm: int, types: frozenset[int] | None = None) -> Mutation:
    """Every RRSIG (over *types*, or all) claims *algorithm*: the headline forgery."""
    def fn(reply: Message, rng: random.Random, ctx: Context) -> str | None:
        return _claim_everywhere(reply, algorithm, types)
    fn.__doc__ = f"RRSIGs claim algorithm {algorithm}"
    what = "all" if types is None else "+".join(type_to_text(t) for t in sorted(types))
    return Mutation(f"claim_algorithm_{algorithm}_{what}", fn)


def forged_ds_claiming(algorithm: int) -> Mutation:
    """The DS records forged and their RRSIGs claiming *algorithm*."""
    def fn(reply: Message, rng: random.Random, ctx: Context) -> str | None:
        found = _ds_groups(reply)
        if not found:
            return None
        return "; ".join(forge_ds(reply, g, rng, algorithm) for g in found)
    fn.__doc__ = f"forged DS, RRSIGs claiming algorithm {algorithm}"
    return Mutation(f"forged_ds_claiming_{algorithm}", fn)
