"""The Dockerfile, checked without a Docker engine.

Static facts of the Dockerfile, and a replay of its build stage: the COPY and RUN steps it
names, parsed from the file (so this test breaks when the Dockerfile drifts), run into a
temporary directory that stands for the image's filesystem. The venv that comes out is
the one the runtime stage copies; its ``inventory-sync`` must start, carry no dev tools,
and sync the emulators with its credentials read from files, as the chart mounts them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.commercetools import CommercetoolsEmulator
from tests.emulators.fluent import FluentEmulator
from tests.emulators.server import serve

from .conftest import CHART, CREDENTIAL_FILES, ROOT, WRITABLE, load_yaml

DOCKERFILE = ROOT / "Dockerfile"
REPLAY_TIMEOUT_S = 600
DEV_TOOLS = ["pytest", "ruff", "mypy", "respx", "importlinter", "kubernetes_validate", "uvicorn"]


# --- a small Dockerfile reader ---------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str] | None:
        """The JSON array of ENTRYPOINT/CMD/RUN in exec form, else None."""
        try:
            parsed = json.loads(self.args)
        except json.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, list) else None


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"the stage FROM {self.image} has no {keyword}"
        return found[-1]


def _key_values(args: str) -> dict[str, str]:
    """``K=V K2="V 2"`` (ENV, LABEL, ARG) as a dict."""
    pairs = {}
    for token in shlex.split(args):
        key, sep, value = token.partition("=")
        pairs[key] = value if sep else ""
    return pairs


def _substitute(text: str, variables: dict[str, str]) -> str:
    return re.sub(
        r"\$\{(\w+)\}|\$(\w+)",
        lambda m: variables.get(m.group(1) or m.group(2), m.group(0)),
        text,
    )


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    @classmethod
    def parse(cls, text: str) -> Dockerfile:
        logical, pending = [], ""
        for raw in text.splitlines():
            line = raw.strip()
            if not pending and (not line or line.startswith("#")):
                continue
            if line.startswith("#"):  # a comment inside a continued instruction
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            logical.append(pending + line)
            pending = ""
        assert not pending, "the Dockerfile ends inside a continued line"

        global_args: dict[str, str] = {}
        stages: list[Stage] = []
        for line in logical:
            keyword, _, args = line.partition(" ")
            keyword, args = keyword.upper(), args.strip()
            if keyword == "FROM":
                parts = args.split()
                image = _substitute(parts[0], global_args)
                name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
                stages.append(Stage(image, name))
            elif not stages:
                assert keyword == "ARG", f"{keyword} before the first FROM"
                global_args.update(_key_values(args))
            else:
                stages[-1].instructions.append(Instruction(keyword, args))
        return cls(global_args, stages)

    def stage(self, name: str) -> Stage:
        (found,) = [s for s in self.stages if s.name == name]
        return found

    @property
    def runtime(self) -> Stage:
        return self.stages[-1]


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile.parse(DOCKERFILE.read_text(encoding="utf-8"))


def _copy_from(stage: Stage) -> tuple[str, str, str]:
    """The runtime stage's ``COPY --from=<stage> <src> <dst>`` of the venv."""
    (copy,) = [c for c in stage.all("COPY") if c.args.startswith("--from=")]
    flag, src, dst = copy.args.split()
    return flag.removeprefix("--from="), src, dst


# --- static facts ----------------------------------------------------------------------------


def test_multi_stage_with_the_same_python_in_both(dockerfile: Dockerfile) -> None:
    assert len(dockerfile.stages) == 2
    build, runtime = dockerfile.stages
    assert build.name == "build"
    # the same base image (so the same Python) in both stages: the venv's paths hold
    assert build.image == runtime.image
    version = dockerfile.global_args["PYTHON_VERSION"]
    assert build.image == f"python:{version}-slim"
    # and the Python the lock files are compiled for
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert set(re.findall(r"--python-version (\S+)", makefile)) == {version}


def test_runtime_stage_only_copies_the_venv(dockerfile: Dockerfile) -> None:
    runtime = dockerfile.runtime
    assert runtime.all("RUN") == [], "no build step (and no build tool) in the final image"
    source, src, dst = _copy_from(runtime)
    assert source == dockerfile.stages[0].name
    assert src == dst, "a venv only works at the path it was made at"
    assert [c.args for c in runtime.all("COPY")] == [f"--from={source} {src} {dst}"]
    assert _key_values(runtime.last("ENV").args)["PATH"].startswith(f"{dst}/bin:")


def test_runs_as_a_numeric_non_root_user_like_the_chart(dockerfile: Dockerfile) -> None:
    user = dockerfile.runtime.last("USER").args
    assert re.fullmatch(r"\d+(:\d+)?", user), f"USER {user} is not numeric"
    uid, _, gid = user.partition(":")
    assert int(uid) != 0
    assert not gid or int(gid) != 0
    values = load_yaml(CHART / "values.yaml")
    assert values["podSecurityContext"]["runAsUser"] == int(uid)
    assert values["securityContext"]["runAsUser"] == int(uid)
    # the only writable path in the chart's pod
    assert dockerfile.runtime.last("WORKDIR").args == WRITABLE


def test_entrypoint_and_cmd_match_the_chart(dockerfile: Dockerfile) -> None:
    runtime = dockerfile.runtime
    assert runtime.last("ENTRYPOINT").exec_form() == ["inventory-sync"]
    cmd = runtime.last("CMD").exec_form()
    assert cmd == ["run"]
    assert load_yaml(CHART / "values.yaml")["args"] == cmd
    profiles_file = _key_values(runtime.last("ENV").args)["INVENTORY_SYNC_PROFILES_FILE"]
    assert profiles_file == "/etc/inventory-sync/profiles.yaml"  # where the chart mounts it


def test_oci_labels(dockerfile: Dockerfile) -> None:
    runtime = dockerfile.runtime
    labels: dict[str, str] = {}
    for label in runtime.all("LABEL"):
        labels.update(_key_values(label.args))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    args: dict[str, str] = {}
    for arg in runtime.all("ARG"):
        args.update(_key_values(arg.args))
    assert labels["org.opencontainers.image.title"] == project["name"]
    assert labels["org.opencontainers.image.description"]
    assert labels["org.opencontainers.image.licenses"] == project["license"]
    version = _substitute(labels["org.opencontainers.image.version"], args)
    assert version == project["version"]
    # set by `make image` from git
    assert labels["org.opencontainers.image.revision"] == "${REVISION}"
    assert labels["org.opencontainers.image.source"] == "${SOURCE}"
    assert {"REVISION", "SOURCE"} <= args.keys()


def test_dockerignore_lets_in_exactly_what_the_build_copies(dockerfile: Dockerfile) -> None:
    """Every COPY source of the build stage passes .dockerignore; the venv, git and
    tests stay out of the build context."""
    import fnmatch

    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for rule in rules:
            negated = rule.startswith("!")
            pattern = rule.removeprefix("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                keep = negated
        return keep

    sources = [
        src
        for step in dockerfile.stage("build").all("COPY")
        if not step.args.startswith("--from")
        for src in shlex.split(step.args)[:-1]
    ]
    assert sources
    for src in sources:
        assert included(src.rstrip("/")), src
        for file in (ROOT / src).rglob("*") if (ROOT / src).is_dir() else []:
            if "__pycache__" not in file.parts:
                assert included(str(file.relative_to(ROOT))), file
    for outside in (".venv/bin/python", ".git/HEAD", "tests/demo.py", ".tools/helm"):
        assert not included(outside), outside


# --- the replay ------------------------------------------------------------------------------


@dataclass
class Image:
    """The replayed image filesystem: ``root`` stands for ``/``."""

    root: Path
    venv: Path
    log: list[str]

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            env=env if env is not None else _clean_env(),
            cwd=self.root / "tmp",
            timeout=120,
            check=False,
        )


def _clean_env(**extra: str) -> dict[str, str]:
    drop = ("PYTHON", "VIRTUAL_ENV", "INVENTORY_SYNC_", "PIP_REQUIRE_VIRTUALENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


def _inside(root: Path, path: str, workdir: Path) -> Path:
    return root / path.lstrip("/") if path.startswith("/") else workdir / path


def _copy(root: Path, workdir: Path, args: str) -> None:
    """COPY <src>... <dest> from the repository (the build context) into ``root``."""
    assert not args.startswith("--"), f"COPY flags are not replayed: COPY {args}"
    *sources, dest = shlex.split(args)
    target = _inside(root, dest, workdir)
    into_dir = dest.endswith("/") or len(sources) > 1
    for source in sources:
        origin = ROOT / source
        assert origin.exists(), f"COPY {source}: not in the repository"
        if origin.is_dir():
            shutil.copytree(
                origin,
                target,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
        else:
            destination = target / origin.name if into_dir else target
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, destination)


def _rewrite(command: str, root: Path, venv: str) -> str:
    """Absolute paths of the image become paths under ``root``; only known programs run."""
    rewritten = re.sub(r"(?:^|(?<=[\s=]))/(?=[\w.])", f"{root}/", command)
    for step in re.split(r"&&|;", rewritten):
        if not step.strip():
            continue
        program = shlex.split(step)[0]
        assert program == "python" or program.startswith(f"{root}{venv}/bin/"), (
            f"the replay runs only python and the venv's tools; teach it about: {step.strip()}"
        )
    return rewritten


def _replay(dockerfile: Dockerfile, root: Path) -> Image:
    source, venv, _ = _copy_from(dockerfile.runtime)
    build = dockerfile.stage(source)
    shim = root / ".shim"  # `python` in RUN is the base image's interpreter: ours here
    shim.mkdir(parents=True)
    (shim / "python").symlink_to(sys.executable)
    env = _clean_env(PATH=f"{shim}{os.pathsep}{os.environ['PATH']}")
    workdir = root
    log = []
    for step in build.instructions:
        if step.keyword == "ENV":
            # the pip cache only saves downloads here: keep it, whatever the image does
            env.update({k: v for k, v in _key_values(step.args).items() if k != "PIP_NO_CACHE_DIR"})
        elif step.keyword == "WORKDIR":
            workdir = _inside(root, step.args, workdir)
            workdir.mkdir(parents=True, exist_ok=True)
        elif step.keyword == "COPY":
            _copy(root, workdir, step.args)
        elif step.keyword == "RUN":
            command = _rewrite(step.args, root, venv)
            log.append(step.args)
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", command],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=REPLAY_TIMEOUT_S,
                check=False,
            )
            assert done.returncode == 0, (
                f"RUN {step.args}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
            )
        else:
            assert step.keyword in {"ARG", "LABEL"}, f"{step.keyword} is not replayed"
    (root / "tmp").mkdir(exist_ok=True)
    return Image(root, root / venv.lstrip("/"), log)


@pytest.fixture(scope="module")
def image(dockerfile: Dockerfile, tmp_path_factory: pytest.TempPathFactory) -> Image:
    return _replay(dockerfile, tmp_path_factory.mktemp("image"))


replay = pytest.mark.timeout(REPLAY_TIMEOUT_S)


@pytest.mark.slow
@replay
def test_replay_ran_the_dockerfile_install_steps(image: Image) -> None:
    joined = "\n".join(image.log)
    assert "python -m venv" in joined
    assert "pip install --require-hashes -r requirements/runtime.lock" in joined
    assert "pip wheel --no-deps" in joined
    assert "pip install --no-deps" in joined


@pytest.mark.slow
@replay
def test_the_entrypoint_starts(image: Image) -> None:
    done = image.run("inventory-sync", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: inventory-sync")
    assert "run" in done.stdout
    assert "INVENTORY_SYNC_" in done.stdout
    done = image.run("inventory-sync", "run", "--help")
    assert done.returncode == 0, done.stderr
    for flag in ("--profile", "--full", "--dry-run", "--from", "--to"):
        assert flag in done.stdout


@pytest.mark.slow
@replay
def test_no_dev_tools_in_the_image(image: Image) -> None:
    probe = (
        "import importlib.util, json, sys; "
        "print(json.dumps([m for m in sys.argv[1:] if importlib.util.find_spec(m)]))"
    )
    done = image.run("python", "-c", probe, *DEV_TOOLS)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    # exactly the runtime lock, the package, and the venv's own pip/setuptools
    done = image.run("python", "-m", "pip", "list", "--format=json", "--disable-pip-version-check")
    assert done.returncode == 0, done.stderr
    installed = {_canonical(d["name"]) for d in json.loads(done.stdout)}
    lock = (ROOT / "requirements" / "runtime.lock").read_text(encoding="utf-8")
    locked = {_canonical(m) for m in re.findall(r"^([A-Za-z0-9_.-]+)==", lock, re.MULTILINE)}
    assert installed - {"pip", "setuptools"} == locked | {"inventory-sync"}
    done = image.run("python", "-m", "pip", "check", "--disable-pip-version-check")
    assert done.returncode == 0, done.stdout + done.stderr


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture
def apis() -> Iterator[tuple[FluentEmulator, CommercetoolsEmulator, str, str]]:
    fluent, ct = FluentEmulator(), CommercetoolsEmulator()
    with serve(fluent.app) as fluent_url, serve(ct.app) as ct_url:
        yield fluent, ct, fluent_url, ct_url


@pytest.mark.slow
@replay
def test_the_image_syncs_with_credentials_from_files(
    image: Image,
    apis: tuple[FluentEmulator, CommercetoolsEmulator, str, str],
    tmp_path: Path,
) -> None:
    fluent, ct, fluent_url, ct_url = apis
    for ref, quantity in {"SKU-1": 5, "SKU-2": 0, "SKU-3": -2}.items():
        fluent.upsert_position("AGG_EU", ref, ref, quantity, updated_on="2026-01-01T00:00:00Z")
    ct.add_channel("eu-warehouse")
    ct.add_entry("SKU-2", "eu-warehouse", 9)

    # the Secret volume: one file per credential, named as the chart's `items` name them
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    credentials = {
        "fluentUsername": "demo-user",
        "fluentPassword": "demo-pass",
        "fluentClientId": "demo-client",
        "fluentClientSecret": "demo-secret",
        "ctClientId": "ct-client",
        "ctClientSecret": "ct-secret",
    }
    for key, file_name in CREDENTIAL_FILES.items():
        (secrets / file_name).write_text(credentials[key], encoding="utf-8")
        (secrets / file_name).chmod(0o440)
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(
        "profiles:\n  - name: eu\n    ctChannelKey: eu-warehouse\n"
        "    fluentAggregateVirtualCatalogueRef: AGG_EU\n",
        encoding="utf-8",
    )
    env = _clean_env(
        PATH=f"{image.venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        INVENTORY_SYNC_SECRETS_DIR=str(secrets),
        INVENTORY_SYNC_FLUENT_URL=fluent_url,
        INVENTORY_SYNC_CT_AUTH_URL=ct_url,
        INVENTORY_SYNC_CT_API_URL=ct_url,
        INVENTORY_SYNC_CT_PROJECT_KEY=ct.project_key,
        INVENTORY_SYNC_PROFILES_FILE=str(profiles),
        INVENTORY_SYNC_STATE_DIR=str(tmp_path / "state"),
        INVENTORY_SYNC_SETTLE_LAG_SECONDS="0",
        INVENTORY_SYNC_LOG_FORMAT="json",
    )
    done = image.run("inventory-sync", "run", env=env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert ct.entries("eu-warehouse") == {"SKU-1": 5, "SKU-2": 0, "SKU-3": 0}
    events: list[dict[str, Any]] = [
        json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")
    ]
    (summary,) = [e for e in events if e.get("event") == "inventory_sync.profile_finished"]
    assert summary["status"] == "SUCCESSFUL"
    for value in credentials.values():
        if "pass" in value or "secret" in value:
            assert value not in done.stdout + done.stderr
