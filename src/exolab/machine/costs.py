"""Cost profiles: the price, in cycles, of every hardware primitive.

One table per paper machine (xv6 ``param.h`` style). Every hardware action in
:mod:`exolab.machine` charges a number from the active profile, and nothing
else does: a kernel's differences come from *how many* of these primitives
its paths take (each kernel's own software path costs live beside it, in
``kernels/<kernel>/paths.py``). Each row cites its source; "estimate" rows give their
reasoning and are the first candidates for calibration.

Interface::

    CostProfile                 frozen record of one machine's costs
    DiskModel, NicModel         latency parameters of the disk and the NIC
    PROFILES                    name -> CostProfile
    get_profile(name)           lookup with a typed error
    profile_sources(name)       name -> {field: source}, for docs and reports
    MMUS                        the TLB-refill kinds a profile's ``mmu`` selects
    CacheModel                  a data cache's geometry and line-fill cost (``cache``;
                                None: no cache modelled, machine/cache.py)

Units: cycles unless the field name says otherwise (``_us`` microseconds,
``_ms`` milliseconds, ``_per_kib`` cycles per 1024 bytes).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from exolab.errors import ConfigError
from exolab.safe.sealed import Sealed

__all__ = ["CostProfile", "CacheModel", "DiskModel", "NicModel", "PROFILES", "MMUS", "get_profile",
           "profile_sources"]


@dataclass(frozen=True, slots=True)
class DiskModel(metaclass=Sealed):
    """Seek/rotation/transfer parameters of a disk drive (Ruemmler & Wilkes form).

    seek(d) = 0 for d == 0; ``short_a_ms + short_b_ms * sqrt(d)`` for
    d < ``seek_boundary`` cylinders; ``long_a_ms + long_b_ms * d`` beyond.
    """

    rpm: int
    sectors_per_track: int
    tracks_per_cylinder: int
    short_a_ms: float
    short_b_ms: float
    long_a_ms: float
    long_b_ms: float
    seek_boundary: int
    controller_ms: float        # per-request controller overhead
    flush_ms: float             # write-cache flush command overhead
    bus_mb_s: float = 10.0      # host bus rate, 10**6 bytes/s (cache hits, cached writes)
    readahead_kib: int = 0      # read-ahead buffer after a media read (0: none)


@dataclass(frozen=True, slots=True)
class NicModel(metaclass=Sealed):
    """Ethernet NIC parameters: wire speed and per-frame DMA/descriptor cost."""

    wire_mbit: float            # link speed, megabits per second
    frame_cycles: int           # descriptor handling per frame (tx or rx)
    min_frame: int = 60         # Ethernet minimum frame (without FCS)
    max_frame: int = 1514       # Ethernet maximum frame (without FCS)


@dataclass(frozen=True, slots=True)
class CacheModel(metaclass=Sealed):
    """A physically indexed, write-through, no-write-allocate cache (machine/cache.py):
    ``size`` bytes in ``ways``-way sets of ``line``-byte lines; a read miss stalls
    ``line_fill`` cycles while the line comes from outside the chip."""

    size: int
    ways: int
    line: int
    line_fill: int
    sources: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class CostProfile(metaclass=Sealed):
    """Every primitive cost of one machine; see the module tables for sources."""

    name: str
    description: str
    mhz: int                    # clock rate: cycles per microsecond
    instruction: int            # one simple ALU/branch instruction
    load_store: int             # a load or store that hits in the TLB
    trap_entry: int             # user -> kernel on a system call
    trap_exit: int              # kernel -> user return from a call
    exception_entry: int        # general exception vector (fault) entry
    exception_exit: int         # return from exception
    tlb_miss_entry: int         # TLB-refill vector entry (or hardware walk)
    interrupt_entry: int        # external interrupt entry
    interrupt_exit: int         # return from interrupt
    reg_save: int               # save a full register context
    reg_restore: int            # restore a full register context
    asid_switch: int            # load a new address-space identifier
    tlb_write: int              # one TLB write instruction
    tlb_probe: int              # one TLB probe instruction
    tlb_flush: int              # invalidate every TLB entry
    copy_per_kib: int           # memory-to-memory copy, per 1024 bytes
    zero_per_kib: int           # zero-fill, per 1024 bytes
    timer_program: int          # program the interval timer
    tlb_entries: int            # TLB size
    tlb_wired: int              # entries random replacement never picks
    asid_bits: int              # width of the ASID field
    tlb_tagged: int             # 1: TLB entries carry ASIDs; 0: an ASID load flushes
    disk: DiskModel
    nic: NicModel
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    mmu: str = "software"       # "software": a miss traps to the kernel (R3000);
                                # "x86": the MMU walks two-level tables (pagewalk.py)
    cache: CacheModel | None = None  # a data cache the machine models (None: none)

    def us_to_cycles(self, us: float) -> int:
        """Convert microseconds to whole cycles on this machine."""
        return int(round(us * self.mhz))

    def cycles_to_us(self, cycles: int) -> float:
        """Convert cycles to microseconds on this machine."""
        return cycles / self.mhz

    def copy_cost(self, nbytes: int) -> int:
        """Cycles to copy ``nbytes`` bytes (rounded up)."""
        return (nbytes * self.copy_per_kib + 1023) >> 10


def _profile(name: str, description: str, disk: DiskModel, nic: NicModel,
             rows: list[tuple[str, int, str]], mmu: str = "software",
             cache: CacheModel | None = None) -> CostProfile:
    """Build a profile from (field, value, source) rows; every field must appear once."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, value, source in rows:
        if key in values:
            raise ConfigError("duplicate cost row", profile=name, field=key)
        values[key] = value
        sources[key] = source
    wanted = {f.name for f in fields(CostProfile)} - {"name", "description", "disk",
                                                       "nic", "sources", "mmu", "cache"}
    if set(values) != wanted:
        raise ConfigError("incomplete cost table", profile=name,
                          missing=sorted(wanted - set(values)),
                          extra=sorted(set(values) - wanted))
    if mmu not in MMUS:
        raise ConfigError("unknown MMU kind", profile=name, mmu=mmu, expected=MMUS)
    return CostProfile(name=name, description=description, disk=disk, nic=nic,
                       sources=sources, mmu=mmu, cache=cache, **values)


#: how a TLB miss is served: by the kernel's refill handler, or by the MMU's walk
MMUS = ("software", "x86")

EXO = "Engler, Kaashoek, O'Toole, Exokernel, SOSP'95"
MSPC = "Aiken et al., Deconstructing Process Isolation, MSPC'06, Table 1"

# --- dec5000: DECstation 5000/125, 25 MHz MIPS R3000 (the Exokernel paper) ----
DEC5000 = _profile(
    "dec5000", "DECstation 5000/125, 25 MHz MIPS R3000 (Exokernel paper, Table 1)",
    disk=DiskModel(  # HP 97560, Ruemmler & Wilkes, IEEE Computer 27(3) 1994 (as recalled)
        rpm=4002, sectors_per_track=72, tracks_per_cylinder=19,
        short_a_ms=3.24, short_b_ms=0.400, long_a_ms=8.00, long_b_ms=0.008,
        seek_boundary=383, controller_ms=2.2, flush_ms=0.5,
        # bus: DS5000/1xx on-board NCR 53C94 SCSI, 5 MB/s synchronous (as recalled)
        # read-ahead: HP 97560 128 KB cache in segments, one 64 KB read segment
        # (Kotz, Toh, Radhakrishnan, Dartmouth PCS-TR94-220, 1994; as recalled)
        bus_mb_s=5.0, readahead_kib=64),
    nic=NicModel(wire_mbit=10.0, frame_cycles=150),  # LANCE 10 Mb/s Ethernet; est.
    rows=[
        # field            cycles  source
        ("mhz",              25,   f"{EXO}, Table 1"),
        ("instruction",       1,   "R3000: single-issue pipeline, 1 instr/cycle on cache hit (Kane, MIPS RISC Architecture, 1988)"),
        ("load_store",        2,   "estimate: 1 cycle + load-delay/write-buffer stall averaged"),
        ("trap_entry",        5,   f"calibrated with Aegis's paths (exokernel/paths.py) on {EXO}, Tables 4-6: R3000 exception entry = 5-stage pipeline drain + vector jump"),
        ("trap_exit",         2,   "jr k0 with rfe in the delay slot (R3000 manual); calibrated with trap_entry"),
        ("exception_entry",   5,   "same general exception vector as syscall on MIPS (R3000 manual)"),
        ("exception_exit",    2,   "same return sequence as trap_exit"),
        ("tlb_miss_entry",    3,   "R3000 UTLB-miss vector: dedicated fast vector, no cause decode (Kane 1988)"),
        ("interrupt_entry",   5,   "same general exception vector (R3000 manual)"),
        ("interrupt_exit",    2,   "same return sequence as trap_exit"),
        ("reg_save",         32,   "31 GPRs + HI/LO stored, one sw per cycle (estimate)"),
        ("reg_restore",      32,   "31 GPRs + HI/LO loaded, one lw per cycle (estimate)"),
        ("asid_switch",       2,   "mtc0 EntryHi + hazard slot (R3000 manual)"),
        ("tlb_write",         3,   "tlbwr/tlbwi + mtc0 of EntryHi/EntryLo (R3000 manual)"),
        ("tlb_probe",         3,   "tlbp + mfc0 Index (R3000 manual)"),
        ("tlb_flush",       192,   "64 entries x (mtc0 Index + tlbwi + loop), 3 cycles each (estimate)"),
        ("copy_per_kib",   1024,   "estimate: word copy lw/sw ~1 cycle/byte with cache-miss stalls"),
        ("zero_per_kib",    512,   "estimate: sw of zero, ~0.5 cycle/byte"),
        ("timer_program",    10,   "estimate: a few uncached device-register writes"),
        ("tlb_entries",      64,   "R3000 TLB: 64 fully associative entries (R3000 manual)"),
        ("tlb_wired",         8,   "R3000: Random register never selects entries 0-7 (R3000 manual)"),
        ("asid_bits",         6,   "R3000 EntryHi PID field is 6 bits (R3000 manual)"),
        ("tlb_tagged",        1,   "R3000 TLB entries are tagged with the PID (R3000 manual)"),
    ])

# --- athlon64: AMD Athlon 64 3000+, 1.8 GHz (the Singularity papers) ----------
ATHLON64 = _profile(
    "athlon64", "AMD Athlon 64 3000+, 1.8 GHz (Singularity OSR'07 / MSPC'06)",
    disk=DiskModel(  # 7200 rpm SATA drive of 2005 (datasheet-typical values, estimate)
        rpm=7200, sectors_per_track=900, tracks_per_cylinder=4,
        short_a_ms=0.8, short_b_ms=0.05, long_a_ms=4.0, long_b_ms=0.0001,
        seek_boundary=4000, controller_ms=0.1, flush_ms=0.2,
        # bus: SATA 1.5 Gb/s = 150 MB/s after 8b/10b (SATA 1.0 spec)
        # read-ahead: 8 MB drive buffer of the era, one 512 KB read segment (estimate)
        bus_mb_s=150.0, readahead_kib=512),
    nic=NicModel(wire_mbit=1000.0, frame_cycles=900),  # nForce4 gigabit; estimate
    rows=[
        # field            cycles  source
        ("mhz",            1800,   f"{MSPC}: AMD Athlon 64 3000+ at 1.8 GHz"),
        ("instruction",       1,   "K8 issues up to 3/cycle; 1 cycle per dependent simple op (estimate)"),
        ("load_store",        3,   "K8 L1 hit latency 3 cycles (AMD optimization guide)"),
        ("trap_entry",      150,   f"calibrated: ABI call 80 cycles in ring 0 vs 304 in ring 3 ({MSPC}) -> 224 per crossing, split entry/exit"),
        ("trap_exit",        74,   "remainder of the 224-cycle ring crossing (see trap_entry)"),
        ("exception_entry", 200,   "estimate: fault delivery through the IDT costs more than syscall"),
        ("exception_exit",   90,   "estimate: iret"),
        ("tlb_miss_entry",   25,   "hardware page walk with cached page tables (estimate)"),
        ("interrupt_entry", 200,   "estimate: IDT interrupt gate + APIC"),
        ("interrupt_exit",   90,   "estimate: iret + EOI"),
        ("reg_save",         60,   "16 GPRs + fxsave of SSE state (estimate)"),
        ("reg_restore",      60,   "16 GPRs + fxrstor (estimate)"),
        ("asid_switch",     120,   "mov to CR3 (estimate); K8 has no ASIDs, so kernels also flush"),
        ("tlb_write",        10,   "stands for a page-table entry update (estimate)"),
        ("tlb_probe",        10,   "stands for a page-table walk by software (estimate)"),
        ("tlb_flush",        50,   "the flush itself; refill misses are charged as they happen"),
        ("copy_per_kib",    307,   "EuroSys'07 Table 9, Linux IPC 4 B vs 4 KB: +2,488 cycles for 2 copies of 4 KB -> 0.3 cycle/byte"),
        ("zero_per_kib",    160,   "estimate: rep stosq, ~0.15 cycle/byte"),
        ("timer_program",   300,   "estimate: local APIC timer register writes"),
        ("tlb_entries",      64,   "stands for K8 L1 DTLB: 32 4K entries + L2 512; 64 keeps miss behaviour comparable"),
        ("tlb_wired",         0,   "x86 has no wired entries"),
        ("asid_bits",         8,   "modelled ASID width; K8 itself flushes on CR3 load"),
        ("tlb_tagged",        0,   "K8 TLB is untagged: a CR3 load flushes non-global entries (AMD64 manual vol. 2)"),
    ])

L3 = "Liedtke, Improving IPC by Kernel Design, SOSP'93"
L4C = "Liedtke, On micro-Kernel Construction, SOSP'95"
I486 = "Intel, i486 Microprocessor Programmer's Reference Manual, 1990 (as recalled)"

# --- i486: 486-DX50 PC, 50 MHz (the L3/L4 papers) -----------------------------
#: the 486's on-chip cache; a line fill comes from the 256 KB external cache or memory
I486_CACHE = CacheModel(
    size=8192, ways=4, line=16, line_fill=12, sources={
        "size": f"{I486}, ch. 12: 8 KB on-chip cache, unified code and data; {L3}, 6",
        "ways": f"{I486}, ch. 12: four-way set associative (128 sets), pseudo-LRU "
                "replacement (modelled as LRU)",
        "line": f"{I486}, ch. 12: 16-byte lines, filled by a four-transfer burst; "
                "write-through, and a write miss does not allocate a line",
        "line_fill": f"{L3}, Table 7, the worst-case cache penalty column (the cache "
                     "flushed before every IPC), differenced between sizes so only the "
                     "message's lines differ: 512->1024 B +460 cycles for 32 more source "
                     "lines, 1024->2048 B +805 for 64 (14.4 and 12.6 cycles a line; the "
                     "destination's writes fill nothing); 12 cycles. A measurement of "
                     "the hardware with the cache cold, not a fit of any IPC time"})
I486DX50 = _profile(
    "i486", "Intel 486-DX50 PC, 50 MHz, 8 KB on-chip + 256 KB external cache (L3, SOSP'93)",
    disk=DiskModel(  # a 1993 IDE drive, ~3600 rpm class (datasheet-typical, estimate)
        rpm=3600, sectors_per_track=40, tracks_per_cylinder=8,
        short_a_ms=3.0, short_b_ms=0.45, long_a_ms=9.0, long_b_ms=0.010,
        seek_boundary=300, controller_ms=1.0, flush_ms=0.5,
        # bus: ISA/VLB IDE PIO, ~2 MB/s sustained (estimate); a 32 KB drive buffer
        bus_mb_s=2.0, readahead_kib=32),
    nic=NicModel(wire_mbit=10.0, frame_cycles=400),  # NE2000-class ISA Ethernet; est.
    rows=[
        # field            cycles  source
        ("mhz",              50,   f"{L3}, sections 5-6: 486-DX50 at 50 MHz (T = 5 us = 250 cycles)"),
        ("instruction",       1,   f"{L3}, Table 3: ld, cmp, jmp, add, st at 1 cycle each (cache hit)"),
        ("load_store",        1,   f"{L3}, Table 3: a load or store that hits costs 1 cycle"),
        ("trap_entry",       71,   f"{L3}, Table 3: int (call kernel) 71 cycles; {L4C} 4.1.1"),
        ("trap_exit",        36,   f"{L3}, Table 3: iret (return to user) 36 cycles; {L4C} 4.1.1"),
        ("exception_entry",  71,   f"fault through an IDT trap gate with a privilege change, as int ({L3}, Table 3; {I486})"),
        ("exception_exit",   36,   f"iret, as trap_exit ({L3}, Table 3)"),
        ("tlb_miss_entry",    9,   f"{L3}, Table 3 and 5.3: one TLB miss (hardware two-level walk) costs 9 cycles; {L4C} 4.1.2"),
        ("interrupt_entry",  71,   f"external interrupt through an IDT interrupt gate, privilege change: as int ({I486}; estimate)"),
        ("interrupt_exit",   36,   f"iret, as trap_exit ({L3}, Table 3)"),
        ("reg_save",         11,   f"pushad, 11 cycles ({I486})"),
        ("reg_restore",       9,   f"popad, 9 cycles ({I486})"),
        ("asid_switch",       4,   f"{L3}, Table 3: switch address space = ld + mov cr3 (1+4); the 486 has no ASIDs, the load flushes the TLB"),
        ("tlb_write",         1,   "the 486 has no TLB write instruction: stands for one page-table-entry store (1 cycle, as a st)"),
        ("tlb_probe",        11,   f"stands for invlpg's lookup: invlpg is 12 cycles ({I486}), split probe 11 + write 1"),
        ("tlb_flush",         4,   f"mov cr3 reload ({L3}, Table 3: 4 cycles); the refill misses are charged as they happen"),
        ("copy_per_kib",   1024,   f"{L3}, 6 / Figure 8: IPC time grows 0.02 us per byte with cache hits = 1 cycle/byte (a bare rep movsd moves 15 ns/byte; line fills make up the rest)"),
        ("zero_per_kib",    768,   f"rep stosd at 3 cycles per dword in the write-through cache ({I486}; estimate)"),
        ("timer_program",    60,   f"a few out instructions to the 8254 PIT, ~20-30 cycles each in protected mode ({I486}; estimate)"),
        ("tlb_entries",      32,   f"{L3}, 6: 32-entry, 4-way TLB (modelled fully associative, random replacement)"),
        ("tlb_wired",         0,   "x86 has no wired TLB entries"),
        ("asid_bits",         8,   "modelled ASID width; the 486 has no ASIDs and flushes the TLB on every cr3 load"),
        ("tlb_tagged",        0,   f"{L3}, 6: the TLB is flushed on every address-space switch (untagged)"),
    ],
    # the 486 walks two-level page tables in hardware (i486 manual, ch. 5)
    mmu="x86", cache=I486_CACHE)


# --- alpha: DEC 3000/400, 133 MHz Alpha 21064 (the SPIN paper, SOSP'95) ----------
SPIN = "Bershad et al., Extensibility, Safety and Performance in the SPIN OS, SOSP'95"
ALPHA_REF = "Sites (ed.), Alpha Architecture Reference Manual, 1992"
A21064 = "DECchip 21064 Hardware Reference Manual, 1992"
ALPHA = _profile(
    "alpha", "DEC 3000/400, 133 MHz Alpha 21064 (SPIN paper; OSF/1 V2.1, Mach 3.0)",
    disk=DiskModel(  # DEC RZ26, 1.05 GB, 5400 rpm (datasheet-typical values, estimate)
        rpm=5400, sectors_per_track=57, tracks_per_cylinder=14,
        short_a_ms=2.0, short_b_ms=0.30, long_a_ms=7.0, long_b_ms=0.006,
        seek_boundary=400, controller_ms=1.0, flush_ms=0.5,
        # bus: DEC 3000 TURBOchannel SCSI (NCR 53C94), 5 MB/s synchronous (estimate)
        bus_mb_s=5.0, readahead_kib=64),
    nic=NicModel(wire_mbit=10.0, frame_cycles=800),  # on-board LANCE 10 Mb/s; estimate
    rows=[
        # field            cycles  source
        ("mhz",             133,   f"{SPIN}, section 5: DEC Alpha 133 MHz (the DEC 3000/400's 21064)"),
        ("instruction",       1,   f"21064 dual-issue, ~1 cycle per dependent simple op on cache hit ({A21064})"),
        ("load_store",        2,   "estimate: 3-cycle load-use latency, dual issue and write buffer averaged"),
        ("trap_entry",       30,   f"estimate: OSF/1 PALcode callsys drains the pipeline and pushes a 7-quadword frame on the kernel stack ({ALPHA_REF}, OSF/1 PALcode)"),
        ("trap_exit",        20,   "estimate: PALcode retsys pops the frame and returns (rti)"),
        ("exception_entry",  40,   "estimate: PALcode entMM builds the frame and passes VA, MMCSR and cause (Alpha ARM, OSF/1 PALcode)"),
        ("exception_exit",   20,   "estimate: PALcode rti, as retsys"),
        ("tlb_miss_entry",   25,   f"estimate: 21064 DTB miss is a PALcode routine reading the virtual page table, ~25 cycles on a cache hit ({A21064})"),
        ("interrupt_entry",  40,   "estimate: PALcode entInt, frame as entMM"),
        ("interrupt_exit",   20,   "estimate: PALcode rti"),
        ("reg_save",         64,   "31 integer + 31 floating registers, one stq/stt per cycle (estimate)"),
        ("reg_restore",      64,   "the same registers reloaded, one ldq/ldt per cycle (estimate)"),
        ("asid_switch",      40,   f"estimate: PALcode swpctx swaps PTBR, KSP and the PCB ({ALPHA_REF})"),
        ("tlb_write",         4,   f"mtpr to DTB_PTE/DTB_TAG inside PALcode; in an invalidate (tbis) the mtpr to DTB_IS/ITB_IS ({A21064}; estimate)"),
        ("tlb_probe",         4,   "a PALcode lookup of one DTB entry; with tlb_write it is the TB invalidate of one entry (tbis), whose call_pal dispatch and hw_rei the kernel's pmap row counts (estimate)"),
        ("tlb_flush",        20,   "PALcode tbia: one internal-processor-register write per TB (estimate)"),
        ("copy_per_kib",   2048,   "estimate: bcopy on a DEC 3000/400 ~65 MB/s out of cache, ~2 cycles/byte"),
        ("zero_per_kib",   1024,   "estimate: stq of zero through the write buffer, ~1 cycle/byte"),
        ("timer_program",    20,   "estimate: a few uncached TURBOchannel register writes"),
        ("tlb_entries",      32,   f"21064 DTB: 32 fully associative entries ({A21064})"),
        ("tlb_wired",         0,   "the 21064 has no wired DTB entries (PALcode keeps its own in physical mode)"),
        ("asid_bits",         8,   "modelled ASID width; the 21064 has no address-space numbers (see tlb_tagged)"),
        ("tlb_tagged",        0,   f"the 21064 implements no ASNs: swpctx invalidates every non-ASM entry ({A21064})"),
    ])


PROFILES: dict[str, CostProfile] = {p.name: p for p in (DEC5000, ATHLON64, I486DX50, ALPHA)}


def get_profile(name: str) -> CostProfile:
    """Return the named profile or raise :class:`ConfigError` listing the choices."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError("unknown cost profile", name=name,
                          expected=sorted(PROFILES)) from None


def profile_sources(name: str) -> dict[str, str]:
    """Return each field's source line for the named profile."""
    return dict(get_profile(name).sources)
