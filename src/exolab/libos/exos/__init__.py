"""ExOS: the exokernel's library operating system (see :mod:`.exos`).

Interface::

    ExOS        the ABI personality, one instance per process
"""
from exolab.libos.exos.exos import ExOS

__all__ = ["ExOS"]
