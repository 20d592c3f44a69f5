"""requirements.txt (the lock file deployments install from) stays in step with pyproject.toml.

Every runtime dependency of pyproject.toml is pinned with == at a version inside pyproject's range, every
package its requirements pull in (read from the installed distributions' metadata) is pinned too, and
nothing else is: no test or check tools, no leftovers of a dependency that was removed.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


def runtime_requirements(pyproject: str) -> list[Requirement]:
    """pyproject.toml's [project] dependencies (no extras)."""
    return [Requirement(line) for line in tomllib.loads(pyproject)["project"]["dependencies"]]


def parse_lock(text: str) -> dict[str, Version]:
    """requirements.txt as {canonical name: pinned version}; anything but `name==version` fails."""
    pins: dict[str, Version] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"requirements.txt line {number} is not an exact pin `name==version`: {raw!r}"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"requirements.txt pins {name} twice"
        pins[name] = Version(match.group(2))
    return pins


def lock_problems(requirements: list[Requirement], pins: dict[str, Version]) -> list[str]:
    """What is wrong between pyproject's runtime requirements and the lock's pins (empty: in step)."""
    problems = []
    for req in requirements:
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(
                f"{req.name} is a runtime dependency but requirements.txt does not pin it"
            )
        elif req.specifier and not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{name}=={pins[name]} is outside pyproject's range {req}")
    return problems


def closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution the requirements pull in on this interpreter, by the installed metadata."""
    seen: set[str] = set()
    todo = [(req, frozenset(req.extras)) for req in requirements]
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen and not extras:
            continue
        seen.add(name)
        for line in metadata.requires(req.name) or []:
            sub = Requirement(line)
            envs = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in envs):
                todo.append((sub, frozenset(sub.extras)))
    return seen


def test_lockfile_pins_every_runtime_dependency_within_pyproject_ranges() -> None:
    requirements = runtime_requirements((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = parse_lock(LOCK.read_text(encoding="utf-8"))
    assert lock_problems(requirements, pins) == [], "run scripts/lock"


def test_lockfile_pins_the_whole_runtime_closure_and_nothing_else() -> None:
    requirements = runtime_requirements((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = set(parse_lock(LOCK.read_text(encoding="utf-8")))
    needed = closure(requirements)
    assert sorted(needed - pins) == [], "pulled in but not pinned: run scripts/lock"
    assert sorted(pins - needed) == [], "pinned but not a runtime dependency: run scripts/lock"


def test_lock_problems_catches_a_missing_pin_and_one_outside_the_range() -> None:
    requirements = [Requirement("httpx>=0.28,<1"), Requirement("gunicorn>=23")]
    assert lock_problems(requirements, {"httpx": Version("1.0"), "gunicorn": Version("23.0")}) == [
        "httpx==1.0 is outside pyproject's range httpx<1,>=0.28"
    ]
    assert lock_problems(requirements, {"httpx": Version("0.28.1")}) == [
        "gunicorn is a runtime dependency but requirements.txt does not pin it"
    ]


def test_parse_lock_refuses_ranges_and_duplicates() -> None:
    for text in ("httpx>=0.28\n", "httpx==0.28.1\nHTTPX==0.28.1\n"):
        try:
            parse_lock(text)
        except AssertionError:
            continue
        raise AssertionError(f"accepted {text!r}")


def test_python_version_file_names_a_python_pyproject_allows() -> None:
    pinned = (ROOT / ".python-version").read_text(encoding="utf-8").strip()
    assert re.fullmatch(r"3\.\d+", pinned), "Heroku reads a major.minor version"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "requires-python"
    ]
    from packaging.specifiers import SpecifierSet

    assert SpecifierSet(requires).contains(pinned + ".0")
