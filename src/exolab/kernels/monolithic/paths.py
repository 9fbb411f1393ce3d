"""Monolithic kernel software path costs: one table per profile, a source per row.

Hardware primitives (trap entry/exit, register save/restore, TLB writes, copy
rates) live in the machine's cost profiles (:mod:`exolab.machine.costs`); the
instructions this kernel's own paths execute live here, beside the kernel,
in cycles on each profile's machine. Rows keep their ``mono_`` prefix: it is
the name ``data/paper.json`` says a figure calibrates.

The contract every kernel's paths module meets (the how-to in docs/design.md
names it)::

    path_table(profile_name) -> dict[row, (cycles, source)]
        every row of the kernel on that profile; ConfigError for a profile the
        kernel has no table for
    resolve(profile_name, overrides=None) -> dict[row, int]
        the cycles a kernel charges: the table, with ``overrides`` (row -> int
        >= 0; ConfigError for an unknown row or a bad value) put over it

and the kernel accepts ``paths: dict[row, int] | None`` at construction
(``make_kernel(name, machine, paths=...)``), so ``bench/calibrate.py`` can
perturb a row and measure its effect without editing any table.

Interface::

    ROWS                     row -> what the path does
    OPTIONAL                 rows a table may add (0 where it does not)
    TABLES                   profile name -> {row: (cycles, source)}
    OSF1_PARTS               alpha row -> (source, [(kind, count, what)]): what OSF/1
                             does on the path, priced with the alpha profile (the
                             derived rows: thread, system call, RPC message)
    OSF1_SHARE               row -> charges one instance of its parts is spread over
    OSF1_PUBLIC_PARTS        the two calibrated alpha rows (pmap page, vm_map call):
                             what the public code they stand for accounts for
    SYSCALL_PARTS, RPC_MESSAGE_PARTS   the parts of the system call and of an RPC message
    derive(profile, parts)   the cycles of such parts on a profile
    path_table(profile_name), resolve(profile_name, overrides=None)

(A short module: it is a table.)
"""
from __future__ import annotations

from typing import Any

from exolab.errors import ConfigError
from exolab.kernels.common.paths import override
from exolab.machine.costs import CostProfile, get_profile

__all__ = ["ROWS", "OPTIONAL", "OSF1_PARTS", "OSF1_SHARE", "OSF1_PUBLIC_PARTS", "SYSCALL_PARTS",
           "RPC_MESSAGE_PARTS", "KSWITCH_PARTS", "KTHREAD_PARTS", "TABLES", "UNITS",
           "derive", "path_table", "resolve"]

EXO = "Engler, Kaashoek, O'Toole, Exokernel, SOSP'95"
L4C = "Liedtke, On micro-Kernel Construction, SOSP'95"
MSPC = "Aiken et al., Deconstructing Process Isolation, MSPC'06, Table 1"
SPIN = "Bershad et al., SPIN, SOSP'95 (the SPIN group's benchmark page, Dec 1996)"
MACH3 = "CMU Mach 3.0 "
ALPHA_PMAP = ("NetBSD sys/arch/alpha/alpha/pmap.c pmap_protect (the Utah pmap ported to the Alpha "
              "by Demetriou at CMU)")
ALPHA_ARM = "Sites (ed.), Alpha Architecture Reference Manual, 1992"
OSF1_KSTACK = ("a two-page (8 KB pages) kernel stack and u-area as NetBSD's alpha param.h UPAGES 2; "
               "allocated with kmem_alloc, whose pages are wired and entered but not zero-filled "
               "(CMU Mach vm/vm_kern.c kmem_alloc, kmem_alloc_pages)")

ALPHA_LOCORE = ("NetBSD sys/arch/alpha/alpha/locore.s 1.36 (Demetriou, CMU 1994-96) XentSys, "
                "exception_return, exception_restore_regs")
BSD44 = "4.4BSD-Lite"
BSD44_NET = ("kern/uipc_syscalls.c, uipc_socket.c, uipc_socket2.c, sys_generic.c (select), "
             "netinet/udp_usrreq.c, ip_output.c, ip_input.c, in_pcb.c, in_cksum.c, net/if_loop.c")
RPCSRC = "Sun RPCSRC 4.0 clnt_udp.c (sendto, select, recvfrom), svc_udp.c, svc.c, xdr_mem.c, rpc_prot.c"

#: DEC OSF/1 V2's own source: the tree DEC built OSF/1 for the Alpha from (DEC copyright
#: 1991-94, with arch/alpha), as archived publicly on GitHub; the parts below are counted
#: from it (read, not copied) for the uniprocessor BINARY kernel of conf/alpha, where
#: NCPUS is 1 and RT_PREEMPT, UNIX_LOCKS and MACH_LDEBUG are off, so simple locks and
#: unix_master() compile to nothing while every spl is a call of a PALcode swpipl
OSF1_SRC = "DEC OSF/1 V2 source (github Arquivotheca/OSF1, branch OSC200), src/kernel/"

#: the generic system-call path of OSF/1 on the 21064 (kind, count, what), beyond the
#: PALcode's callsys/retsys, for a call without arguments (getpid): counted from
#: arch/alpha/locore.s _Xsyscall and arch/alpha/syscall_trap.c syscall()
SYSCALL_PARTS: list[tuple[str, int, str]] = [
    ("load", 9, "_Xsyscall: ra, v0 and a0-a5 homed in the frame, syscall()'s address from the GOT"),
    ("instr", 9, "_Xsyscall: the frame, the Mach-trap test (v0 < 0), the fork and vfork compares, the arguments, the call"),
    ("instr", 7, "syscall(): ldgp, the frame, the BIN_COMPAT habitat cleared, the return"),
    ("load", 14, "syscall(): ra and about six callee-saved registers saved and restored"),
    ("load", 10, "syscall(): current_thread, its uthread and utask, u_prof.pr_scale, nsysent and sysent through the GOT"),
    ("instr", 10, "syscall(): the profiling, stime and indirect-call tests, the sysent bound and index"),
    ("load", 3, "syscall(): sy_narg (a 16-bit field: ldl and a sign extension on the 21064) and the jump table"),
    ("instr", 8, "syscall(): the argument-count switch"),
    ("load", 13, "syscall(): rval[] cleared; the credential-freshness check, p_flag |= SSYSCALL, the /proc tracing and audswitch tests"),
    ("instr", 7, "syscall(): their compares and branches"),
    ("load", 3, "syscall(): u.u_procp again and sy_call"),
    ("instr", 5, "syscall(): the call through sy_call and its error"),
    ("load", 5, "syscall(): the per-call counter sccount[code]++ (scmax, GOT, load and store)"),
    ("instr", 10, "syscall(): the counter's tests and add; the ERESTART, EJUSTRETURN and error tests"),
    ("load", 5, "syscall(): rval[0] and rval[1] loaded; v0, a4 and a3 stored into the frame"),
    ("load", 8, "syscall(): p_flag &= ~SSYSCALL, p_cursig (a byte: ldq_u), CHECK_SIGNALS' thread ast, p_sig and uu_sig"),
    ("instr", 13, "syscall(): the cursig extract and its tests, thread_should_halt's mask"),
    ("load", 9, "syscall(): csw_needed (thread state, processor, the run queues' counts, first_quantum) and pcb_sstep"),
    ("instr", 12, "syscall(): csw_needed's tests, the single-step and stime tests, the return"),
    ("instr", 16, "_Xsyscall's return: the sigreturn and async-trap tests, AT and t0-t11 zeroed"),
    ("load", 11, "_Xsyscall's return: t12 and kernel_async_trap loaded, ra, v0 and a0-a5 reloaded"),
]
#: a blocking thread's switch on OSF/1 and the wakeup that readied it (kind, count,
#: what): the BSD sleep is mpsleep over Mach 2.5's assert_wait and thread_block (no
#: thread_invoke, no stack hand-off), the machine switch is arch/alpha/context.s
#: switch_context with PALcode swpctx on every switch, the wakeup thread_wakeup_prim and
#: thread_setrun; across tasks (the benchmarks' partners are processes)
SWITCH_PARTS: list[tuple[str, int, str]] = [
    ("instr", 24, "mpsleep before the block: u.u_procp, assert_wait's call, the PCATCH CHECK_SIGNALS"),
    ("load", 27, "mpsleep: its saved registers, the proc, thread and signal fields"),
    ("instr", 75, "assert_wait: an spl pair (each a call of PALcode swpipl), wait_hash's % 59 by umulh with the 21064's multiply latency, enqueue_tail on the bucket"),
    ("load", 29, "assert_wait: its saved registers, wait_event, state, sleep_stamp"),
    ("instr", 56, "thread_block: an spl pair, the sleep's priority boost, the run-queue tests, dequeue_head, the quantum, ast_context, ru_nvcsw"),
    ("load", 52, "thread_block: its saved registers, the processor, run-queue and thread fields"),
    ("instr", 39, "thread_block across tasks: pmap_activate (the PTBR into the PCB; no ASN: pmap_maxasn is 0 on the 21064) and compute_my_priority"),
    ("load", 34, "the same: the task, map, pmap and PCB fields, the usage and free-page counts"),
    ("instr", 34, "switch_context and call_pal swpctx (its dispatch, the internal-register writes)"),
    ("load", 24, "switch_context: the HWPCB fields swpctx moves, active_threads, current_pcb and U_ADDRESS rewritten (s0-s6, ra and sp into the old PCB and back from the new are the CPU's reg_save/reg_restore of the switch)"),
    ("instr", 42, "thread_continue of the old thread; the resumed thread's splx and the rest of its mpsleep"),
    ("load", 18, "the same: saved registers, state, wait_result, the signal fields"),
    ("instr", 130, "wakeup and thread_wakeup_prim: two spl pairs, the hash's umulh, the bucket walk, remqueue, the state switch"),
    ("load", 40, "the same: saved registers, the bucket, the thread's wait fields"),
    ("instr", 31, "thread_setrun(TRUE): enqueue on the run queue, low and count, the preemption request (aston)"),
    ("load", 36, "the same: saved registers, sched_stamp, the run queue, need_ast"),
]
_SYS_INSTR = sum(n for kind, n, _w in SYSCALL_PARTS if kind == "instr")
_SYS_LOADS = sum(n for kind, n, _w in SYSCALL_PARTS if kind == "load")

#: one switch between two kernel threads of one task, as kernel-resident code makes
#: it (the SPIN paper's OSF/1 kernel-thread test: thread_sleep and thread_wakeup): the
#: wakeup of the other (thread_wakeup_prim, thread_setrun: equal priorities, so no
#: preemption request), the sleep (thread_sleep, assert_wait), thread_block's same-task
#: path (no pmap_activate, no priority boost), switch_context with its call_pal swpctx
#: (on every switch: the CPU charges none within one address space), thread_continue;
#: counted from kern/sched_prim.c and arch/alpha/context.s
KSWITCH_PARTS: list[tuple[str, int, str]] = [
    ("instr", 3, "the test's loop"),
    ("instr", 105, "thread_wakeup_prim: the wait hash (xor, % 59 by umulh), an spl pair, the bucket, remqueue, the state switch, wait_result, the call of thread_setrun"),
    ("load", 33, "the same"),
    ("instr", 58, "thread_setrun(TRUE): sched_stamp, the run-queue tests, run_queue_enqueue with enqueue_tail, the preemption test (not taken at equal priority)"),
    ("load", 29, "the same"),
    ("instr", 25, "thread_sleep: the call, the calls of assert_wait and thread_block (simple_unlock compiles away)"),
    ("load", 7, "the same"),
    ("instr", 80, "assert_wait: the interrupt-level test, the hash, an spl pair, enqueue_tail on the bucket, the wait fields"),
    ("load", 31, "the same"),
    ("instr", 122, "thread_block within one task: an spl pair, the boost test (kernel priority: none), dequeue_head, the quantum, ast_context, ru_nvcsw, same_task_count"),
    ("load", 58, "the same"),
    ("instr", 20, "switch_context beyond the register save and restore: the PCB, the FP test, active_threads, current_pcb, U_ADDRESS"),
    ("load", 14, "the same"),
    ("swpctx", 1, "switch_context's call_pal swpctx (the profile's asid_switch)"),
    ("instr", 16, "thread_continue of the old thread"),
    ("load", 7, "the same"),
]

#: a kernel thread's life when kernel-resident code makes it: kernel_thread()
#: (thread_create, thread_start, thread_resume: direct calls, no Mach RPC), the child's
#: thread_terminate and thread_halt_self onto the reaper's queue, and the reaper's
#: thread_deallocate; the reaper runs between the joiner's sleep and the child, one
#: more switch than the benchmark's two (its sleep and its wakeup: KSWITCH_PARTS).
#: Counted from kern/thread.c, ipc_tt.c, ipc_kport.c, ipc_prims.c, zalloc.c,
#: bsd/kern_fork.c, arch/alpha/pcb.c
KTHREAD_PARTS: list[tuple[str, int, str]] = [
    ("instr", 1044, "kernel_thread: thread_create (zalloc, a cached 16 KB stack from stack_alloc, the PCB and uthread placed on it, uarea_init, pcb_init with pmap_svatophys, ipc_thread_init's two port_allocs with their hash entries, the task and pset lists), ipc_thread_enable, thread_start, the priorities, thread_resume"),
    ("load", 482, "the same"),
    ("copy", 592, "*new_thread = thread_template (struct thread, 592 bytes)"),
    ("zero", 1776, "t_procfs (88 bytes), the uthread (uarea_zero, 952) and the PCB (pcb_init, 736)"),
    ("instr", 951, "the child: its frame and spl0, thread_terminate of itself (ipc_thread_disable, AST_TERMINATE), ipc_thread_terminate (both ports and hash entries torn down), thread_halt_self (thread_hold, the reaper queue)"),
    ("load", 409, "the same"),
    ("instr", 478, "the reaper: its dequeue, thread_dowait, thread_deallocate (thread_read_times, the task and pset lists, crfree, stack_free back to the cache, zfree)"),
    ("load", 165, "the same"),
    *[(kind, n, f"the reaper's switch, one more than the benchmark's: {what}")
      for kind, n, what in KSWITCH_PARTS],
]

#: one Sun RPC message over a UDP socket on the loopback, sender and receiver (what
#: OSF/1's cross-address-space test did: sockets and Sun RPC), beyond what the kernel
#: charges by structure (the write's and the read's system calls, their byte copies,
#: one switch): counted from OSF/1's libc (clnt_udp.c, svc_run.c, svc.c, svc_udp.c:
#: half of a call's library work each message) and kernel (bsd/uipc_syscalls.c,
#: uipc_socket.c, uipc_socket2.c, sys_generic.c select, netinet/udp_usrreq.c,
#: in_pcb.c, ip_output.c, ip_input.c, net/if_loop.c, net/netisr.c, kern_malloc.c). The
#: alpha BINARY kernel configures two netthreads (NETISR_THREAD): a loopback datagram
#: is taken up by a netisr *kernel thread*, which preempts the sender at its sendto's
#: return and then blocks, so a message takes three switches where the structure
#: charges one; their sleeps and wakeups are the two switches' parts below
RPC_MESSAGE_PARTS: list[tuple[str, int, str]] = [
    ("instr", 1604, "the RPC library, half a call's: clntudp_call's XDR, the pre-marshalled AUTH_NONE, FD_ZERO and the copy of a 4,096-bit fd_set, xdr_replymsg; svc_run's select, svc_getreqset's scan of 128 words with an ffs() each, svcudp_recv's xdr_callmsg, the dispatch, svc_sendreply; the client select's timeout (timeout, hzto, untimeout)"),
    ("load", 320, "the same: the XDR streams, the descriptor-set words, the callout"),
    ("zero", 256, "the client's FD_ZERO, half a call's"),
    ("copy", 520, "the fd_set struct copies (readfds = mask, = svc_fdset) and AUTH_NONE, half a call's"),
    ("instr", 159, "sendto(): the msghdr, getsock, sendit, sockargs and the copyin of the 16-byte address"),
    ("load", 50, "the same: the arguments, the u-area and file fields, the mbuf header"),
    ("zero", 184, "m_getclr zeroes the whole 184-byte mbuf that holds the address"),
    ("copy", 16, "the address copied in"),
    ("instr", 294, "sosend: sosblock, the space test, MGETHDR, the uiomove loop, pr_usrreq; three inet domain funnel and unfunnel pairs (indirect calls, splnet)"),
    ("load", 45, "the same: socket, sockbuf, protosw, uio, mbuf"),
    ("instr", 387, "udp_usrreq PRU_SEND and udp_output (the temporary connect under splnet, the header, in_cksum), in_pcbconnect (ifa_ifwithdstaddr, in_netof) and in_pcbmatch's walk of the whole UDP PCB list"),
    ("load", 118, "the same: inpcbs, ifnet, ifaddr, route, header"),
    ("cksum", 88, "udp_output's in_cksum over the pseudo-header, the UDP header and the message"),
    ("instr", 326, "ip_output (ip_id, the cached route, in_broadcast, if_isfull under splimp, the header's in_cksum), looutput, netisr_input (IF_ENQUEUE, schednetisr)"),
    ("load", 60, "the same: the IP header, route, ifnet, softnet table, ifqueue"),
    ("cksum", 20, "ip_output's header checksum"),
    ("instr", 241, "malloc of the address and packet mbufs and the free of the address's after sosend, with their spl calls"),
    ("load", 58, "the same: buckets, kmemusage, kmemtypes, mbstat"),
    ("instr", 416, "the netisr thread: Netintr's scan of the softnet table under splimp, the inet funnel, ipintr (IF_DEQUEUE, the inline header sum, the address loop over in_ifaddr) under splimp"),
    ("load", 70, "the same: softnet entries, mbuf, IP header, in_ifaddr"),
    ("cksum", 20, "ipintr's header sum"),
    ("instr", 519, "udp_input (the header copy, in_broadcast, the checksum), in_pcblookup (its one-entry cache misses: the client's and the server's sockets alternate; the full wildcard walk), sbappendaddr with its mbuf's malloc, sowakeup, select_wakeup, event_post"),
    ("load", 163, "the same: header, inpcbs, socket, sockbuf, select queue, malloc's bucket"),
    ("copy", 16, "sbappendaddr's copy of the source address"),
    ("cksum", 68, "udp_input's in_cksum over the same bytes"),
    ("trap", 1, "the receiver's select(): PALcode callsys and retsys"),
    ("instr", _SYS_INSTR, "the receiver's select(): the generic system-call path (as mono_syscall_path)"),
    ("load", _SYS_LOADS, "the receiver's select(): the generic system-call path's loads and stores"),
    ("instr", 1504, "select() and recvfrom(): the descriptor bits to pollfds and back, do_scan, soo_select four times (scan, undo, rescan, undo) with a select-queue entry from zalloc and its zfree, event_wait, sixteen spl calls and eight funnel calls; recvit, soreceive with two funnel pairs, the address and data mbufs freed"),
    ("load", 301, "the same: the bit words, files, sockets, sockbuf, the zone, mbufs, malloc's bucket"),
    ("zero", 24, "select's six bit arrays"),
    ("copy", 16, "the source address copied out"),
    *[(kind, n, f"the sender preempted by the netisr thread at its sendto's return: {what}")
      for kind, n, what in SWITCH_PARTS],
    *[(kind, n, f"the netisr thread's block after it woke the receiver: {what}")
      for kind, n, what in SWITCH_PARTS],
]

#: row -> what the path does (every profile's table has exactly these rows)
ROWS: dict[str, str] = {
    "mono_syscall_path": "generic system-call path: save state, decode, dispatch",
    "mono_switch_path": "scheduler: sleep/wakeup + pick + process switch",
    "mono_signal_path": "post a signal, build the signal frame, upcall",
    "mono_exec_path": "build a process: page tables, kernel stack, image map",
    "mono_pte_op": "one pmap operation on a page-table entry",
    "mono_refill": "software part of a TLB refill from the page table",
    "mono_pipe_op": "pipe read/write bookkeeping (locks, pointers, wakeup)",
    "mono_vm_op": "per-call VM-map work of mmap/mprotect/munmap (lookup, clip)",
}
#: rows a profile's table may add (0 cycles where it does not): a path the kernel
#: of that machine is known to pay that the others' tables do not model
OPTIONAL: dict[str, str] = {
    "mono_thread_path": "a kernel thread's life: thread and u-area structures, stack, "
                        "start, termination and reaping",
    "mono_proc_call": "a service called as a procedure from kernel-resident code "
                      "(ktest.py): the call and return",
    "mono_kthread_path": "a kernel thread's life when kernel-resident code creates it "
                         "(kernel_thread: direct calls, no RPC); 0: mono_thread_path",
    "mono_kswitch_path": "a kernel thread's thread_wakeup, thread_sleep and switch within "
                         "one task; 0: mono_switch_path",
}


def _table(rows: list[tuple[str, int, str]]) -> dict[str, tuple[int, str]]:
    """Build a table from (row, cycles, source); every row of ROWS exactly once."""
    table = {row: (cycles, source) for row, cycles, source in rows}
    if len(table) != len(rows) or not set(ROWS) <= set(table) <= set(ROWS) | set(OPTIONAL):
        raise ConfigError("incomplete monolithic path table",
                          missing=sorted(set(ROWS) - set(table)),
                          extra=sorted(set(table) - set(ROWS) - set(OPTIONAL)))
    return table


#: DEC OSF/1 V2 on the 21064 (profile ``alpha``): what four of its paths do, as parts
#: (kind, count, what) priced with the profile's own primitives by :func:`derive` --
#: instructions at ``instruction``, loads and stores at ``load_store``, bytes zeroed
#: at ``zero_per_kib``, bytes copied or checksummed at ``copy_per_kib`` (a checksum
#: pass loads every word as a copy does: services/net's convention), a PALcode
#: callsys/retsys pair at ``trap_entry`` + ``trap_exit``. No part was tuned to a paper
#: figure; docs/spin.md (section OSF/1) gives what each predicts.
OSF1_PARTS: dict[str, tuple[str, list[tuple[str, int, str]]]] = {
    # a kernel thread's life as a user program on OSF/1 lives it: OSF/1 has no thread
    # system call, so thread_create, thread_set_state, thread_resume and the child's
    # thread_terminate are Mach kernel RPCs (kern/mach.defs; msg_rpc_trap, msg_copyin,
    # mach_msg to mach_server, msg_copyout); the ABI's one thread_create (its trap and
    # system-call path charged by the kernel's structure) stands for the four; the child
    # names itself (thread_self) and tells its joiner with a message; a thread cannot
    # free itself, so the reaper kernel thread does (one more switch)
    "mono_thread_path": (f"{OSF1_SRC}kern/thread.c (thread_create, stack_alloc, thread_terminate, thread_halt_self, reaper_thread, thread_deallocate), kern/ipc_basics.c, kern/ipc_tt.c, bsd/kern_fork.c (uarea_zero, uarea_init), arch/alpha/pcb.c, arch/alpha/locore.s; usr/ccs/lib/libmach", [
        ("trap", 3, "thread_set_state, thread_resume and thread_terminate: each its own msg_rpc_trap"),
        ("trap", 2, "the child's thread_self and its msg_send to the joiner"),
        ("instr", 180, "five Mach trap paths: locore's mach_trap dispatch and rtsys exit (no syscall())"),
        ("load", 130, "the same: the frame homed and reloaded, the trap table, the signal test"),
        ("instr", 265, "the user task's side: four MIG stubs and msg_rpc, the thread-state fill, the message wrappers"),
        ("load", 109, "the same: the request and reply fields"),
        ("copy", 264, "the MIG stub's copy of the 264-byte thread state into the request"),
        ("instr", 1280, "four kernel RPCs: msg_copyin (a kmsg, the copyin, two port-name translations), mach_msg to mach_server (the reply kmsg, the demux, convert_port_to_thread and its reference and destructor), the direct reply's msg_copyout"),
        ("load", 480, "the same: the kmsgs, the translation caches, the port and thread fields"),
        ("copy", 656, "the four requests copied in and the replies out (40-byte headers, the state)"),
        ("instr", 70, "thread_create: zalloc(thread_zone), the task fields, a cached 16 KB kernel stack from stack_alloc (five are kept: no kmem_alloc), the PCB and uthread placed on it"),
        ("load", 22, "the same"),
        ("copy", 560, "*new_thread = thread_template (struct thread, ~560 bytes; the uthread is not in it)"),
        ("zero", 1726, "t_procfs, the BSD uthread (uarea_zero, ~950 bytes) and the PCB (pcb_init, 736 bytes)"),
        ("instr", 95, "uarea_init (the signal queue, nameidata, cr_threadinit's crhold) and pcb_init (the bootstrap pc, each stack page prefaulted, ksp, pmap_svatophys, ptbr)"),
        ("load", 37, "the same"),
        ("instr", 475, "ipc_thread_init: two port_allocs (the kernel port, the per-thread reply port) with their hash entries; ipc_thread_enable; the task and pset lists; the reply's object_copyout makes the parent's name"),
        ("load", 197, "the same"),
        ("instr", 255, "thread_set_state (thread_hold, thread_dowait, thread_setstatus, thread_release) and thread_resume (thread_setrun, the preemption request)"),
        ("load", 111, "the same, with the 33 registers moved into the saved-state frame"),
        ("instr", 110, "the parent's AST on the way out of thread_resume (ast_handling saves every register, trap(T_AST), csw_needed) and the child's thread_bootstrap into user mode"),
        ("load", 80, "the same"),
        ("instr", 390, "the child's thread_self (port_reference, object_copyout) and msg_send (msg_copyin, msg_queue); the joiner's msg_receive (msg_dequeue, msg_copyout)"),
        ("load", 156, "the same"),
        ("copy", 80, "the join message in and out"),
        ("instr", 590, "thread_terminate of itself (ipc_thread_disable, AST_TERMINATE), the AST on its way out (ast_handling, trap(T_AST), thread_halt_self), ipc_thread_terminate (three names and two ports torn down)"),
        ("load", 220, "the same"),
        ("instr", 550, "thread_halt_self onto the reaper queue and the reaper: its dequeue, thread_dowait, thread_deallocate (times, the task and pset lists, crfree, stack_free back to the cache), its sleep again"),
        ("load", 127, "the same"),
        *[(kind, n, f"the reaper's switch, one more than the ABI's: {what}") for kind, n, what in SWITCH_PARTS],
    ]),
    # a kernel thread's life and switch as kernel-resident code lives them
    "mono_kthread_path": (f"{OSF1_SRC}kern/thread.c (kernel_thread, thread_create, thread_terminate, thread_halt_self, reaper_thread, thread_deallocate), kern/ipc_tt.c, ipc_kport.c, ipc_prims.c, zalloc.c, bsd/kern_fork.c, arch/alpha/pcb.c", KTHREAD_PARTS),
    "mono_kswitch_path": (f"{OSF1_SRC}kern/sched_prim.c (thread_wakeup_prim, thread_setrun, thread_sleep, assert_wait, thread_block, thread_continue), arch/alpha/context.s switch_context", KSWITCH_PARTS),
    # a thread's sleep, the wakeup that readies it and the switch (counted above)
    "mono_switch_path": (f"{OSF1_SRC}bsd/kern_synch.c mpsleep, kern/sched_prim.c (assert_wait, thread_block, thread_wakeup_prim, thread_setrun, compute_my_priority), arch/alpha/context.s switch_context, arch/alpha/pmap.c pmap_activate, arch/alpha/spl.s", SWITCH_PARTS),
    # the generic system-call path around a null call: NetBSD/alpha's XentSys and
    # exception_return (locore.s, written at CMU for the Alpha) and 4.4BSD's
    # syscall()/userret(), as the public model of OSF/1's BSD system-call layer; the
    # PALcode callsys/retsys themselves are the CPU's trap_entry/trap_exit
    "mono_syscall_path": (f"{OSF1_SRC}arch/alpha/locore.s _Xsyscall, arch/alpha/syscall_trap.c "
                          "syscall(), a call without arguments", SYSCALL_PARTS),
    # one Sun RPC message: OSF/1's cross-address-space test used sockets and Sun RPC
    "mono_pipe_op": (f"{OSF1_SRC}bsd, netinet, net (the files named in RPC_MESSAGE_PARTS' "
                     "comment); usr/ccs/lib/libc clnt_udp.c, svc_run.c, svc.c, svc_udp.c",
                     RPC_MESSAGE_PARTS),
}
#: row -> how many charges of the row one instance of its parts is spread over (an RPC
#: message's work: half on the write that sends it, half on the read that takes it)
OSF1_SHARE: dict[str, int] = {"mono_pipe_op": 2}

#: the two calibrated alpha rows: what the public code they stand for accounts for,
#: as parts priced the same way (their calibrated value is the paper's; the difference
#: is OSF/1's own work that no public source shows; docs/spin.md, section OSF/1)
OSF1_PUBLIC_PARTS: dict[str, tuple[str, list[tuple[str, int, str]]]] = {
    # pmap_protect's loop body, one page (NetBSD's alpha pmap.c pmap_protect, ported to
    # the Alpha at CMU: the three-level walk, the PTE test and store,
    # PMAP_INVALIDATE_TLB -> tbis); the DTB/ITB invalidate itself is the CPU's
    # tlb_invalidate (tlb_probe + tlb_write), charged per page beside this row
    "mono_pte_op": (f"{ALPHA_PMAP}; the 3-level page table of {ALPHA_ARM}", [
        ("load", 3, "the level-1, level-2 and level-3 PTE loads of the walk"),
        ("instr", 12, "per level: the valid test and the index shift and mask"),
        ("instr", 8, "the valid and protection-change tests, the new protection bits"),
        ("load", 1, "the store of the new PTE"),
        ("instr", 12, "call_pal tbi: the PALcode's dispatch on the type and its hw_rei around the TB write"),
        ("instr", 4, "the loop: next address, next PTE, bound test"),
    ]),
    # one mprotect/mmap/munmap call's map work: Mach VM vm_map_protect on a range that
    # is whole entries (every benchmark here protects whole mappings or single pages of
    # a one-entry map; clipping is a test, not a split)
    "mono_vm_op": (f"{MACH3}vm/vm_map.c vm_map_protect", [
        ("instr", 20, "mprotect(): argument checks, round the range to pages"),
        ("instr", 25, "vm_map_lock: lock_write"),
        ("instr", 6, "VM_MAP_RANGE_CHECK"),
        ("instr", 25, "vm_map_lookup_entry: the map's hint hits"),
        ("instr", 30, "vm_map_clip_start and vm_map_clip_end: the tests (no split)"),
        ("instr", 20, "the first pass: is_sub_map and max_protection per entry"),
        ("instr", 15, "the second pass: set the entry's protection, compare the old"),
        ("instr", 30, "pmap_protect's entry: PMAP_LOCK, pte_prot, the active test"),
        ("instr", 15, "vm_map_unlock"),
        ("load", 20, "the map header, entry, hint and pmap fields"),
    ]),
}


def derive(profile: CostProfile, parts: list[tuple[str, int, str]]) -> int:
    """The cycles of a path made of ``parts`` (kind, count, what) on ``profile``."""
    total = 0
    for kind, count, _what in parts:
        if kind == "instr":
            total += count * profile.instruction
        elif kind == "load":
            total += count * profile.load_store
        elif kind == "zero":
            total += (count * profile.zero_per_kib + 1023) >> 10
        elif kind == "copy":
            total += profile.copy_cost(count)
        elif kind == "cksum":      # a checksum pass costs a copy of the same bytes
            total += profile.copy_cost(count)
        elif kind == "trap":
            total += count * (profile.trap_entry + profile.trap_exit)
        elif kind == "swpctx":     # a context swap the CPU's set_asid does not charge
            total += count * profile.asid_switch
        else:
            raise ConfigError("unknown kind of path part", kind=kind,
                              expected=["instr", "load", "zero", "copy", "cksum", "trap",
                                        "swpctx"])
    return total


#: how a part's count reads in a source string
UNITS = {"instr": "instructions", "load": "loads/stores", "zero": "bytes zeroed",
          "copy": "bytes copied", "cksum": "bytes checksummed",
          "trap": "PALcode callsys/retsys pairs", "swpctx": "PALcode swpctx calls"}


def _osf1(row: str) -> tuple[str, int, str]:
    """One alpha row derived from :data:`OSF1_PARTS`, its source naming every part."""
    source, parts = OSF1_PARTS[row]
    totals = {k: sum(n for kind, n, _w in parts if kind == k) for k in UNITS}
    summary = ", ".join(f"{n} {UNITS[k]}" for k, n in totals.items() if n)
    what = "; ".join(f"{what} ({n} {UNITS[kind]})" for kind, n, what in parts)
    share = OSF1_SHARE.get(row, 1)
    per = f", spread over {share} charges (a write's and a read's)" if share > 1 else ""
    return (row, derive(get_profile("alpha"), parts) // share,
            f"estimate: {summary}{per} at the alpha profile's costs: {what} ({source})")


def _calibrated(row: str, cycles: int, figure: str) -> tuple[str, int, str]:
    """A calibrated alpha row, its source naming the figure and what the public code
    it stands for accounts for of it (:data:`OSF1_PUBLIC_PARTS`)."""
    source, parts = OSF1_PUBLIC_PARTS[row]
    public = derive(get_profile("alpha"), parts)
    what = "; ".join(w for _k, _n, w in parts)
    return (row, cycles, f"calibrated: {figure} ({SPIN}), fitted jointly with the other "
            f"calibrated row by exolab calibrate; the public code accounts for {public} "
            f"cycles of it ({what}: {source}), the rest is OSF/1's own, unpublished")


#: profile name -> {row: (cycles, source)}
TABLES: dict[str, dict[str, tuple[int, str]]] = {
    # DECstation 5000/125 running Ultrix 4.2 (the Exokernel paper's baseline)
    "dec5000": _table([
        # row               cycles  source
        ("mono_syscall_path", 525, f"calibrated: Ultrix getpid 21.3 us = 532 cycles ({EXO}, Table 4) minus trap entry/exit"),
        ("mono_switch_path", 2284, f"calibrated: Ultrix shm 118 us one-way ({EXO}, Table 8)"),
        ("mono_signal_path", 4011, f"calibrated: Ultrix trap 161 us ({EXO}, Table 10)"),
        ("mono_exec_path",  40000, "estimate: Ultrix fork+exec of a small image, ~1.6 ms (no published figure)"),
        ("mono_pte_op",       12,  "estimate: pmap loop body ~12 instructions per page (BSD pmap_protect)"),
        ("mono_refill",        8,  "Ultrix UTLB refill handler: ~8 instructions (mfc0, lw pte, mtc0, tlbwr, rfe)"),
        ("mono_pipe_op",     776,  f"calibrated: Ultrix pipe 199 us ({EXO}, Table 8); 4.3BSD pipes are socket pairs (sosend/soreceive, mbufs)"),
        ("mono_vm_op",       200,  "estimate: vm_map lookup + entry clipping, ~200 instructions (4.3BSD/Mach VM)"),
        ("mono_proc_call",     6,  "estimate: a MIPS C call and return (jal, its delay slot, jr ra, the frame), ~6 instructions"),
    ]),
    # Athlon 64 running Linux 2.6 (the Singularity papers' baseline)
    "athlon64": _table([
        ("mono_syscall_path", 213, f"calibrated: Linux clock_getres 437 cycles ({MSPC}) minus the 224-cycle crossing"),
        ("mono_switch_path",  350, "estimate: Linux 2.6 O(1) schedule() + context_switch(), a few hundred instructions"),
        ("mono_signal_path", 2500, "estimate: Linux signal frame setup + delivery, ~1.5 us"),
        ("mono_exec_path", 696608, f"calibrated: Linux process creation 719,447 cycles ({MSPC})"),
        ("mono_pte_op",       20,  "estimate: pte update + invlpg share"),
        ("mono_refill",        0,  "x86 walks page tables in hardware (tlb_miss_entry holds the cost)"),
        ("mono_pipe_op",     500,  "estimate: Linux AF_UNIX stream send/recv (skb alloc, queue, wakeup), ~0.3 us"),
        ("mono_vm_op",       300,  "estimate: Linux find_vma + vma split/merge in mprotect"),
        ("mono_proc_call",     5,  "estimate: an x86-64 call and return with its frame, ~5 cycles"),
    ]),
    # a 486-DX50 running a BSD-style Unix (the L3/L4 papers' machine; no paper row pins it)
    "i486": _table([
        ("mono_syscall_path", 893, f"estimate: {L4C}, 4.1.1: Ousterhout's getpid on a 10-MIPS machine is mostly 20-30 us; 20 us = 1000 cycles minus int+iret 107"),
        ("mono_switch_path", 2000, "estimate: BSD sleep/wakeup + swtch on a 10-MIPS 486, ~40 us (Ultrix's row is 2284 on a machine of similar speed)"),
        ("mono_signal_path", 4000, "estimate: signal frame + sigreturn, as the dec5000 row (a machine of similar speed)"),
        ("mono_exec_path",  40000, "estimate: fork+exec of a small image, as the dec5000 row"),
        ("mono_pte_op",       12,  "estimate: pmap loop body ~12 instructions per page (BSD pmap_protect)"),
        ("mono_refill",       10,  "the 486 walks page tables in hardware; ~10 instructions stand for loading the PTE this kernel keeps in its own table"),
        ("mono_pipe_op",      776, "estimate: BSD pipes are socket pairs (sosend/soreceive, mbufs), as the dec5000 row"),
        ("mono_vm_op",       200,  "estimate: vm_map lookup + entry clipping, ~200 instructions (4.3BSD/Mach VM)"),
        ("mono_proc_call",     8,  "estimate: a 486 call and return with its frame (call 3, push/pop, ret 5 cycles)"),
    ]),
    # DEC 3000/400 (133 MHz Alpha 21064) running DEC OSF/1 V2.1 (the SPIN paper's
    # baseline): a Mach 2.5-derived kernel with the 4.3BSD interface on top
    "alpha": _table([
        _osf1("mono_syscall_path"),
        _osf1("mono_switch_path"),
        ("mono_signal_path", 25000, f"estimate: OSF/1 turns a fault into a Mach exception RPC to the task's exception port (Mach's cross-AS call is 104 us on this machine, {SPIN}) and then builds a UNIX signal frame, ~190 us"),
        ("mono_exec_path", 400000, "estimate: OSF/1 fork+exec of a small image, ~3 ms (no published figure)"),
        _osf1("mono_thread_path"),
        _calibrated("mono_pte_op", 1330, "OSF/1 prot100 1,041 us (100 pages in one mprotect)"),
        ("mono_refill",        10, "estimate: the PALcode DTB-miss routine's fetch of the PTE from the virtual page table"),
        _osf1("mono_pipe_op"),
        _calibrated("mono_vm_op", 4319, "OSF/1 prot1 45 us (one page)"),
        ("mono_proc_call",    17, "estimate: a C call through the GOT and its return (ldq pv, jsr, two ldgp pairs, ret: 6 instructions and 2 loads) with the 21064's dependent-load and computed-jump bubbles, as SPIN's spin_proc_call on the same chip (0.13 us, SPIN SOSP'95 Table 2)"),
        _osf1("mono_kthread_path"),
        _osf1("mono_kswitch_path"),
    ]),
}


def path_table(profile_name: str) -> dict[str, tuple[int, str]]:
    """Every path row of the monolithic kernel on ``profile_name``, with its source."""
    table = TABLES.get(profile_name)
    if table is None:
        raise ConfigError("the monolithic kernel has no path table for this profile",
                          profile=profile_name, expected=sorted(TABLES))
    return dict(table)


def resolve(profile_name: str, overrides: Any = None) -> dict[str, int]:
    """The cycles of every row on ``profile_name``, ``overrides`` put over them."""
    paths = {row: 0 for row in OPTIONAL}       # a row this profile's table lacks: 0
    paths.update({row: cycles for row, (cycles, _src) in path_table(profile_name).items()})
    return override(paths, overrides, "monolithic")
