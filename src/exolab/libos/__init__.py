"""exolab.libos: library operating systems, untrusted code in each application's domain.

Interface::

    exos        ExOS, the library OS of the exokernel (Aegis)
"""
__all__: list[str] = []
