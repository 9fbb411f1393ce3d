"""A tree of processes built with fork, each with its own copy-on-write memory.

Covers: fork (copy-on-write address spaces), getpid, wait for a given child,
exit status as a value, mmap, load/store on the monolithic kernel's ABI.

Scenario: the first process maps one page and becomes the root of a binary
tree of processes ``depth`` levels deep. Every node writes its own path
("", "L", "LR", ...) into the page it inherited, forks a left and a right
child, and waits for both; each child's exit status is the size of its
subtree. Because fork copies the address space on write, the children's
stores never reach the parent: after both children have exited, every node
reads back exactly what it wrote. The root prints the size of the tree.

Run it: ``python examples/fork_tree.py [DEPTH]`` or
``exolab run examples/fork_tree.py [DEPTH]``.
"""
from __future__ import annotations

from exolab.abi import ABI

#: the ABI features this example needs (the conformance kit skips it, with the
#: reason, on a kernel that declares one of them refused)
NEEDS = ("fork",)                 # copy-on-write children

PAGE = 4096


def node(os: ABI, va: int, path: str, depth: int) -> int:
    """One node: label the page, fork the subtrees, return this subtree's size."""
    label = path or "root"
    data = label.encode()
    os.store(va, len(data))
    os.store_bytes(va + 4, data)            # a private copy of the page from now on
    if len(path) == depth:
        os.print(f"{'  ' * len(path)}leaf {label} is pid {os.getpid()}")
        return 1
    kids = [os.fork(node, va, path + side, depth) for side in "LR"]
    size = 1
    for kid in kids:
        pid, status = os.wait(kid)
        size += status
    mine = os.load_bytes(va + 4, os.load(va)).decode()
    os.print(f"{'  ' * len(path)}node {label} is pid {os.getpid()}: subtree of {size},"
             f" page still says {mine!r}")
    return size


def main(os: ABI, depth: int = 2) -> int:
    """Build the tree under a fresh page and report its size."""
    va = os.mmap(PAGE)
    size = node(os, va, "", depth)
    os.print(f"a tree of depth {depth} has {size} processes")
    return 0


if __name__ == "__main__":
    import sys

    from exolab.runner import run_program
    run = run_program(main, *(int(a) for a in sys.argv[1:]))
    print("\n".join(run.console))
