"""Chrome trace-event / Perfetto export: structure, balance, determinism."""
from __future__ import annotations

import json
from typing import Any

import pytest

from exolab.demo import run_demo
from exolab.machine.costs import get_profile
from exolab.trace.events import Kind, Tracer
from exolab.trace.perfetto import CATEGORY, dumps, to_chrome_trace, write_chrome_trace

PHASES = {"B", "E", "i", "M"}
NEEDS = {"B": ("name", "ph", "ts", "pid", "tid"), "E": ("ph", "ts", "pid", "tid"),
         "i": ("name", "ph", "ts", "pid", "tid", "s"), "M": ("name", "ph", "pid", "args")}


def validate(trace: dict[str, Any]) -> None:
    """Check a trace against the trace-event spec as far as exolab uses it."""
    assert set(trace) >= {"traceEvents", "displayTimeUnit", "otherData"}
    assert trace["displayTimeUnit"] in ("ns", "ms")
    json.loads(dumps(trace))                          # JSON-serializable, no NaN
    last: dict[int, float] = {}
    depth: dict[int, int] = {}
    for ev in trace["traceEvents"]:
        ph = ev["ph"]
        assert ph in PHASES, ev
        for key in NEEDS[ph]:
            assert key in ev, (key, ev)
        if ph == "M":
            assert ev["name"] in ("process_name", "thread_name", "thread_sort_index")
            continue
        assert isinstance(ev["ts"], (int, float)) and ev["ts"] >= 0
        assert isinstance(ev["pid"], int) and isinstance(ev["tid"], int)
        if ph == "i":
            assert ev["s"] in ("g", "p", "t")
        if ph in ("B", "E"):
            tid = ev["tid"]
            assert ev["ts"] >= last.get(tid, 0.0), ev      # non-decreasing per track
            last[tid] = ev["ts"]
            depth[tid] = depth.get(tid, 0) + (1 if ph == "B" else -1)
            assert depth[tid] >= 0, ("E without B", ev)
    assert all(d == 0 for d in depth.values()), depth


@pytest.fixture(scope="module")
def demo():
    return run_demo("dec5000", seed=0)


def test_demo_trace_is_valid(demo) -> None:
    validate(to_chrome_trace(demo.machine.tracer, demo.machine.profile))


def test_demo_trace_content(demo) -> None:
    trace = to_chrome_trace(demo.machine.tracer, "dec5000", process_name="lab")
    evs = trace["traceEvents"]
    assert trace["otherData"]["profile"] == "dec5000"
    assert trace["otherData"]["cycles_per_us"] == 25
    names = {e["tid"]: e["args"]["name"] for e in evs if e["name"] == "thread_name"}
    assert set(names.values()) >= {"ping", "pong", "spinner", "faulter"}
    assert {"name": "process_name", "ph": "M", "ts": 0, "pid": 0, "tid": 0,
            "args": {"name": "lab"}} in evs              # the machine: no kernel processes
    assert {e["pid"] for e in evs} == {0}
    tid_of = {v: k for k, v in names.items()}
    # the timer preempts the spinner: interrupt slices on its track
    assert any(e["ph"] == "B" and e["cat"] == "interrupt"
               and e["tid"] == tid_of["spinner"] for e in evs)
    # the faulter's exception is a slice, closed when the thread is killed
    exc = [e for e in evs
           if e.get("cat") == "exception" and e["tid"] == tid_of["faulter"]]
    assert [e["ph"] for e in exc] == ["B", "i", "E"]
    assert exc[0]["name"] == "EXCEPTION: TLB_LOAD"
    assert exc[0]["args"]["vaddr"] == "0x7fff0000"
    # the others kept running after the fault
    after = [e for e in evs if e.get("ts", 0) > exc[-1]["ts"]]
    assert {e["tid"] for e in after} >= {tid_of["ping"], tid_of["pong"]}
    for e in evs:
        if e["ph"] in ("i", "B"):
            assert e["cat"] in set(CATEGORY.values())
            assert e["ts"] == round(e["args"]["cycle"] / 25, 3)


def test_same_seed_same_bytes(tmp_path) -> None:
    paths = []
    for i in range(2):
        run = run_demo("dec5000", seed=7)
        p = tmp_path / f"t{i}.json"
        write_chrome_trace(run.machine.tracer, run.machine.profile, p)
        paths.append(p)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    validate(json.loads(paths[0].read_text()))


def test_other_profile_timestamps() -> None:
    run = run_demo("athlon64", seed=1)
    trace = to_chrome_trace(run.machine.tracer, run.machine.profile)
    validate(trace)
    for e in trace["traceEvents"]:
        if e["ph"] in ("i", "B"):
            assert e["ts"] == round(e["args"]["cycle"] / 1800, 3)


def test_unbalanced_events_are_repaired() -> None:
    tr = Tracer()
    tr.emit(10, Kind.TRAP_RETURN, 0, 1, "0")          # E with no B: dropped
    tr.emit(20, Kind.TRAP, 0, 1, "0", (1, 2))
    tr.emit(30, Kind.INTERRUPT, 0, 1, "irq0", 0)
    tr.emit(40, Kind.TRAP_RETURN, 0, 1, "0")          # closes interrupt, then trap
    tr.emit(50, Kind.EXCEPTION, 0, 2, "TLB_MOD", 0x1000)
    tr.emit(60, Kind.THREAD_EXIT, 0, 2, "t2")         # closes the exception
    tr.emit(70, Kind.UPCALL, 0, 3, "pagefault")       # still open at the end
    tr.emit(100, Kind.MARK, 0, 0, "end")
    evs = [e for e in to_chrome_trace(tr, "dec5000")["traceEvents"] if e["ph"] != "M"]
    validate({"traceEvents": evs, "displayTimeUnit": "ns", "otherData": {}})
    shape = [(e["ph"], e["tid"], e["ts"], e["name"]) for e in evs]
    assert shape == [
        ("B", 1, 0.8, "TRAP: 0"), ("B", 1, 1.2, "INTERRUPT: irq0"),
        ("E", 1, 1.6, "INTERRUPT: irq0"), ("E", 1, 1.6, "TRAP: 0"),
        ("B", 2, 2.0, "EXCEPTION: TLB_MOD"), ("E", 2, 2.4, "EXCEPTION: TLB_MOD"),
        ("i", 2, 2.4, "THREAD_EXIT: t2"), ("B", 3, 2.8, "UPCALL: pagefault"),
        ("i", 0, 4.0, "MARK: end"), ("E", 3, 4.0, "UPCALL: pagefault")]
    assert evs[0]["args"]["args"] == [1, 2]


def test_args_are_json_safe() -> None:
    tr = Tracer()
    tr.emit(1, Kind.MARK, 0, 0, "", {"t": (1, (2, 3)), "o": object(), "b": b"x",
                                     "f": float("nan")})
    tr.emit(2, Kind.TLB_REFILL, 0, 0, "tlbwr", (1, 2, 3))
    evs = [e for e in to_chrome_trace(tr, get_profile("dec5000"))["traceEvents"]
           if e["ph"] == "i"]
    arg = evs[0]["args"]["arg"]
    assert evs[0]["name"] == "MARK"
    assert arg["t"] == [1, [2, 3]] and isinstance(arg["o"], str)
    assert arg["b"] == "b'x'" and arg["f"] == "nan"
    assert evs[1]["args"]["vpn_asid_ppn"] == [1, 2, 3]
    json.loads(dumps(evs))


def test_threads_are_grouped_under_their_kernels_processes() -> None:
    from exolab.runner import run_program

    def child(os) -> int:
        return os.getpid()

    def main(os) -> None:
        os.wait(os.fork(child))

    for kernel, label in (("monolithic", "pid 2: main~"), ("exokernel", "env 2: main~")):
        run = run_program(main, kernel=kernel, trace=True)
        evs = to_chrome_trace(run.machine.tracer, "dec5000")["traceEvents"]
        procs = {e["pid"]: e["args"]["name"] for e in evs if e["name"] == "process_name"}
        assert procs[0] == "exolab" and label in procs.values(), procs
        threads = {e["tid"]: e["pid"] for e in evs if e["name"] == "thread_name"}
        child_pid = next(p for p, n in procs.items() if n == label)
        assert child_pid in threads.values()
        traps = [e for e in evs if e["ph"] == "B" and e["cat"] == "trap"]
        assert {e["pid"] for e in traps} >= {1, child_pid}   # each on its process's track
