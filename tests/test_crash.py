"""The crash soak (exolab.crash), short and with a fixed seed: power cuts in both
modes lose no fsynced byte and leave only images e2fsck -p repairs, whose
findings are the documented ones."""
from __future__ import annotations

import pytest

from exolab.crash import FINDINGS, documented, e2fsprogs, soak

pytestmark = pytest.mark.skipif(e2fsprogs() is None, reason="e2fsprogs (e2fsck) not "
                                "installed: apt-get install -y e2fsprogs (.ci/run does)")


def test_a_short_soak_loses_nothing_synced_and_every_image_repairs() -> None:
    r = soak(16, seed=2)
    assert r.trials == 16 and r.cuts_before_end >= 12
    assert r.synced_files > 0 and r.synced_bytes > 0
    assert r.lost_bytes == 0 and r.rejected == 0 and r.undocumented == 0
    assert r.clean + r.repaired == 16
    assert all(documented(kind) for kind, _ in r.findings)


def test_the_documented_findings_match_what_e2fsck_prints() -> None:
    assert documented("Free blocks count wrong for group #N (N, counted=N).")
    assert documented("Entry 'X' in /t (N) has deleted/unused inode N.")
    assert not documented("Unattached inode N")
    assert not documented("Unconnected directory inode N (was in /t)")
    assert len(FINDINGS) >= 6
