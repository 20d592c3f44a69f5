"""scripts/setup prepares everything scripts/check needs: Chromium for the browser tests by default.

The script runs in a scratch copy of the repo with stub `python`, `apt-get` and `id` on a PATH that has
no chromium, so the test sees which packages it would install without touching the machine.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("bash", "dirname", "grep", "env", "cat")


def _scratch(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup", repo / "scripts" / "setup")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    log = tmp_path / "calls.log"
    stubs = {
        "apt-get": f'echo "apt-get $*" >> {log}',
        "id": "echo 0",  # root: no sudo
        "fc-list": "true",
    }
    venv_python = repo / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    for path, body in [*((bin_dir / n, b) for n, b in stubs.items()), (venv_python, "true")]:
        path.write_text(f"#!{shutil.which('bash')}\n{body}\n")
        path.chmod(0o755)
    env = {"PATH": str(bin_dir), "PYTHON": str(venv_python), "HOME": str(tmp_path)}
    return repo, env, log


def _run(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(repo / "scripts" / "setup"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_setup_installs_chromium_by_default(tmp_path: Path) -> None:
    repo, env, log = _scratch(tmp_path)
    done = _run(repo, env)
    assert done.returncode == 0, done.stderr
    installs = [line for line in log.read_text().splitlines() if " install " in line]
    assert len(installs) == 1
    for package in ("chromium", "chromium-driver", "fonts-noto-color-emoji"):
        assert package in installs[0].split()


def test_setup_no_browser_skips_chromium(tmp_path: Path) -> None:
    repo, env, log = _scratch(tmp_path)
    done = _run(repo, env, "--no-browser")
    assert done.returncode == 0, done.stderr
    assert not log.exists()


def test_setup_refuses_an_unknown_option(tmp_path: Path) -> None:
    repo, env, log = _scratch(tmp_path)
    done = _run(repo, env, "--brwoser")
    assert done.returncode == 2
    assert "--no-browser" in done.stderr
    assert not log.exists()


@pytest.mark.parametrize("command", ["scripts/setup", "scripts/check"])
def test_ci_runs_the_readme_commands(command: str) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f"\n{command} " in readme.split("## Quick start", 1)[1].split("```", 2)[1]
    assert f"\n{command}\n" in ci
