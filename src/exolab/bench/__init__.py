"""exolab.bench: benchmark suites, their results, and the report tables.

Interface::

    Result, PaperRow, Report                    rows and the report (results.py)
    suite, SuiteContext, SuiteOutput            defining a suite (registry.py)
    registered(), get_suite(name)               the registry
    run_suites(names, profile, seed, kernels, quick, full) -> Report
    print_report(report, console=None)          rich tables (report.py)

Suites live in their own modules, listed in ``registry.SUITE_MODULES``.
"""
from exolab.bench.registry import (SuiteContext, SuiteInfo, SuiteOutput, get_suite,
                                   registered, run_suites, suite)
from exolab.bench.report import print_report, suite_table
from exolab.bench.results import PaperRow, Report, Result

__all__ = ["Result", "PaperRow", "Report", "suite", "SuiteContext", "SuiteOutput",
           "SuiteInfo", "registered", "get_suite", "run_suites", "print_report",
           "suite_table"]
