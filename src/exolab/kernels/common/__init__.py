"""The kernel toolkit: what every kernel's personality does the same way.

One module per rule, so that a kernel reuses the rule rather than writing it again:

    args          argument decoders (exact type, range, the argument's name in the error)
    personality   Personality: the ABI calls every kernel provides alike, with cost hooks
    park          thread_park/thread_unpark: wake tokens and parked threads' queues
    exitstatus    the exit status of a process whose last thread ended
    image         program images: where they are mapped, their size, the per-page copy
    names         process names decoded from what a program hands in
    numpool       a lazy LIFO pool of numbers (frames, thread and space numbers)
    shmkeys       shared-memory segment keys no program can guess
    schedstats    the switch/sleep/wakeup counters every scheduler's record extends

(``console`` and ``wait`` and ``contract``/``stats`` are written by other helpers.)
This package imports nothing from a kernel; kernels import from it.
"""
