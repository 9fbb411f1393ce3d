"""Suite net: Table 11's round trips and Fig 2's shapes come out of the structure."""
from __future__ import annotations

import pytest

from exolab.bench import net
from exolab.bench.anatomy import anatomy
from exolab.bench.registry import get_suite, run_benchmark

MHZ = 25


def us(bench: str, kernel: str, n: int = 4) -> float:
    value = run_benchmark(get_suite("net"), bench, kernel, "dec5000", 0, n)
    assert value is not None
    return value / MHZ


@pytest.fixture(scope="module")
def table11() -> dict[str, float]:
    return {"ultrix": us("udp60", "monolithic"), "exos": us("udp60", "exokernel"),
            "ash": us("udp60-ash", "exokernel")}


def test_table11_ratios_within_the_band_and_the_same_winner(table11) -> None:
    ultrix, exos, ash = table11["ultrix"], table11["exos"], table11["ash"]
    assert ultrix > exos > ash > net.floor_us("dec5000")
    assert 1 / 1.5 <= (ultrix / exos) / (3400 / 320) <= 1.5
    assert 1 / 1.5 <= (exos / ash) / (320 / 259) <= 1.5
    assert 1 / 1.5 <= exos / 320 <= 1.5          # a prediction: nothing was fitted to it


def test_the_lower_bound_is_two_frames_on_the_wire() -> None:
    # 102-byte frames: (102 + 24) * 8 bits at 10 Mb/s, + 6 us NIC + 1 us cable, twice
    assert net.floor_us("dec5000") == pytest.approx(2 * (100.8 + 6 + 1))


def test_fig2_linear_without_ash_flat_with_it() -> None:
    mono = [us(f"load-{k}", "monolithic", 2) for k in (1, 3)]
    exos = [us(f"load-{k}", "exokernel", 2) for k in (1, 3)]
    ash = [us(f"load-{k}-ash", "exokernel", 2) for k in (1, 3)]
    assert mono[1] - mono[0] > 10_000 and exos[1] - exos[0] > 20_000   # a slice each
    assert abs(ash[1] - ash[0]) < 0.02 * ash[0]


def test_explain_counts_one_round_trip_on_machine_a() -> None:
    a = anatomy("udp60", "monolithic", n=3)
    assert a is not None
    assert a.counts["traps"] == 2 and a.counts["interrupts"] >= 1     # sendto, recvfrom
    assert a.counts["copies"] == 4                  # copyin, to the NIC, from it, copyout
    assert a.counts["context switches"] == 1        # the receiver is scheduled
    e = anatomy("udp60", "exokernel", n=3)
    assert e is not None and e.counts["copies"] < a.counts["copies"]
    assert e.counts["cycles"] * 5 < a.counts["cycles"]


def test_the_ash_row_is_na_where_there_is_no_handler() -> None:
    assert run_benchmark(get_suite("net"), "udp60-ash", "monolithic", "dec5000", 0, 2) \
        is None
