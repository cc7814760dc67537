"""Any number of stems into a fixed number of slots (NI Stems has four), with the residual folded in so that
the slots add up to the mix exactly.

A slot is a list of stems; its signal is their sum as they play in the mix (through the master stream's
gain).  The residual (mix minus every stem) goes to the slots by the file's attribution rule
(:mod:`snc.render.attribution`, the ``share`` rule: in every time-frequency tile each slot takes the part of
the residual its stems' power there gives it) or all into one named slot.  Shares are rounded to integers and
what rounding leaves goes to one slot, so in integers ``sum(slots) == mix`` sample for sample.
"""

from __future__ import annotations

import numpy as _np

from ..errors import InputError

#: NI Stems' slot order, and the stem roles each slot takes by default (any other role goes to "other")
SLOT_ORDER = ("drums", "bass", "other", "vocals")
#: the slot that takes the residual where no stem plays, and the attribution's rounding
CATCH_ALL = "other"


def default_slots(stems: list[tuple[str, str]]) -> dict[str, list[str]]:
    """``{slot: [stem names]}`` for ``stems`` given as ``(name, role)``, in NI's order: drums, bass and vocals
    to their slots; any other stem to ``other`` or, while one is free, a slot of its own (not the vocals
    slot, which DJ software treats as the vocals), the rest together in ``other``."""
    slots = {slot: [] for slot in SLOT_ORDER}
    rest = []
    for name, role in stems:
        (slots[role] if role in slots and role != CATCH_ALL else rest).append(name)
    for name in rest:
        free = next((s for s in (CATCH_ALL, *SLOT_ORDER) if s != "vocals" and not slots[s]), CATCH_ALL)
        slots[free].append(name)
    return slots


def parse_map(specs: list[str], stem_names: list[str], count: int = 4) -> dict[str, list[str]]:
    """``--map SLOT=STEM+STEM`` options into ``{slot: [stem names]}``, in the order given.

    Every stem must be in exactly one slot (else the slots would not add up to the mix); at most ``count``
    slots, the missing ones silent."""
    slots: dict[str, list[str]] = {}
    for spec in specs:
        slot, sep, members = spec.partition("=")
        slot = slot.strip()
        if not sep or not slot or not members.strip():
            raise InputError(f"--map {spec!r}: expected SLOT=STEM[+STEM...]")
        if slot in slots:
            raise InputError(f"--map: slot {slot!r} given twice")
        names = [m.strip() for m in members.split("+")]
        for name in names:
            if name not in stem_names:
                raise InputError(f"--map {spec!r}: no stem {name!r} (stems: {', '.join(stem_names)})")
        slots[slot] = names
    if len(slots) > count:
        raise InputError(f"--map: {len(slots)} slots, the format has {count}")
    placed = [n for names in slots.values() for n in names]
    twice = sorted({n for n in placed if placed.count(n) > 1})
    if twice:
        raise InputError(f"--map: stem {twice[0]!r} is in two slots")
    missing = [n for n in stem_names if n not in placed]
    if missing:
        raise InputError(f"--map: stem {missing[0]!r} is in no slot (the slots must add up to the mix)")
    return slots


def fold(mix: _np.ndarray, stems: dict[str, _np.ndarray], slots: dict[str, list[str]], residual_to: str,
         samplerate: int) -> list[_np.ndarray]:
    """The slots' integer signals (int64, one per slot in order) over one span: the sum of each slot's
    stems plus its part of ``mix - sum(stems)``; they add up to ``mix`` exactly.  ``residual_to``:
    ``"attribution"`` or a slot's name.  Integer arrays ``(frames, channels)``."""
    names = list(slots)
    parts = [sum((stems[n].astype(_np.int64) for n in slots[s]), _np.zeros(mix.shape, _np.int64)) for s in names]
    residual = mix.astype(_np.int64) - sum(parts)
    if residual_to != "attribution":
        parts[names.index(residual_to)] += residual
        return parts
    if not residual.any():
        return parts
    from ..render.attribution import Tiles

    tiles = Tiles([p.astype(_np.float64) for p in parts], residual.astype(_np.float64), samplerate)
    catch = catch_all_index(slots)
    given = _np.zeros_like(residual)
    for k in range(len(names)):
        if k == catch:
            continue
        onehot = [1.0 if j == k else 0.0 for j in range(len(names))]
        share = _np.rint(tiles.residual(0, len(mix), onehot, 0.0, ceiling=False)).astype(_np.int64)
        parts[k] += share
        given += share
    parts[catch] += residual - given  # its own share, and every other slot's rounding
    return parts


def catch_all_index(slots: dict[str, list[str]]) -> int:
    """The slot that takes the residual where no stem plays and every rounding: ``other``, else the last slot
    with stems (a slot added only to make up the count stays silent)."""
    names = list(slots)
    if CATCH_ALL in slots:
        return names.index(CATCH_ALL)
    filled = [k for k, name in enumerate(names) if slots[name]]
    return filled[-1] if filled else len(names) - 1


def spill(parts: list[_np.ndarray], bits: int) -> tuple[list[_np.ndarray], int]:
    """Keep every slot within ``bits``-bit full scale by moving what a slot has beyond it, sample by sample, to
    the slot with the most room that way; the sum is unchanged.  The mix is within full scale, so the others
    always have the room between them.  Returns the slots and how many samples moved (a DJ's 16-bit stem
    format has no headroom, and a stem through a mastering chain's make-up gain can pass full scale on a few
    peaks)."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    stack = _np.stack(parts)
    moved = 0
    for _ in range(len(parts)):
        clipped = _np.clip(stack, lo, hi)
        excess = (stack - clipped).sum(axis=0)  # what the clipping took, per sample and channel
        if not excess.any():
            break
        moved += int(_np.count_nonzero(excess))
        room = _np.where(excess > 0, hi - clipped, clipped - lo)
        target = room.argmax(axis=0)[None]
        _np.put_along_axis(clipped, target, _np.take_along_axis(clipped, target, 0) + excess[None], 0)
        stack = clipped
    return list(stack), moved
