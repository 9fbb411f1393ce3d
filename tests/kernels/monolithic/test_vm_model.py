"""A hypothesis state machine over the monolithic kernel's VM calls.

One simulated program stays alive for a whole example and runs each rule's
operation when the test hands it over (a greenlet switch: the program waits
for its next operation in zero simulated time). A Python model of the address
space predicts every result: a load or store on an accessible page returns or
stores the model's value; on an inaccessible page the program's fault handler
is called once (it records the fault and opens the page read-write) and the
access then completes. Frame accounting is checked after every step (one
frame per page-table entry, no PTE naming a free frame) and after the program
exits (every frame back).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from greenlet import getcurrent, greenlet
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (Bundle, RuleBasedStateMachine, invariant, precondition,
                                 rule)

from exolab.abi import ABI, PROT_READ, PROT_RW, PROT_WRITE
from exolab.errors import SyscallError
from exolab.kernels.monolithic import MonolithicKernel
from exolab.machine.machine import Machine

from ._support import PAGE

PROTS = st.sampled_from([0, PROT_READ, PROT_WRITE, PROT_RW])
SIZES = st.sampled_from([1, 2, 4, 8])


@dataclass
class Page:
    """The model of one mapped page."""

    prot: int
    words: dict[int, int] = field(default_factory=dict)     # byte offset -> byte
    dirty: bool = False


def _readable(prot: int) -> bool:
    return bool(prot & PROT_READ)


def _writable(prot: int) -> bool:
    return prot == PROT_RW          # the R3000-like MMU has no write-only pages


class Harness:
    """A machine running one program that executes operations handed to it."""

    def __init__(self) -> None:
        self.test = getcurrent()
        self.kernel = MonolithicKernel(Machine("dec5000", frames=4096))
        self.baseline = self.kernel.frames.in_use()
        self.faults: list[tuple[int, bool]] = []
        self.kernel.boot(self._program)
        self.machine_glet = greenlet(self.kernel.run)
        self.program_glet: greenlet | None = None
        self.result: Any = self.machine_glet.switch()        # runs until the first wait

    def _handler(self, os: ABI, vaddr: int, write: bool) -> None:
        self.faults.append((vaddr, write))
        os.mprotect(vaddr & ~(PAGE - 1), PAGE, PROT_RW)

    def _program(self, os: ABI) -> int:
        self.program_glet = getcurrent()
        os.set_fault_handler(self._handler)
        reply: Any = None
        while True:
            op = self.test.switch(reply)        # wait for the next operation
            if op is None:
                return 0
            try:
                reply = ("ok", op(os))
            except SyscallError as ex:
                reply = ("err", ex.errno)

    def do(self, op: Callable[[ABI], Any]) -> tuple[str, Any]:
        """Run ``op(os)`` inside the program; return ("ok", value) or ("err", errno)."""
        assert self.program_glet is not None and not self.program_glet.dead
        reply = self.program_glet.switch(op)
        assert isinstance(reply, tuple), reply
        return reply

    def finish(self) -> Any:
        """Let the program return and the machine run to the end; return RunResult."""
        if self.program_glet is not None and not self.program_glet.dead:
            self.result = self.program_glet.switch(None)
        return self.result

    def space(self) -> Any:
        return self.kernel.processes[1].space


class VMModel(RuleBasedStateMachine):
    """mmap / munmap / mprotect / load / store / dirty against a model."""

    regions = Bundle("regions")

    def __init__(self) -> None:
        super().__init__()
        self.h = Harness()
        self.pages: dict[int, Page] = {}        # page address -> model
        self.live: dict[int, int] = {}          # region base -> pages it was mapped with

    # -- mapping ------------------------------------------------------------------

    @rule(target=regions, npages=st.integers(1, 4), prot=PROTS)
    def mmap(self, npages: int, prot: int) -> int:
        kind, va = self.h.do(lambda os: os.mmap(npages * PAGE, prot))
        assert kind == "ok" and va % PAGE == 0
        for i in range(npages):
            assert va + i * PAGE not in self.pages      # never handed out twice
            self.pages[va + i * PAGE] = Page(prot)
        self.live[va] = npages
        return va

    @rule(base=regions, data=st.data())
    def munmap(self, base: int, data: st.DataObject) -> None:
        npages = self.live[base]                # any part, mapped or already not
        first = data.draw(st.integers(0, npages - 1))
        count = data.draw(st.integers(1, npages - first))
        va = base + first * PAGE
        assert self.h.do(lambda os: os.munmap(va, count * PAGE)) == ("ok", None)
        for i in range(first, first + count):
            self.pages.pop(base + i * PAGE, None)

    @rule(base=regions, data=st.data(), prot=PROTS)
    def mprotect(self, base: int, data: st.DataObject, prot: int) -> None:
        page = data.draw(st.sampled_from(sorted(self._pages_of(base) or [base])))
        reply = self.h.do(lambda os: os.mprotect(page, PAGE, prot))
        if page in self.pages:
            assert reply == ("ok", None)
            self.pages[page].prot = prot
        else:
            assert reply == ("err", "EFAULT")

    # -- access ---------------------------------------------------------------------

    def _pages_of(self, base: int) -> list[int]:
        return [base + i * PAGE for i in range(self.live.get(base, 0))
                if base + i * PAGE in self.pages]

    def _target(self, base: int, data: st.DataObject, size: int) -> tuple[int, int] | None:
        pages = self._pages_of(base)
        if not pages:
            return None
        page = data.draw(st.sampled_from(pages))
        return page, data.draw(st.integers(0, PAGE // size - 1)) * size

    def _expect_fault(self, before: int, page: int, offset: int, write: bool,
                      allowed: bool) -> None:
        new = self.h.faults[before:]
        if allowed:
            assert new == []
        else:
            assert new == [(page + offset, write)]
            self.pages[page].prot = PROT_RW             # what the handler did

    @rule(base=regions, data=st.data(), size=SIZES)
    def load(self, base: int, data: st.DataObject, size: int) -> None:
        target = self._target(base, data, size)
        if target is None:
            return
        page, off = target
        before = len(self.h.faults)
        reply = self.h.do(lambda os: os.load(page + off, size))
        self._expect_fault(before, page, off, False, _readable(self.pages[page].prot))
        words = self.pages[page].words
        expected = int.from_bytes(bytes(words.get(off + i, 0) for i in range(size)),
                                  "little")
        assert reply == ("ok", expected)

    @rule(base=regions, data=st.data(), size=SIZES, value=st.integers(0, (1 << 64) - 1))
    def store(self, base: int, data: st.DataObject, size: int, value: int) -> None:
        target = self._target(base, data, size)
        if target is None:
            return
        page, off = target
        before = len(self.h.faults)
        reply = self.h.do(lambda os: os.store(page + off, value, size))
        self._expect_fault(before, page, off, True, _writable(self.pages[page].prot))
        assert reply == ("ok", None)
        model = self.pages[page]
        for i, b in enumerate((value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")):
            model.words[off + i] = b
        model.dirty = True

    @rule(base=regions, data=st.data())
    def dirty(self, base: int, data: st.DataObject) -> None:
        target = self._target(base, data, 1)
        if target is None:
            return
        page, off = target
        assert self.h.do(lambda os: os.dirty(page + off)) == ("ok", self.pages[page].dirty)

    @precondition(lambda self: bool(self.pages))
    @rule(data=st.data())
    def unmapped_is_efault(self, data: st.DataObject) -> None:
        gone = max(self.pages) + 2 * PAGE       # past the last page and its guard
        assert self.h.do(lambda os: os.mprotect(gone, PAGE, PROT_READ)) == ("err", "EFAULT")
        assert self.h.do(lambda os: os.dirty(gone)) == ("err", "EFAULT")

    # -- accounting -----------------------------------------------------------------

    @invariant()
    def frames_match_page_tables(self) -> None:
        space = self.h.space()
        assert self.h.kernel.frames.in_use() == self.h.baseline + len(space.ptes)
        self.h.kernel.vm.audit(space)
        assert set(space.ptes) <= {p >> 12 for p in self.pages}

    def teardown(self) -> None:
        result = self.h.finish()
        assert result.reason == "finished", result
        assert self.h.kernel.faults == []
        assert self.h.kernel.frames.in_use() == self.h.baseline


VMModel.TestCase.settings = settings(max_examples=100, stateful_step_count=40,
                                     deadline=None)
TestVMModel = VMModel.TestCase
