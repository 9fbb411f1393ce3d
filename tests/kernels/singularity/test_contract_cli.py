"""The `exolab contract check FILE...` command."""
from __future__ import annotations

from typer.testing import CliRunner

from exolab.cli import EXIT_ERROR, app
from exolab.kernels.singularity.contract import CONTRACTS_DIR

runner = CliRunner()


def test_check_prints_states_and_transitions() -> None:
    res = runner.invoke(app, ["contract", "check", str(CONTRACTS_DIR / "NicDevice.sg")])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "contract NicDevice" in out and "contract NicEvents" in out   # found beside
    assert "state START (initial)" in out
    assert "PacketForReceive? -> (Success! or BadPacketSize!) -> IO_RUNNING" in out
    assert "in  RegisterForEvents(NicEvents.Exp:READY c)" in out
    assert "compiled: 8 states, 13 transitions" in out


def test_check_prints_every_error_and_exits_2(tmp_path) -> None:
    bad = tmp_path / "Bad.sg"
    bad.write_text("contract Bad {\n  out message R();\n  state S: R? -> T;\n}\n")
    res = runner.invoke(app, ["contract", "check", str(bad), str(tmp_path / "none.sg")])
    assert res.exit_code == EXIT_ERROR
    assert f"{bad}:3:12: wrong direction" in res.output
    assert f"{bad}:3:18: unknown state T" in res.output
    assert "cannot read the contract file" in res.output
    assert "Traceback" not in res.output


def test_check_reports_a_syntax_error_with_its_place(tmp_path) -> None:
    bad = tmp_path / "Syn.sg"
    bad.write_text("contract Syn {\n  in message A(\n}")
    res = runner.invoke(app, ["contract", "check", str(bad)])
    assert res.exit_code == EXIT_ERROR and f"{bad}:3:1: syntax error" in res.output


def test_explain_fig5_shows_the_tlb_work_of_a_configuration() -> None:
    res = runner.invoke(app, ["explain", "fig5_domain", "-n", "6"])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "fig5_domain (isolation" in out and "base" in out and "domain" in out
    for row in ("TLB misses", "TLB flushes", "address-space loads", "pager.mapped"):
        assert row in out
    assert runner.invoke(app, ["explain", "fig5_nope"]).exit_code != 0
