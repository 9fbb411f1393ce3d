"""The verifier rejects each escape (one case per construct) and accepts real programs."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from exolab.errors import VerifyError
from exolab.safe import DETERMINISTIC, PROGRAM, TERMINATING, verify_source
from exolab.safe.policy import Policy

ROOT = Path(__file__).resolve().parents[2]

# (construct the error names, a program that uses it): every one must be rejected
# under PROGRAM; each line of docs/security.md's table names one of these ids.
REJECTED = {
    "private-attribute": ("attribute ._k", "def main(os):\n    return os._k\n"),
    "dunder-attribute": ("attribute .__class__", "def main(os):\n    return os.__class__\n"),
    "dunder-name": ("name __builtins__", "def main(os):\n    return __builtins__\n"),
    "dunder-import-name": ("name __import__", "def main(os):\n    __import__('sys')\n"),
    "getattr-computed": ("getattr() without a literal",
                         "def main(os, n):\n    return getattr(os, n)\n"),
    "getattr-private": ("getattr() without a literal",
                        "def main(os):\n    return getattr(os, '_k')\n"),
    "hasattr-private": ("hasattr() without a literal",
                        "def main(os):\n    return hasattr(os, '_cpu')\n"),
    "setattr": ("builtin setattr", "def main(os):\n    setattr(os, 'x', 1)\n"),
    "delattr": ("builtin delattr", "def main(os):\n    delattr(os, 'x')\n"),
    "vars": ("builtin vars", "def main(os):\n    return vars(os)\n"),
    "globals": ("builtin globals", "def main(os):\n    return globals()\n"),
    "locals": ("builtin locals", "def main(os):\n    return locals()\n"),
    "dir": ("builtin dir", "def main(os):\n    return dir(os)\n"),
    "eval": ("builtin eval", "def main(os):\n    return eval('1')\n"),
    "exec": ("builtin exec", "def main(os):\n    exec('x = 1')\n"),
    "compile": ("builtin compile", "def main(os):\n    compile('1', 'f', 'eval')\n"),
    "open": ("builtin open", "def main(os):\n    open('/etc/passwd')\n"),
    "input": ("builtin input", "def main(os):\n    input()\n"),
    "print": ("builtin print", "def main(os):\n    print('host stdout')\n"),
    "breakpoint": ("builtin breakpoint", "def main(os):\n    breakpoint()\n"),
    "help": ("builtin help", "def main(os):\n    help(os)\n"),
    "memoryview": ("builtin memoryview", "def main(os):\n    memoryview(b'x')\n"),
    "id": ("builtin id", "def main(os):\n    return id(os)\n"),
    "exit": ("builtin exit", "def main(os):\n    exit(0)\n"),
    "base-exception": ("builtin BaseException",
                       "def main(os):\n    try:\n        pass\n"
                       "    except BaseException:\n        pass\n"),
    "system-exit": ("builtin SystemExit", "def main(os):\n    raise SystemExit(0)\n"),
    "bare-except": ("bare except",
                    "def main(os):\n    try:\n        pass\n    except:\n        pass\n"),
    "type-3-args": ("type() with 3 arguments",
                    "def main(os):\n    return type('X', (), {})\n"),
    "iter-2-args": ("iter() with 2 arguments",
                    "def main(os):\n    for x in iter(int, 1):\n        pass\n"),
    "format-attribute": ("format field {0.__class__}",
                         "def main(os):\n    return '{0.__class__}'.format(os)\n"),
    "format-index": ("format field {0[x]}", "def main(os):\n    return '{0[x]}'.format(os)\n"),
    "format-nested-spec": ("format field {1.x}",
                           "def main(os):\n    return '{0:{1.x}}'.format(1, os)\n"),
    "format-non-literal": (".format on a non-literal",
                           "def main(os, f):\n    return f.format(os)\n"),
    "format-map": (".format_map on a non-literal",
                   "def main(os, f):\n    return f.format_map({})\n"),
    "generator-frame": ("attribute .gi_frame",
                        "def main(os):\n    g = (x for x in ())\n    return g.gi_frame\n"),
    "generator-code": ("attribute .gi_code",
                       "def main(os):\n    g = (x for x in ())\n    return g.gi_code\n"),
    "coroutine-frame": ("attribute .cr_frame", "def main(os, c):\n    return c.cr_frame\n"),
    "frame-back": ("attribute .f_back", "def main(os, f):\n    return f.f_back\n"),
    "frame-globals": ("attribute .f_globals", "def main(os, f):\n    return f.f_globals\n"),
    "traceback-frame": ("attribute .tb_frame", "def main(os, t):\n    return t.tb_frame\n"),
    "with-traceback": ("attribute .with_traceback",
                       "def main(os):\n    try:\n        1 / 0\n"
                       "    except ZeroDivisionError as e:\n"
                       "        return e.with_traceback\n"),
    "code-object": ("attribute .co_code", "def main(os, c):\n    return c.co_code\n"),
    "mro": ("attribute .mro", "def main(os):\n    return type(os).mro()\n"),
    "abc-register": ("attribute .register",     # host isinstance changed for later runs
                     "from typing import Sequence\n\ndef main(os):\n"
                     "    Sequence.register(int)\n"),
    "import-module": ("import sys", "import sys\n\ndef main(os):\n    pass\n"),
    "import-os": ("import os", "import os\n\ndef main(o):\n    pass\n"),
    "from-gc": ("import from gc", "from gc import get_objects\n\ndef main(os):\n    pass\n"),
    "from-unlisted-name": ("from exolab.abi import load_program",
                           "from exolab.abi import load_program\n\ndef main(os):\n    pass\n"),
    "from-private-name": ("from math import _x",
                          "from math import _x\n\ndef main(os):\n    pass\n"),
    "star-import": ("from math import *", "from math import *\n\ndef main(os):\n    pass\n"),
    "relative-import": ("import from .x", "from .x import y\n\ndef main(os):\n    pass\n"),
    "del-finalizer": ("def __del__",
                      "class A:\n    def __del__(self):\n        pass\n"),
    "init-subclass": ("def __init_subclass__",
                      "class A:\n    def __init_subclass__(cls):\n        pass\n"),
    "dunder-function": ("def __f", "def __f(os):\n    pass\n"),
    "metaclass": ("class keyword metaclass", "class A(metaclass=type):\n    pass\n"),
    "async": ("async code", "async def main(os):\n    pass\n"),
    "dunder-parameter": ("parameter __p", "def main(os, __p):\n    pass\n"),
    # the call-checked builtins named any other way than a direct call
    "getattr-alias": ("builtin getattr named outside a call",
                      "def main(os):\n    g = getattr\n    return g(os, '__class__')\n"),
    "getattr-passed": ("builtin getattr named outside a call",
                       "def main(os):\n    return list(map(getattr, [os], ['__class__']))\n"),
    "getattr-default": ("builtin getattr named outside a call",
                        "def f(x, g=getattr):\n    return g(x, '__class__')\n"),
    "hasattr-item": ("builtin hasattr named outside a call",
                     "def main(os):\n    return (hasattr,)[0](os, '_k')\n"),
    "type-alias": ("builtin type named outside a call",
                   "def main(os):\n    t = type\n    return t('X', (), {})\n"),
    "iter-alias": ("builtin iter named outside a call",
                   "def main(os):\n    i = iter\n    return list(i(int, 1))\n"),
    "rebind-getattr": ("rebinding getattr",
                       "def f():\n    getattr = None\n\ndef main(os, n):\n"
                       "    return getattr(os, n)\n"),
    "rebind-type-parameter": ("rebinding type", "def f(type=1):\n    return type\n"),
    "rebind-iter-except": ("rebinding iter",
                           "def main(os):\n    try:\n        pass\n"
                           "    except Exception as iter:\n        pass\n"),
    "rebind-getattr-capture": ("rebinding getattr",
                               "def main(os):\n    match 1:\n        case getattr:\n"
                               "            pass\n"),
    # class patterns read attributes: the attribute rules hold for them too
    "pattern-private-attribute": ("pattern attribute __class__=",
                                  "def main(os):\n    match os:\n"
                                  "        case object(__class__=c):\n            return c\n"),
    "pattern-banned-attribute": ("pattern attribute gi_frame=",
                                 "def main(os, g):\n    match g:\n"
                                 "        case object(gi_frame=f):\n            return f\n"),
    "pattern-format": ("pattern attribute format=",
                       "def main(os):\n    match '{0.__class__}':\n"
                       "        case str(format=f):\n            return f(os)\n"),
    "pattern-sized-method": ("pattern attribute ljust=",
                             "def main(os):\n    match 'x':\n"
                             "        case str(ljust=f):\n            return f(10 ** 9)\n"),
    "pattern-positional": ("a class pattern with positional sub-patterns",
                           "def main(os):\n    T = type(os)\n    match os:\n"
                           "        case T(a):\n            return a\n"),
    "pattern-capture-dunder": ("pattern capture __exolab_fuel__",
                               "def main(os):\n    match 1:\n"
                               "        case __exolab_fuel__:\n            pass\n"),
    "pattern-star-dunder": ("pattern capture __y",
                            "def main(os):\n    match [1]:\n"
                            "        case [*__y]:\n            pass\n"),
    "pattern-rest-dunder": ("pattern capture **__r",
                            "def main(os):\n    match {}:\n"
                            "        case {**__r}:\n            pass\n"),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_each_escape_is_rejected_naming_file_line_and_construct(case: str) -> None:
    construct, source = REJECTED[case]
    with pytest.raises(VerifyError) as info:
        verify_source(source, "prog.py")
    err = info.value
    assert construct in err.construct, err
    assert err.file == "prog.py" and err.line >= 1 and err.policy == "program"
    assert f"prog.py:{err.line}:" in str(err)


ACCEPTED = {
    "own-underscore-names": "def _helper(os):\n    return 1\n\ndef main(os):\n"
                            "    return _helper(os)\n",
    "literal-getattr": "def main(os):\n    return getattr(os, 'getpid', None)\n",
    "literal-hasattr": "def main(os):\n    return hasattr(os, 'pct_call')\n",
    "name-attributes": "def main(os):\n    return main.__name__ + type(os).__qualname__\n",
    "safe-format": "def main(os):\n    return '{0} {x:>4}'.format(1, x=2)\n",
    "type-one-arg": "def main(os):\n    return type(os) is int\n",
    "allowlisted-dunders": "class P:\n    __slots__ = ('x',)\n\n    def __init__(self, x):\n"
                           "        self.x = x\n\n    def __eq__(self, o):\n"
                           "        return self.x == o\n\n    def __hash__(self):\n"
                           "        return hash(self.x)\n",
    "allowlisted-imports": "from __future__ import annotations\n\nimport_ = 1\n"
                           "from math import sqrt\nfrom struct import pack\n"
                           "from exolab.abi import ABI, PROT_RW\n"
                           "from exolab.errors import SyscallError\n",
    "export-list": "__all__ = ['main']\n",
    "main-block-dropped": "def main(os):\n    pass\n\nif __name__ == '__main__':\n"
                          "    import sys\n    print(sys.argv)\n",
    "lazy-annotations-unchecked": "from __future__ import annotations\n\n"
                                  "def main(os: __Host) -> __Host:\n    pass\n",
    "match-patterns": "class P:\n    def __init__(self, x):\n        self.x = x\n\n"
                      "def main(os, v):\n    match v:\n        case int(n) | float(n):\n"
                      "            return n\n        case [a, *rest]:\n"
                      "            return rest\n        case {'k': w, **more}:\n"
                      "            return more\n        case P(x=1 as one):\n"
                      "            return one\n        case str() as s if s:\n"
                      "            return s\n        case _:\n            return None\n",
    "exceptions": "def main(os):\n    try:\n        1 / 0\n"
                  "    except (ZeroDivisionError, Exception) as e:\n        return e.args\n",
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_legitimate_constructs_are_accepted(case: str) -> None:
    verify_source(ACCEPTED[case], "ok.py")


def test_annotations_are_checked_when_they_are_evaluated() -> None:
    with pytest.raises(VerifyError, match="__Host"):
        verify_source("def main(os: __Host):\n    pass\n")


def test_a_syntax_error_is_one_verify_error_with_its_line() -> None:
    with pytest.raises(VerifyError) as info:
        verify_source("def main(os):\n    return (\n", "bad.py")
    assert info.value.construct == "a syntax error" and info.value.line >= 2


def test_a_name_the_program_binds_itself_is_not_a_builtin() -> None:
    verify_source("def main(os):\n    open = os.open\n    return open\n")
    with pytest.raises(VerifyError, match="builtin open"):
        verify_source("def main(os):\n    return open\n")


# -- policies -------------------------------------------------------------------

def _src(text: str) -> str:
    return textwrap.dedent(text)


@pytest.mark.parametrize("policy", [TERMINATING, DETERMINISTIC], ids=lambda p: p.name)
@pytest.mark.parametrize("construct,source", [
    ("while loop", "def f(x):\n    while x:\n        x -= 1\n"),
    ("recursion through f()", "def f(x):\n    return f(x - 1)\n"),
    ("recursion through f()", "def f(x):\n    return g(x)\n\ndef g(x):\n    return f(x)\n"),
    ("a loop over a non-constant iterable", "def f(x):\n    for i in range(x):\n"
                                            "        pass\n"),
    ("a loop over a non-constant iterable", "def f(x):\n    return [i for i in x]\n"),
    ("loops of more than 65536 steps", "def f(x):\n    for i in range(1000):\n"
                                       "        for j in range(1000):\n            pass\n"),
    ("lambda", "def f(x):\n    return (lambda y: y)(x)\n"),
])
def test_bounded_policies_reject_what_may_not_terminate(policy: Policy, construct: str,
                                                       source: str) -> None:
    verify_source(source, "h.py", PROGRAM)           # fine for a program
    with pytest.raises(VerifyError) as info:
        verify_source(source, "h.py", policy)
    assert construct in info.value.construct and info.value.policy == policy.name


def test_a_bounded_handler_is_accepted_by_the_terminating_policy() -> None:
    source = _src("""
        def f(pkt):
            n = 0
            for i in range(16):
                for c in (1, 2, 3):
                    n += pkt[i] * c
            return [b for b in b"abc"]
        """)
    verify_source(source, "h.py", TERMINATING)
    verify_source(source, "h.py", DETERMINISTIC)


@pytest.mark.parametrize("construct,source", [
    ("global/nonlocal state", "n = 0\n\ndef f(x):\n    global n\n    n += x\n"),
    ("module-level state", "seen = []\n\ndef f(x):\n    seen.append(x)\n"),
    ("builtin hash", "def f(x):\n    return hash(x)\n"),
])
def test_the_deterministic_policy_keeps_no_state_and_no_host_values(construct: str,
                                                                    source: str) -> None:
    verify_source(source, "o.py", TERMINATING)
    with pytest.raises(VerifyError) as info:
        verify_source(source, "o.py", DETERMINISTIC)
    assert construct in info.value.construct


# -- the accept-list: every example and every benchmark program ------------------

#: examples that are host scripts driving a mechanism directly, not ABI programs
HOST_SCRIPTS = {"xn_walkthrough.py", "xn_reboot.py"}   # (XN's walk-throughs: host scripts)


@pytest.mark.parametrize("path", sorted(p for p in (ROOT / "examples").glob("*.py")
                                        if p.name not in HOST_SCRIPTS), ids=lambda p: p.name)
def test_every_example_verifies(path: Path) -> None:
    verify_source(path.read_text(), str(path))


@pytest.mark.parametrize("path", ["apps/microbench.py"])
def test_the_benchmark_program_modules_verify(path: str) -> None:
    p = ROOT / "src" / "exolab" / path
    verify_source(p.read_text(), str(p))
