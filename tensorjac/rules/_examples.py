"""Example inputs for the rule table: a few seeded arrays per rule, declared beside each rule.

Every rule's ``examples(rng)`` returns a list of examples (a tuple of arrays, or a pair
``(arrays, kwargs)``).  Between them they cover 0-d arrays, size-1 axes, broadcasting and
size-0 axes, with values inside the rule's domain (positive for ``log``, away from zero for a
divisor, away from kinks unless the kink is the point: ties for ``maximum``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["normal", "positive", "away", "unary_examples", "binary_examples"]


def normal(rng, *shape, scale=1.0):
    return rng.standard_normal(shape) * scale


def positive(rng, *shape, lo=0.2, hi=3.0):
    return rng.uniform(lo, hi, shape)


def away(rng, *shape, lo=0.5, hi=2.0):
    """Values whose magnitude lies in ``[lo, hi]`` (divisors, poles kept at a distance)."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(lo, hi, shape)


def unary_examples(draw=normal, **options):
    """Examples of an elementwise unary rule: a vector, a stack with a size-1 axis, a 0-d array, a size-0 axis."""
    return lambda rng: [(draw(rng, 3, **options),), (draw(rng, 2, 1, 3, **options),), (draw(rng, **options),),
                        (draw(rng, 0, 2, **options),)]


def binary_examples(first=normal, second=normal):
    """Examples of a broadcasting binary rule: trailing broadcast, size-1 axes both ways, a 0-d operand, size 0."""
    return lambda rng: [
        (first(rng, 2, 3), second(rng, 3)),
        (first(rng, 2, 1), second(rng, 1, 3)),
        (first(rng, 1, 3), second(rng, 2, 2, 3)),
        (first(rng), second(rng, 2, 2)),
        (first(rng, 0, 3), second(rng, 3)),
    ]
