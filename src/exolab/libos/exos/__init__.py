"""ExOS: the exokernel's library operating system (see :mod:`.exos`).

Interface::

    ExOS        the ABI personality, one instance per process
    VM, IPC, LRPC, Procs
                its components (ExOS.vm_class, ...), which a specialised
                library OS subclasses
    libos_of(program, default) -> the library OS class a program names
"""
from exolab.libos.exos.exos import ExOS, libos_of
from exolab.libos.exos.ipc import IPC
from exolab.libos.exos.lrpc import LRPC
from exolab.libos.exos.proc import Procs
from exolab.libos.exos.vm import VM

__all__ = ["ExOS", "VM", "IPC", "LRPC", "Procs", "libos_of"]
