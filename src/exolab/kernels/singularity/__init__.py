"""Singularity: software-isolated processes talking over contract-based channels.

(The package's kernel and its public names are filled in by the kernel's own
modules; :mod:`exolab.kernels.singularity.contract` is the channel contract
language.)
"""
__all__: list[str] = []
