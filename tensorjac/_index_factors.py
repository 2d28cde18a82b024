"""Index factors: 0/1 tensors stored as index maps, and their elimination before a contraction.

Some Jacobians are 0/1 tensors that einsum labels cannot express: a slice ``x[1:]`` shifts an
index, ``x.reshape(a, b)`` splits one, ``x[idx]`` gathers.  Written as dense factors they
would be as big as the Jacobian itself (the slice of a length-n vector: an n x n matrix).
Two factor kinds store them as index maps instead:

* :class:`Gather` ``G[a, b] = 1 where index[a] == b`` (labels ``(a, b)``): indexing, ``take``,
  slices, ``flip``, ``roll``, ``concatenate``, ``split``, ``diagonal``.  Stores ``len(index)``
  integers.
* :class:`Reshape` ``R[k..., i...] = 1 where flat(k) == flat(i)`` (row-major): ``reshape``,
  ``ravel``.  Stores nothing.

They take part in terms like any factor (labels, sizes) and are eliminated by
:func:`eliminate` right before a contraction: a dense factor carrying ``b`` is gathered
(``np.take``), a result wanting ``b`` gets a scatter (``index`` assignment, or ``np.add.at``
when indices repeat); a dense factor carrying all of ``i`` is reshaped to ``k`` (or back).  Only
when neither applies (materialising the Jacobian of a reshape alone, say) is the 0/1 tensor
built densely, which is then the size of the requested result anyway.
"""

from __future__ import annotations

import math

import numpy as np

from . import _plans

__all__ = ["IndexFactor", "Gather", "Reshape", "is_index", "eliminate", "finish", "scatter"]


class IndexFactor:
    """A 0/1 factor stored as an index map (see the module docstring)."""

    __slots__ = ()
    dtype = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def materialize(self, dtype) -> np.ndarray:  # pragma: no cover - defined by subclasses
        raise NotImplementedError


class Gather(IndexFactor):
    """``G[a, b] = 1`` where ``index[a] == b``: shape ``(len(index), n)``.

    >>> import numpy as np
    >>> Gather(np.array([2, 0]), 3).materialize(np.float64)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """

    __slots__ = ("index", "n", "unique", "shape")

    def __init__(self, index, n: int, unique: bool | None = None):
        index = np.asarray(index, dtype=np.intp).reshape(-1)
        index.setflags(write=False)
        self.index, self.n = index, int(n)
        self.shape = (index.size, self.n)
        self.unique = bool(unique) if unique is not None else len(np.unique(index)) == index.size

    @property
    def size(self) -> int:
        return self.index.size

    @property
    def nbytes(self) -> int:
        return self.index.nbytes

    def materialize(self, dtype) -> np.ndarray:
        dense = np.zeros(self.shape, dtype=dtype)
        dense[np.arange(self.index.size), self.index] = 1
        return dense

    def __repr__(self):
        return f"Gather(index of {self.index.size}, n={self.n})"


class Reshape(IndexFactor):
    """``R[k..., i...] = 1`` where the row-major flat index of ``k`` equals that of ``i``.

    >>> Reshape((2,), (1, 2)).materialize(float)[:, 0, :]
    array([[1., 0.],
           [0., 1.]])
    """

    __slots__ = ("out_shape", "in_shape", "shape")

    def __init__(self, out_shape, in_shape):
        self.out_shape, self.in_shape = tuple(int(s) for s in out_shape), tuple(int(s) for s in in_shape)
        if math.prod(self.out_shape) != math.prod(self.in_shape):
            raise ValueError(f"cannot reshape {self.in_shape} to {self.out_shape}")
        self.shape = self.out_shape + self.in_shape

    size = 0
    nbytes = 0

    def materialize(self, dtype) -> np.ndarray:
        n = math.prod(self.out_shape)
        return np.eye(n, dtype=dtype).reshape(self.shape)

    def __repr__(self):
        return f"Reshape({self.in_shape} -> {self.out_shape})"


def is_index(obj) -> bool:
    return isinstance(obj, IndexFactor)


def _placeholder_or(dry, shape, dtype, compute):
    return _plans.placeholder(shape, dtype) if dry else compute()


def _gather_dense(arr, labs, b, a, gather, dry):
    """Take ``arr`` along label ``b`` at ``gather.index``: the axis gets label ``a``."""
    ax = labs.index(b)
    shape = arr.shape[:ax] + (gather.index.size,) + arr.shape[ax + 1:]
    taken = _placeholder_or(dry, shape, arr.dtype, lambda: np.take(arr, gather.index, axis=ax))
    return taken, labs[:ax] + (a,) + labs[ax + 1:]


def _reshape_dense(arr, labs, src, dst, dst_shape, dry):
    """Replace the labels ``src`` (all carried by ``arr``) by ``dst`` of shape ``dst_shape``."""
    rest = [lab for lab in labs if lab not in src]
    pos = min(labs.index(lab) for lab in src)
    before = [lab for lab in rest if labs.index(lab) < pos]
    after = [lab for lab in rest if labs.index(lab) > pos]
    order = before + list(src) + after
    perm = [labs.index(lab) for lab in order]
    shape = tuple(arr.shape[labs.index(lab)] for lab in before) + tuple(dst_shape) + tuple(
        arr.shape[labs.index(lab)] for lab in after
    )

    def compute():
        moved = arr if perm == list(range(arr.ndim)) else arr.transpose(perm)
        return moved.reshape(shape)

    return _placeholder_or(dry, shape, arr.dtype, compute), tuple(before) + tuple(dst) + tuple(after)


def eliminate(factors, output, dtype, dry: bool):
    """Rewrite labelled factors so that none is an index factor.

    Returns ``(dense factors, output, post)``: contract the dense factors into ``output``, then
    apply ``post`` (:func:`finish`) to put back the axes that were gathered or reshaped.  Each
    index factor is eliminated into the dense factors (a gather with ``np.take``, a reshape) or
    into the output (a scatter, a reshape of the result); one that fits neither is built
    densely.  ``dry`` (a cost-recording run): shapes only, through zero-memory placeholders.
    """
    dense = [(arr, tuple(labs)) for arr, labs in factors if not isinstance(arr, IndexFactor)]
    special = [(f, tuple(labs)) for f, labs in factors if isinstance(f, IndexFactor)]
    output = list(output)
    post = []
    while special:
        for k, (f, labs) in enumerate(special):
            elsewhere = {lab for j, (_, other) in enumerate(special) if j != k for lab in other}
            if isinstance(f, Gather):
                done = _eliminate_gather(f, labs, dense, output, elsewhere, post, dry)
            else:
                done = _eliminate_reshape(f, labs, dense, output, elsewhere, post, dry)
            if done:
                del special[k]
                break
        else:  # no index factor could be eliminated: build the first one densely
            f, labs = special.pop(0)
            dense.append((_placeholder_or(dry, f.shape, dtype, lambda: f.materialize(dtype)), labs))
    return dense, output, post


def _eliminate_gather(f, labs, dense, output, elsewhere, post, dry) -> bool:
    a, b = labs
    if a in elsewhere or b in elsewhere:
        return False
    carriers = [j for j, (_, dl) in enumerate(dense) if b in dl]
    if carriers and b not in output and not any(a in dense[j][1] for j in carriers):
        for j in carriers:  # gather: every dense factor carrying b is taken at the index
            dense[j] = _gather_dense(*dense[j], b, a, f, dry)
        return True
    if b in output and a not in output and not carriers:  # scatter the result's axis a back to b
        pos = output.index(b)
        output[pos] = a
        post.append(("scatter", pos, f))
        return True
    return False


def _eliminate_reshape(f, labs, dense, output, elsewhere, post, dry) -> bool:
    K, I = labs[: len(f.out_shape)], labs[len(f.out_shape):]
    if any(lab in elsewhere for lab in labs):
        return False
    for src, dst, dst_shape, src_shape in ((I, K, f.out_shape, f.in_shape), (K, I, f.in_shape, f.out_shape)):
        if any(lab in output for lab in src) or any(lab in output for lab in dst):
            continue
        carriers = [j for j, (_, dl) in enumerate(dense) if any(lab in dl for lab in src)]
        if len(carriers) == 1 and all(lab in dense[carriers[0]][1] for lab in src) and not any(
            lab in dense[carriers[0]][1] for lab in dst
        ):
            j = carriers[0]
            dense[j] = _reshape_dense(*dense[j], src, dst, dst_shape, dry)
            return True
    for src, dst, src_shape in ((K, I, f.out_shape), (I, K, f.in_shape)):
        # the result wants src (contiguous, in order) and nothing carries it: compute dst, reshape after
        if not src or any(lab in output for lab in dst) or any(lab in dl for lab in src for _, dl in dense):
            continue
        if all(lab in output for lab in src):
            pos = output.index(src[0])
            if tuple(output[pos: pos + len(src)]) == tuple(src):
                output[pos: pos + len(src)] = list(dst)
                post.append(("reshape", pos, len(dst), src_shape))
                return True
    return False


def finish(result: np.ndarray, post) -> np.ndarray:
    """Apply the post-steps of :func:`eliminate` (last first) to the contracted result."""
    for step in reversed(post):
        if step[0] == "scatter":
            result = scatter(result, step[1], step[2])
        else:
            _, pos, count, shape = step
            result = result.reshape(result.shape[:pos] + tuple(shape) + result.shape[pos + count:])
    return result


def scatter(result: np.ndarray, pos: int, gather: Gather) -> np.ndarray:
    """Put axis ``pos`` of ``result`` (indexed by ``a``) back at ``b = gather.index[a]`` (size ``n``)."""
    shape = result.shape[:pos] + (gather.n,) + result.shape[pos + 1:]
    full = np.zeros(shape, dtype=result.dtype)
    where = (slice(None),) * pos + (gather.index,)
    if gather.unique:
        full[where] = result
    else:
        np.add.at(full, where, result)
    return full
