"""Bad usage exits 2 with one line and no traceback; failures exit 1 with one line."""

from __future__ import annotations

from typing import Any

import pytest

from cli.clitools import invoke

BAD_USAGE = [
    (["trigger", "NOPE"], "unknown phase 'NOPE'"),
    (["trigger", "ranking_fetch"], "did you mean RANKING_FETCH"),
    (["trigger", "RANKING_FETCH", "--date", "2026-02-30"], "not a calendar date"),
    (["trigger", "RANKING_FETCH", "--date", "yesterday"], "YYYY-MM-DD"),
    (["trigger", "RANKING_FETCH", "--date", "2099-01-01"], "in the future"),
    (["trigger", "RANKING_FETCH", "--upstream", "x"], "root phase"),
    (["trigger", "OCID_LOOKUP", "--upstream", "../etc"], "invalid upstream run id"),
    (["trigger", "daily", "--upstream", "latest"], "does not apply"),
    (["status", "--url", "not-a-url"], "--url must look like"),
    (["status", "--url", "ftp://127.0.0.1:8081"], "--url must look like"),
    (["runs", "--url", "http://127.0.0.1:99999"], "invalid port"),
    (["loop", "RANKING_FETCH"], "unknown loopable phase"),
    (["stop-loop", "OCID_LOOKUP"], "unknown loopable phase"),
    (["stop", "EVERYTHING"], "unknown phase"),
    (["runs", "--status", "DONE"], "unknown status"),
    (["runs", "--phase", "nope"], "unknown phase"),
    (["resume", "bad id!"], "invalid run id"),
    (["run", "NOPE"], "unknown phase"),
    (["run", "RANKING_FETCH", "--date", "2026-1-1"], "YYYY-MM-DD"),
    (["purge", "--older-than", "soon"], "--older-than takes an age"),
    (["purge"], "Missing option"),
    (["runs", "--bogus"], "No such option"),
    (["trigger"], "Missing argument"),
    (["status", "--watch", "--json"], "do not go together"),
    (["smoke", "--airflow-url", "http://127.0.0.1:8080"], "--airflow-user"),
]


@pytest.mark.parametrize(("args", "needle"), BAD_USAGE)
def test_bad_usage_exits_2_with_one_line(args: list[str], needle: str, clean_env: None) -> None:
    ran = invoke(args)
    assert ran.code == 2, ran
    assert len(ran.err_lines) == 1, ran.stderr
    assert ran.err_lines[0].startswith("error: ")
    assert needle in ran.err_lines[0]
    assert "Traceback" not in ran.stderr + ran.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["trigger", "NOPE"],
        ["status", "--url", "nope"],
        ["trigger", "RANKING_FETCH", "--date", "2026-13-01"],
    ],
)
def test_bad_usage_in_a_real_process(args: list[str], cli: Any) -> None:
    ran = cli(args)
    assert ran.code == 2
    assert len(ran.err_lines) == 1 and ran.err_lines[0].startswith("error: ")
    assert "Traceback" not in ran.stderr


def test_unreachable_service_is_one_line_exit_1(cli: Any) -> None:
    from support.procs import free_port

    ran = cli(["status", "--url", f"http://127.0.0.1:{free_port()}"])
    assert ran.code == 1
    assert ran.err_lines == [ran.err_lines[0]]
    assert "cannot reach the control API" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_debug_shows_the_traceback(clean_env: None) -> None:
    from support.procs import free_port

    url = f"http://127.0.0.1:{free_port()}"
    ran = invoke(["status", "--url", url, "--debug"])
    assert ran.code == 1
    assert "Traceback" in ran.stderr
    assert "cannot reach the control API" in ran.err_lines[-1]


def test_bad_setting_is_bad_usage_without_the_secret(clean_env: None) -> None:
    ran = invoke(
        ["db", "upgrade"],
        env={"MAPLECOLLECT_RATE_LIMIT": "-5", "NEXON_API_KEY": "sekrit-key-123"},
    )
    assert ran.code == 2
    assert ran.err_lines == [
        "error: invalid settings: MAPLECOLLECT_RATE_LIMIT: Input should be greater than 0"
    ]
    assert "sekrit" not in ran.stderr + ran.stdout


def test_run_without_an_api_key_is_bad_usage(clean_env: None, tmp_path: Any) -> None:
    ran = invoke(["run", "daily"], env={"MAPLECOLLECT_DATA_DIR": str(tmp_path)})
    assert ran.code == 2
    assert "NEXON_API_KEY is not set" in ran.err_lines[0]


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["sim"],
        ["demo"],
        ["run"],
        ["trigger"],
        ["loop"],
        ["stop"],
        ["stop-loop"],
        ["status"],
        ["runs"],
        ["resume"],
        ["smoke"],
        ["purge"],
        ["db"],
        ["db", "upgrade"],
    ],
)
def test_help_on_every_command(command: list[str], clean_env: None) -> None:
    ran = invoke([*command, "--help"])
    assert ran.code == 0, ran
    assert "Usage" in ran.stdout


def test_no_arguments_prints_help(clean_env: None) -> None:
    ran = invoke([])
    assert ran.code == 2
    assert "Commands" in ran.stdout
    assert "error" not in ran.stderr
