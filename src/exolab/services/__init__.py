"""Services written once and placed by each kernel (DESIGN.md, "Services are placed").

A service talks only to small interfaces (a block device, a clock, a cost hook)
and never imports a kernel; kernels place it (in-kernel, in a library OS, in a
server) and the crossings and copies between it and its callers come from that
placement.

    ext2      the second extended file system (revision 1), as a library
"""
