"""Clock.pending() is a count kept as events come and go (not a scan), and the
heap drops cancelled events so it never holds more than twice the live ones
plus a constant: a hypothesis state machine against a model."""
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exolab.machine.clock import Clock


class ClockModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock(0)
        self.events: list = []
        self.fired: list[int] = []
        self.live: set[int] = set()

    @rule(delay=st.integers(0, 50))
    def schedule(self, delay: int) -> None:
        ev = self.clock.after(delay, self.fired.append, len(self.events))
        self.live.add(len(self.events))
        self.events.append(ev)

    @rule(i=st.integers(0, 400))
    def cancel(self, i: int) -> None:
        if self.events:
            j = i % len(self.events)
            self.clock.cancel(self.events[j])
            self.live.discard(j)

    @rule(step=st.integers(0, 30))
    def advance(self, step: int) -> None:
        self.clock.now += step
        due = {j for j in self.live if self.events[j].at <= self.clock.now}
        before = len(self.fired)
        self.clock.fire_due()
        assert set(self.fired[before:]) == due
        self.live -= due

    @invariant()
    def counts_agree(self) -> None:
        assert self.clock.pending() == len(self.live)
        assert len(self.clock._heap) <= 2 * len(self.live) + 66


TestClockModel = ClockModel.TestCase
TestClockModel.settings = settings(max_examples=60, stateful_step_count=120, deadline=None)


def test_many_cancelled_timers_do_not_pile_up():
    clock = Clock(0)
    for i in range(10_000):
        clock.cancel(clock.after(1_000 + i, lambda _: None))
    assert clock.pending() == 0 and len(clock._heap) <= 66
