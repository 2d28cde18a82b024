"""The printable program, the ``jax.make_jaxpr`` of tensorjac, and its picture (Graphviz DOT).

``tj.make_program(f, argnums=0)(*args)`` traces ``f`` and returns a :class:`Program`.  Its
printout has one line per equation (variable, operation, operands, shape, and the structure of
each Jacobian block in einsum-like words: ``diag``, ``X[a,i] δ[b,j]``), then the accumulation of
the Jacobian: each contraction of the chosen order with its einsum, flops and largest
intermediate, and the predicted totals of forward, reverse and optimal.  ``to_dot()`` gives
Graphviz source (no dependency); ``draw(path)`` renders it with the optional ``graphviz``
package.
"""

from __future__ import annotations

import string

import numpy as np

from .. import _plans
from .._index_factors import Gather, Reshape
from .._validation import as_finite_float_array
from ._accumulate import ORDER_CHOICES, _run, choose, elimination_costs, pullback_all
from ._transforms import trace_function

__all__ = ["Program", "make_program", "describe_jacobian"]

_DTYPES = {"float64": "f64", "float32": "f32", "bool": "bool", "int64": "i64", "int32": "i32"}


def _type(shape, dtype) -> str:
    return f"{_DTYPES.get(str(dtype), str(dtype))}[{','.join(str(s) for s in shape)}]"


def _var_names():
    """a, b, ..., z, aa, ab, ... (as jaxprs name their variables)."""
    letters = string.ascii_lowercase
    n = 0
    while True:
        k, name = n, ""
        while True:
            name = letters[k % 26] + name
            k = k // 26 - 1
            if k < 0:
                break
        yield name
        n += 1


def describe_jacobian(J, named=()) -> str:
    """The structure of a Jacobian block in words: ``identity``, ``diag``, ``X[a,i] δ[b,j]``, ...

    Output axes get the letters ``a, b, c, ...``, input axes ``i, j, k, ...``; a delta between an
    output and an input axis is written ``δ[a,i]``; factors are named after the arrays of
    ``named`` (``(array, name)`` pairs) they share memory with, else ``D`` (a derivative computed
    by the rule).  Index factors are written ``gather`` and ``reshape``.
    """
    if not J._terms:
        return "0"
    parts = []
    for term in J._terms:
        out_labels, in_labels = term.groups
        letters = {}
        for k, lab in enumerate(out_labels):
            letters.setdefault(lab, "abcdefgh"[k % 8] + ("" if k < 8 else str(k // 8)))
        deltas = []
        in_letters = []
        for k, lab in enumerate(in_labels):
            letter = "ijklmnop"[k % 8] + ("" if k < 8 else str(k // 8))
            if lab in letters:
                deltas.append(f"δ[{letters[lab]},{letter}]")
            else:
                letters[lab] = letter
            in_letters.append(letter)
        spare = iter("pqrstuvwxyz")
        factors = []
        for arr, labs in term.factors:
            sub = ",".join(letters.setdefault(lab, next(spare, "?")) for lab in labs)
            if isinstance(arr, Gather):
                factors.append(f"gather[{sub}]")
            elif isinstance(arr, Reshape):
                factors.append(f"reshape[{sub}]")
            elif arr.ndim == 0:
                factors.append(f"{float(arr):g}")
            else:
                name = next((n for a, n in named if arr.size and np.may_share_memory(arr, a)), "D")
                factors.append(f"{name}[{sub}]")
        if not term.factors and len(deltas) == len(out_labels) == len(in_labels):
            parts.append("identity")
        elif (len(term.factors) == 1 and len(deltas) == len(out_labels) == len(in_labels)
              and set(term.factors[0][1]) == set(out_labels) and factors[0].startswith("D[")):
            parts.append("diag")
        else:
            parts.append(" ".join(factors + deltas) or "1")
    return " + ".join(parts)


class Program:
    """A traced function: its equations, the Jacobian blocks they carry, and how they accumulate.

    Attributes:
        call: the traced call (inputs, output, equations).
        order: the requested accumulation order; ``chosen``: what ``"optimal"`` picked.
        costs: ``{"forward": (flops, largest), "reverse": ..., "optimal": ...}`` predicted.
        steps: the contractions of the chosen order, ``(einsum and shapes, flops, largest)``.
    """

    def __init__(self, call, order="optimal", label="f"):
        self.call, self.order, self.label = call, order, label
        upper = (name.upper() for name in _var_names())
        self.constants = []  # arrays from outside f (captured or not differentiated): A, B, ...
        for eq in call.trace.equations:
            for x in eq.inputs:
                if isinstance(x, np.ndarray) and x.ndim and not any(x is c for c, _ in self.constants):
                    self.constants.append((x, next(upper)))
        gen = _var_names()
        for var in call.trace.vars:
            var.name = next(gen)
        self.costs, self.steps, self.chosen = {}, [], None
        graph = call.graph
        if graph is not None and graph.equations:
            found = elimination_costs(graph)
            self.costs["forward"] = found["forward"][:2]
            self.costs["reverse"] = found["reverse"][:2]
            self.chosen, order_ids = choose(graph, order)
            if order == "optimal":
                self.costs["optimal"] = found[self.chosen][:2]
            with _plans.recording() as record:
                _run(graph, self.chosen, order_ids)
            self.steps = [step for step in record.steps if step[1] or step[2]]

    # -- text --
    def _operand(self, x) -> str:
        if hasattr(x, "name") and hasattr(x, "shape") and not isinstance(x, np.ndarray):
            return x.name
        for c, name in self.constants:
            if x is c:
                return name
        arr = np.asarray(x)
        return f"{arr.item():g}" if arr.ndim == 0 else f"<{_type(arr.shape, arr.dtype)}>"

    def _named(self):
        """``(array, name)`` of the inputs, the constants and the values of the program."""
        found = [(c, name) for c, name in self.constants]
        return found + [(var.value, var.name) for var in self.call.trace.vars if var.value.ndim]

    def lines(self) -> list[str]:
        call = self.call
        named = self._named()
        inputs = ", ".join(f"{v.name}:{_type(v.shape, v.dtype)}" for v in call.inputs)
        consts = " ".join(f"{name}:{_type(c.shape, c.dtype)}" for c, name in self.constants)
        out = call.output.name if call.output is not None else "<constant>"
        lines = [f"{{ lambda {consts + '; ' if consts else ''}{inputs}. let"]
        for eq in call.trace.equations:
            operands = " ".join(self._operand(x) for x in eq.inputs)
            options = ", ".join(f"{k}={v!r}" for k, v in eq.options.items()) if eq.options else ""
            head = f"    {eq.out.name}:{_type(eq.out.shape, eq.out.dtype)} = {eq.name}"
            head += f"[{options}]" if options else ""
            head += f" {operands}" if operands else ""
            blocks = []
            for pos, J in eq.jacobians.items():
                wrt = eq.inputs[pos].name
                described = describe_jacobian(J, named)
                blocks.append(f"d{eq.out.name}/d{wrt}: {described}")
            if not eq.out.dependent:
                blocks.append("constant")
            lines.append(head + ("   # " + "; ".join(blocks) if blocks else ""))
        lines.append(f"  in ({out}) }}")
        if self.costs:
            lines.append(f"accumulation (order={self.order!r}, chosen: {self.chosen})")
            for k, (what, flops, largest) in enumerate(self.steps, 1):
                lines.append(f"    {k}. {what}   flops {flops:,}   largest {largest:,}")
            if not self.steps:
                lines.append("    (nothing to contract: the Jacobian stays factored until dense() or a product)")
            totals = ", ".join(f"{name} {f:,} flops (largest {l:,})" for name, (f, l) in self.costs.items())
            lines.append(f"  predicted: {totals}")
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return self.__str__()

    # -- pictures --
    def to_dot(self, cotangent=None, rankdir="LR") -> str:
        """Graphviz DOT source of the program: one node per equation and per input.

        Each node shows the variable, the operation, its shape and the structure of its Jacobian
        blocks.  With ``cotangent`` (of the output's shape), each node also shows its value and its
        gradient ``c(cotangent, d out / d node)``, as note 002's ``draw_dot`` does.
        """
        if rankdir not in ("LR", "TB"):
            raise ValueError(f"rankdir must be 'LR' or 'TB', got {rankdir!r}")
        grads = {}
        if cotangent is not None:
            if self.call.graph is None:
                raise ValueError("to_dot(cotangent=...): the output does not depend on the inputs")
            u = as_finite_float_array(cotangent, "to_dot: cotangent")
            if u.shape != self.call.value.shape:
                raise ValueError(
                    f"to_dot: the cotangent has shape {u.shape} but the program's output has shape {self.call.value.shape}"
                )
            grads = pullback_all(self.call.graph, u.astype(self.call.value.dtype, copy=False))
        lines = [f"digraph program {{", f"  rankdir={rankdir};", "  node [shape=record, fontname=monospace];"]

        def label(var, op, extra=""):
            text = f"{var.name} = {op} | {_type(var.shape, var.dtype)}"
            if extra:
                text += f" | {extra}"
            if cotangent is not None:
                v = np.array2string(np.asarray(var.value), precision=4, threshold=6)
                text += f" | v={v}"
                if var.id in grads:
                    text += f" | g={np.array2string(grads[var.id], precision=4, threshold=6)}"
            return "{" + _escape(text) + "}"

        for var in self.call.inputs:
            lines.append(f'  {var.name} [label="{label(var, "input")}"];')
        named = self._named()
        for eq in self.call.trace.equations:
            blocks = "; ".join(
                f"d/d{eq.inputs[pos].name}: {describe_jacobian(J, named)}"
                for pos, J in eq.jacobians.items()
            ) or ("constant" if not eq.out.dependent else "")
            lines.append(f'  {eq.out.name} [label="{label(eq.out, eq.name, blocks)}"];')
            for x in eq.inputs:
                if hasattr(x, "name") and hasattr(x, "dependent"):
                    lines.append(f"  {x.name} -> {eq.out.name};")
        lines.append("}")
        return "\n".join(lines)

    def draw(self, path=None, format="svg", cotangent=None):
        """Render :meth:`to_dot` with the optional ``graphviz`` package; return the ``graphviz.Source``.

        Writes ``path`` (without the extension, which ``format`` gives) when given.  Without the
        ``graphviz`` package (``pip install graphviz``) and its ``dot`` program (e.g.
        ``apt install graphviz``), raises ``ImportError`` saying how to get them; ``to_dot()``
        needs neither.
        """
        try:
            import graphviz
        except ImportError as exc:
            raise ImportError(
                "Program.draw needs the graphviz package and the Graphviz 'dot' program: "
                "pip install graphviz (and apt install graphviz / brew install graphviz); "
                "Program.to_dot() returns the DOT source without them"
            ) from exc
        source = graphviz.Source(self.to_dot(cotangent=cotangent), format=format)
        if path is not None:
            try:
                source.render(str(path), cleanup=True)
            except graphviz.ExecutableNotFound as exc:
                raise ImportError(
                    "Program.draw found the graphviz package but not the Graphviz 'dot' program: install it "
                    "(apt install graphviz / brew install graphviz), or use Program.to_dot()"
                ) from exc
        return source

    def _repr_html_(self) -> str:
        from .._display import program_html
        return program_html(self)


def _escape(text: str) -> str:
    """Escape a record label's text (its fields are separated by " | ")."""
    fields = text.split(" | ")
    for ch in '\\"<>{}|':
        fields = [f.replace(ch, "\\" + ch) for f in fields]
    return "|".join(f.replace("\n", "\\n") for f in fields)


def make_program(f, argnums=0, *, order: str = "optimal"):
    """The printable program of ``f``: ``make_program(f, argnums)(*args)`` returns a :class:`Program`.

    >>> import numpy as np, tensorjac as tj
    >>> G = np.arange(6.0).reshape(2, 3) / 10
    >>> print(tj.make_program(lambda x: np.sin(G @ x))(np.ones(3)))  # doctest: +NORMALIZE_WHITESPACE
    { lambda A:f64[2,3]; a:f64[3]. let
        b:f64[2] = matmul A a   # db/da: A[a,i]
        c:f64[2] = sin b   # dc/db: diag
      in (c) }
    accumulation (order='optimal', chosen: chain)
        1. a,ab->ab  (2,) (2, 3)   flops 6   largest 6
      predicted: forward 6 flops (largest 6), reverse 6 flops (largest 6), optimal 6 flops (largest 6)
    """
    if not callable(f):
        raise TypeError(f"make_program takes a function, got {type(f).__name__}")
    if order not in ORDER_CHOICES:
        raise ValueError(f"make_program: unknown order {order!r}; valid orders are {list(ORDER_CHOICES)}")

    def build(*args, **kwargs):
        call = trace_function(f, args, argnums, kwargs, "make_program")
        return Program(call, order, getattr(f, "__name__", "f"))

    return build
