"""exolab: a laboratory of operating-system structures on one simulated machine.

The thin public API; everything else lives in its mechanism's module.

Interface::

    Machine                       the simulated hardware (exolab.machine)
    ABI                           the application interface (exolab.abi)
    make_kernel, kernel_names     the kernel registry (exolab.kernels)
    run_program, ProgramRun       run one program on one kernel (exolab.runner)
    ExolabError, SyscallError     the error hierarchy's root and the call error
"""
from exolab.abi import ABI
from exolab.errors import ExolabError, SyscallError
from exolab.kernels import kernel_names, make_kernel
from exolab.machine import Machine
from exolab.runner import ProgramRun, run_program

__version__ = "0.1.0"

__all__ = ["Machine", "ABI", "make_kernel", "kernel_names", "run_program", "ProgramRun",
           "ExolabError", "SyscallError", "__version__"]
