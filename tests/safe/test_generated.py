"""Generated programs: valid ones behave the same verified and instrumented as plain;
random code never crashes the verifier (it accepts or raises one VerifyError)."""
from __future__ import annotations

import ast
import textwrap
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exolab.errors import VerifyError
from exolab.safe import PROGRAM, TERMINATING, load_program_source, verify_source

VARS = ["a", "b", "c"]

atoms = st.one_of(st.integers(-50, 50).map(str), st.sampled_from(VARS))


def _binop(xs: Any) -> Any:
    return st.tuples(xs, st.sampled_from(["+", "-", "*", "%", "<", "==", "and", "or"]),
                     xs).map(lambda t: f"({t[0]} {t[1]} ({t[2]} or 1))" if t[1] == "%"
                             else f"({t[0]} {t[1]} {t[2]})")


exprs = st.recursive(atoms, lambda xs: st.one_of(
    _binop(xs), xs.map(lambda e: f"helper({e})"),
    st.tuples(xs, xs).map(lambda t: f"max({t[0]}, {t[1]})"),
    xs.map(lambda e: f"sum(x * 2 for x in range({e} % 5))"),
    xs.map(lambda e: f"len([k for k in (1, 2, 3) if k < {e}])")), max_leaves=6)


def _block(depth: int) -> Any:
    simple = st.tuples(st.sampled_from(VARS), exprs).map(lambda t: [f"{t[0]} = {t[1]}"])
    if depth == 0:
        return simple
    inner = st.lists(_block(depth - 1), min_size=1, max_size=3).map(
        lambda bs: [line for b in bs for line in b])
    return st.one_of(
        simple,
        st.tuples(exprs, inner, inner).map(
            lambda t: [f"if {t[0]}:"] + ["    " + x for x in t[1]] + ["else:"]
            + ["    " + x for x in t[2]]),
        st.tuples(st.integers(0, 6), inner).map(
            lambda t: [f"for i in range({t[0]}):"] + ["    " + x for x in t[1]]),
        st.tuples(st.sampled_from(VARS), inner).map(
            lambda t: ["n = 0", "while n < 4:", "    n += 1"]
            + ["    " + x for x in t[1]]),
    )


programs = st.lists(_block(2), min_size=1, max_size=4).map(
    lambda bs: "def helper(x):\n    return x * 3 - 1\n\n"
               "def main(os, a, b):\n    c = 0\n"
               + textwrap.indent("\n".join(line for b in bs for line in b), "    ")
               + "\n    return (a, b, c)\n")


def _plain(source: str) -> Any:
    ns: dict[str, Any] = {}
    exec(compile(source, "gen.py", "exec"), ns)     # noqa: S102 - generated, trusted here
    return ns["main"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs, st.integers(-20, 20), st.integers(-20, 20))
def test_valid_programs_are_accepted_and_behave_the_same(source: str, a: int, b: int) -> None:
    verified = load_program_source(source, "gen.py")
    assert verified(None, a, b) == _plain(source)(None, a, b)


HOSTILE = ["os", "_k", "__class__", "getattr", "open", "eval", "type", "iter", "import",
           "sys", "from", "lambda", "def", "class", "while", "for", "in", "(", ")", ":",
           "=", ".", ",", "'{0.x}'", ".format", "\n", "    ", "1", "x", "yield", "try",
           "except", "global", "[", "]", "gi_frame", "__del__", "async", "@", "*", "\x00"]


@settings(max_examples=250, deadline=None)
@given(st.lists(st.sampled_from(HOSTILE), max_size=40).map(" ".join),
       st.sampled_from([PROGRAM, TERMINATING]))
def test_random_token_soup_never_crashes_the_verifier(source: str, policy: Any) -> None:
    try:
        verify_source(source, "soup.py", policy)
    except VerifyError:
        pass


names = st.sampled_from(["x", "_p", "__dict__", "open", "getattr", "os", "type", "iter"])
trees = st.recursive(
    st.one_of(names.map(lambda n: ast.Name(n, ast.Load())),
              st.integers(-3, 3).map(ast.Constant),
              st.sampled_from(["{0.a}", "{}", "x"]).map(ast.Constant)),
    lambda xs: st.one_of(
        st.tuples(xs, names).map(lambda t: ast.Attribute(t[0], t[1], ast.Load())),
        st.tuples(xs, st.lists(xs, max_size=3)).map(lambda t: ast.Call(t[0], t[1], [])),
        st.tuples(xs, xs).map(lambda t: ast.BinOp(t[0], ast.Pow(), t[1])),
        st.lists(xs, max_size=3).map(lambda es: ast.ListComp(
            es[0] if es else ast.Constant(0),
            [ast.comprehension(ast.Name("v", ast.Store()), ast.Name("os", ast.Load()),
                               [], 0)]))),
    max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(trees)
def test_random_asts_never_crash_the_verifier(expr: ast.expr) -> None:
    source = ast.unparse(ast.fix_missing_locations(
        ast.Module([ast.Expr(expr)], type_ignores=[])))
    try:
        verify_source(source, "tree.py")
    except VerifyError:
        pass


def test_a_fixed_seed_soak_of_hostile_programs_crashes_nothing() -> None:
    """500 random hostile bodies: the verifier only accepts or rejects; accepted ones run
    on both kernels and end in a result or a fault, never a simulator error."""
    import random

    from exolab.kernels import kernel_names
    from exolab.runner import run_program
    rng = random.Random(9)
    tokens = HOSTILE[:-1] + ["True", "pass", "return", "**", "<<", "getattr(os, 'x')"]
    accepted = 0
    for _ in range(500):
        body = " ".join(rng.choice(tokens) for _ in range(rng.randint(1, 12)))
        source = "def main(os):\n    " + body.replace("\n", " ") + "\n"
        try:
            main = load_program_source(source, "soak.py")
        except VerifyError:
            continue
        accepted += 1
        for kernel in kernel_names():
            run = run_program(main, kernel=kernel)
            assert run.result.reason == "finished" and run.machine.panic is None
    assert accepted > 0
