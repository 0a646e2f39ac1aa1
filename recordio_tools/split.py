"""Stratified, seeded train/val/test splits.

``parse_split("train=0.8,val=0.1,test=0.1")`` or counts (``train=0,val=500,test=500``,
where a 0 or missing remainder split takes what is left). Each class is split
separately so every split keeps the class proportions; the same seed always
gives the same split.
"""
import random
from collections import defaultdict

import math

from mxdl.errors import UserError


def parse_split(text):
    parts = {}
    for chunk in text.split(","):
        name, sep, value = chunk.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--split-sizes '{text}': expected name=fraction or name=count, e.g. train=0.8,val=0.2")
        try:
            number = float(value)
        except ValueError:
            raise UserError(f"--split-sizes '{text}': '{value}' is not a number") from None
        if not math.isfinite(number) or number < 0:
            raise UserError(f"--split-sizes '{text}': '{name}' must be a fraction or a count, got {value}")
        if number > 1 and not number.is_integer():
            raise UserError(f"--split-sizes '{text}': '{value}' is neither a fraction in [0, 1] nor a whole count")
        parts[name.strip()] = number
    total = sum(parts.values())
    if all(v <= 1 for v in parts.values()) and any(0 < v < 1 for v in parts.values()) and abs(total - 1) > 1e-6:
        raise UserError(f"--split-sizes '{text}': fractions add up to {total:g}, not 1")
    empty = [k for k, v in parts.items() if v == 0] if _is_fractions(parts) else []
    if empty:
        raise UserError(f"--split-sizes '{text}': {', '.join(empty)} would get no images; leave "
                        f"{'it' if len(empty) == 1 else 'them'} out")
    return parts


def _is_fractions(parts):
    """Fractions when they are all in [0, 1] and add up to 1 (``train=1.0,val=0.0`` too); counts
    otherwise. Read as counts, ``train=1.0,val=0.0`` gave train one image and val the rest."""
    return all(v <= 1 for v in parts.values()) and abs(sum(parts.values()) - 1) < 1e-6


def _allocate(n, parts):
    """Counts per split for one class of n items (largest remainder for fractions)."""
    names = list(parts)
    exact = [parts[k] * n for k in names]
    counts = [int(x) for x in exact]
    order = sorted(range(len(names)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return dict(zip(names, counts))


def _allocate_counts(class_sizes, parts):
    """Global counts spread over classes in proportion to class size; 0 = the rest."""
    total = sum(class_sizes.values())
    fixed = {k: int(v) for k, v in parts.items() if v >= 1}
    rest = [k for k, v in parts.items() if v < 1]
    if sum(fixed.values()) > total:
        raise UserError(f"--split-sizes asks for {sum(fixed.values())} images but only {total} are listed")
    per_class = {c: {} for c in class_sizes}
    for name, want in fixed.items():
        exact = {c: want * n / total for c, n in class_sizes.items()}
        got = {c: int(x) for c, x in exact.items()}
        for c in sorted(exact, key=lambda c: exact[c] - got[c], reverse=True)[: want - sum(got.values())]:
            got[c] += 1
        for c in class_sizes:
            per_class[c][name] = got[c]
    for c, n in class_sizes.items():
        left = n - sum(per_class[c].values())
        if left < 0:
            raise UserError(f"--split-sizes counts leave class {c} with too few images")
        for i, name in enumerate(rest):
            per_class[c][name] = left if i == 0 else 0
    return per_class


def stratified_split(items, parts, seed):
    """Split ``items`` class by class into ``{split: [items]}``, each split shuffled."""
    by_class = defaultdict(list)
    for item in items:
        by_class[item.label].append(item)
    rng = random.Random(seed)
    use_counts = not _is_fractions(parts)
    plan = _allocate_counts({c: len(v) for c, v in by_class.items()}, parts) if use_counts else None
    out = {name: [] for name in parts}
    for label in sorted(by_class):
        members = sorted(by_class[label], key=lambda it: it.path)
        rng.shuffle(members)
        counts = plan[label] if use_counts else _allocate(len(members), parts)
        start = 0
        for name in parts:
            out[name] += members[start: start + counts[name]]
            start += counts[name]
    for name in out:
        rng.shuffle(out[name])
    empty = [k for k, v in out.items() if not v]
    if empty:
        raise UserError(f"--split-sizes: {', '.join(empty)} would get no images from the {len(items)} listed "
                        f"({len(by_class)} class(es)); list more images or ask for fewer splits")
    return out
