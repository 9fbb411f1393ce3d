"""The isolation knob: the same kernel and SIPs with hardware isolation added back.

Aiken et al. (MSPC'06) and Hunt & Larus (OSR'07, Fig 5) measure Singularity
with its SIPs in ring 0 and paging off (the base) and then with the
hardware's protection turned on, piece by piece. A configuration here says,
for the whole kernel, whether paging is on, and for each SIP whether it has
its own domain (address space) and whether it runs in ring 3. Nothing in it
is a cost: the costs are what the machine then does —

- paging on: every SIP load and store goes through the TLB, and a miss walks
  the page table (the profile's ``tlb_miss_entry``); a SIP's page-table
  entries are written when it is created (``sing_pte_op`` per page);
- own domain: a switch to or from the SIP loads another address space, which
  on the untagged Athlon 64 TLB flushes it (``asid_switch``, then the refill
  misses as they happen); creating the SIP maps the kernel into its new
  address space (``sing_domain_map``);
- ring 3: every kernel call of the SIP is a trap (``trap_entry`` + ``trap_exit``).

Interface::

    CONFIGS                           name -> Isolation (the papers' configurations)
    Isolation(paging, own_domain, ring3)      own_domain/ring3: "none", "named", "all"
      domain_of(name) -> bool         ring3_of(name) -> bool
    configure(name, isolated=()) -> (Isolation, frozenset of SIP names)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from exolab.errors import ConfigError

__all__ = ["Isolation", "CONFIGS", "configure"]

_WHO = ("none", "named", "all")


@dataclass(frozen=True, slots=True)
class Isolation:
    """Paging on or off; which SIPs get their own domain and run in ring 3."""

    paging: bool = False
    own_domain: str = "none"
    ring3: str = "none"

    def __post_init__(self) -> None:
        if type(self.paging) is not bool or self.own_domain not in _WHO or \
                self.ring3 not in _WHO:
            raise ConfigError("bad isolation configuration", expected=list(_WHO))


#: the configurations the papers measure (OSR'07 Fig 5 order; "hip" is MSPC'06 HIP-R3)
CONFIGS = {
    "base": Isolation(),                                     # ring 0, paging off
    "paging": Isolation(paging=True),                        # + 4 KB pages
    "domain": Isolation(True, own_domain="named"),           # the named SIPs: own domain
    "ring3": Isolation(True, own_domain="named", ring3="named"),   # ... and ring 3
    "hip": Isolation(True, own_domain="all", ring3="all"),   # every SIP: own ring-3 domain
}


def configure(name: str, isolated: Iterable[str] = ()) -> tuple[Isolation, frozenset[str]]:
    """The configuration ``name`` and the SIP names it applies to where it says "named"."""
    config = CONFIGS.get(name) if type(name) is str else None
    if config is None:
        raise ConfigError("unknown isolation configuration", isolation=str(name),
                          expected=sorted(CONFIGS))
    names = frozenset(isolated)
    if any(type(n) is not str for n in names):
        raise ConfigError("isolated SIPs are named by str")
    return config, names


def applies(who: str, name: str, named: frozenset[str]) -> bool:
    """Whether a "none"/"named"/"all" setting covers the SIP called ``name``."""
    return who == "all" or (who == "named" and name in named)
