"""exolab.kernels.singularity: software-isolated processes (Hunt & Larus, OSR 2007).

Interface::

    Singularity(machine, paths=None, catalogue=None, installed=())   the kernel
    SingStats                                         its statistics record
    Manifest, EndpointDecl                            a program's manifest
    Block, Endpoint                                   exchange-heap and channel handles

:mod:`exolab.kernels.singularity.contract` is the channel contract language.
"""
from exolab.kernels.singularity.channel import Endpoint
from exolab.kernels.singularity.exheap import Block
from exolab.kernels.singularity.kernel import SingStats, Singularity
from exolab.kernels.singularity.manifest import EndpointDecl, Manifest

__all__ = ["Singularity", "SingStats", "Manifest", "EndpointDecl", "Block", "Endpoint"]
