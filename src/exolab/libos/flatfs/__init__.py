"""flatfs: a second library file system over XN (one directory, whole-file writes).

Modules::

    templates   its three XN metadata types, as source
    fs          FlatFS: create, write, read, delete over an XN client
"""
from exolab.libos.flatfs.fs import FlatFS
from exolab.libos.flatfs.templates import templates

__all__ = ["FlatFS", "templates"]
