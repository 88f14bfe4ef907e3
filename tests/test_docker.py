"""The container recipe (Dockerfile, docker/compose.yaml, docker/*.sh) states what the
issue asks for. Fast and without Docker: the files are parsed, and the scripts that can
run outside a container (the entrypoint, the healthcheck) are run. docker/ci-check.sh
does the slow part (wheels, install, batch, serve) in CI."""

from __future__ import annotations

import fnmatch
import http.server
import json
import os
import shlex
import stat
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from frd.cli import build_parser

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"
SCRIPTS = ("build-wheels.sh", "install.sh", "entrypoint.sh")
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX shell scripts")


# ---------------------------------------------------------------------------- parsing

@dataclass
class Instruction:
    keyword: str  # upper case
    args: str  # the rest of the (joined) line
    stage: int  # index of the FROM it belongs to
    line: int  # first line in the file

    @property
    def flags(self) -> dict[str, str]:
        """Leading --name=value flags (COPY --from=..., HEALTHCHECK --interval=...)."""
        out = {}
        for token in self.args.split():
            if not token.startswith("--"):
                break
            name, _, value = token[2:].partition("=")
            out[name] = value
        return out

    @property
    def rest(self) -> str:
        """The arguments after the leading flags."""
        tokens = self.args.split(" ")
        while tokens and (tokens[0].startswith("--") or tokens[0] == ""):
            tokens.pop(0)
        return " ".join(tokens).strip()

    def exec_form(self) -> list[str]:
        value = json.loads(self.rest)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
        return value


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped (Docker's rules:
    a comment line inside a continued instruction is removed, blank lines are skipped)."""
    out: list[Instruction] = []
    stage, buf, start = -1, "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not buf:
            start = number
        if line.endswith("\\"):
            buf += line[:-1].rstrip() + " "
            continue
        buf += line
        keyword, _, args = buf.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        out.append(Instruction(keyword, " ".join(args.split()), stage, start))
        buf = ""
    assert not buf, "the Dockerfile ends inside a continued instruction"
    return out


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def stages(instructions) -> list[list[Instruction]]:
    out: list[list[Instruction]] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            out.append([])
        assert out, f"line {ins.line}: {ins.keyword} before the first FROM"
        out[-1].append(ins)
    return out


@pytest.fixture(scope="module")
def final(stages) -> list[Instruction]:
    return stages[-1]


def only(stage: list[Instruction], keyword: str) -> list[Instruction]:
    return [i for i in stage if i.keyword == keyword]


def last(stage: list[Instruction], keyword: str) -> Instruction:
    found = only(stage, keyword)
    assert found, f"no {keyword} in the stage"
    return found[-1]


def env_of(stage: list[Instruction]) -> dict[str, str]:
    env = {}
    for ins in only(stage, "ENV"):
        for item in shlex.split(ins.args):
            key, sep, value = item.partition("=")
            assert sep, f"line {ins.line}: use ENV KEY=value"
            env[key] = value
    return env


def stage_name(stage: list[Instruction]) -> str | None:
    parts = stage[0].rest.split()
    return parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None


def copies(stage: list[Instruction]) -> list[tuple[dict, list[str], str]]:
    """(flags, sources, destination) of each COPY."""
    out = []
    for ins in only(stage, "COPY"):
        parts = ins.rest.split()
        out.append((ins.flags, parts[:-1], parts[-1]))
    return out


def installed_path(stage: list[Instruction], path: str) -> Path | None:
    """The repository file a path inside the image came from by a COPY of that stage
    (WORKDIR-relative destinations resolved)."""
    workdir = "/"
    mapping: dict[str, str] = {}
    for ins in stage:
        if ins.keyword == "WORKDIR":
            workdir = os.path.join(workdir, ins.rest)
        if ins.keyword == "COPY" and "from" not in ins.flags:
            *sources, dest = ins.rest.split()
            into_folder = dest.endswith("/") or len(sources) > 1
            dest = os.path.join(workdir, dest)
            for source in sources:
                target = os.path.join(dest, os.path.basename(source)) if into_folder else dest
                mapping[os.path.normpath(target)] = source
    resolved = os.path.normpath(os.path.join(workdir, path))
    return ROOT / mapping[resolved] if resolved in mapping else None


# ----------------------------------------------------------------------- Dockerfile

def test_final_stage_is_python_311_slim_and_the_builder_uses_the_same_base(stages):
    bases = [s[0].rest.split()[0] for s in stages]
    assert bases[-1].startswith("python:3.11-slim"), bases[-1]
    assert ":" in bases[-1] and not bases[-1].endswith(":latest")
    # Wheels compiled in the builder must fit the final stage's Python exactly.
    assert len(set(bases)) == 1, bases


def test_multi_stage_final_installs_the_builders_wheels_with_the_scripts(stages, final):
    assert len(stages) >= 2
    builder = stages[0]
    name = stage_name(builder)
    assert name == "builder"
    runs = " ".join(i.rest for i in only(builder, "RUN"))
    assert "build-wheels.sh /wheels" in runs
    from_builder = [(sources, dest) for flags, sources, dest in copies(final) if flags.get("from") == name]
    assert from_builder and from_builder[0][0] == ["/wheels"], from_builder
    wheel_dir = from_builder[0][1]
    final_runs = [i.rest for i in only(final, "RUN")]
    assert any(r.split()[0].endswith("/install.sh") and r.split()[1] == wheel_dir for r in final_runs), final_runs


def test_no_compiler_in_the_final_stage(stages, final):
    builder_runs = " ".join(i.rest for i in only(stages[0], "RUN"))
    assert "gcc" in builder_runs
    for ins in only(final, "RUN"):
        assert "apt-get install" not in ins.rest and "gcc" not in ins.rest, ins


def test_runs_as_a_non_root_user(final):
    user = last(final, "USER").rest.split(":")[0]
    assert user not in ("root", "0", "")
    if user.isdigit():
        assert int(user) >= 1000
        created = " ".join(i.rest for i in only(final, "RUN"))
        assert f"--uid {user}" in created  # a real passwd entry (home folder, name in logs)
    # USER comes after every RUN, so nothing later runs as root by accident.
    assert max(i.line for i in only(final, "RUN")) < last(final, "USER").line


def test_data_volume_and_port(final):
    volume = last(final, "VOLUME").rest
    volumes = json.loads(volume) if volume.startswith("[") else volume.split()
    assert "/data" in volumes
    assert env_of(final)["FRD_DATA_DIR"] == "/data"
    assert "8000" in last(final, "EXPOSE").rest.split()


def test_default_command_is_frd_serve_on_all_interfaces(final):
    cmd = last(final, "CMD").exec_form()
    assert cmd == ["frd", "serve", "--host", "0.0.0.0"]
    args = build_parser().parse_args(cmd[1:])
    assert args.command == "serve" and args.host == "0.0.0.0" and args.port == 8000


def test_entrypoint_is_the_installed_docker_entrypoint_script(final):
    entrypoint = last(final, "ENTRYPOINT").exec_form()
    assert len(entrypoint) == 1 and entrypoint[0].startswith("/")
    assert installed_path(final, entrypoint[0]) == ROOT / "docker" / "entrypoint.sh"


def test_every_referenced_script_is_an_executable_file_in_docker(stages):
    referenced = set()
    for stage in stages:
        for ins in stage:
            if ins.keyword not in ("RUN", "ENTRYPOINT", "CMD"):
                continue
            words = ins.exec_form() if ins.rest.startswith("[") else ins.rest.replace("&&", " ").split()
            for word in words:
                if word.endswith(".sh"):
                    source = installed_path(stage, word)
                    assert source is not None, f"line {ins.line}: {word} was not copied from the repository"
                    referenced.add(source)
    assert {ROOT / "docker" / s for s in SCRIPTS} <= referenced
    for script in referenced:
        assert script.parent == ROOT / "docker" and script.is_file(), script
        assert script.stat().st_mode & stat.S_IXUSR, f"{script} is not executable"
        text = script.read_text()
        assert text.startswith("#!/bin/sh\n"), f"{script}: POSIX sh expected"
        assert "\nset -eu\n" in text, script


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore's rule, simplified: the last matching pattern (on the path or one of
    its parent folders) decides; `!` re-includes."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        if any(fnmatch.fnmatchcase(c, pat) or fnmatch.fnmatchcase(c, pat.replace("**/", "")) for c in candidates):
            ignored = not negate
    return ignored


def test_copied_files_exist_and_are_in_the_build_context(stages):
    patterns = [l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines()
                if l.strip() and not l.startswith("#")]
    for stage in stages:
        for flags, sources, _ in copies(stage):
            if "from" in flags:
                continue
            for source in sources:
                assert (ROOT / source).exists(), source
                files = [source] if (ROOT / source).is_file() else [
                    str(p.relative_to(ROOT)) for p in (ROOT / source).rglob("*.py")]
                for f in files:
                    assert not _dockerignored(f, patterns), f"{f} is copied but excluded by .dockerignore"
    assert _dockerignored("tests/test_docker.py", patterns)  # the matcher can say no
    assert _dockerignored(".git/config", patterns)


@pytest.mark.skipif(tomllib is None, reason="needs Python 3.11's tomllib")
def test_the_builder_copies_every_package_the_wheel_contains(stages):
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.name for p in ROOT.iterdir()
                if (p / "__init__.py").is_file() and any(fnmatch.fnmatchcase(p.name, pat) for pat in include)}
    assert {"frd", "api"} <= packages
    copied = {os.path.normpath(s) for _, sources, _ in copies(stages[0]) for s in sources}
    assert packages <= copied, f"packages not copied into the builder: {packages - copied}"
    # The build reads all three: readme = README.md, setup.py compiles the engine's kernel.
    assert {"pyproject.toml", "setup.py", "README.md"} <= copied


@pytest.mark.skipif(tomllib is None, reason="needs Python 3.11's tomllib")
def test_image_extras_exist_and_include_dask_when_the_project_has_it(stages):
    args = dict(i.rest.split("=", 1) for i in only(stages[0], "ARG") if "=" in i.rest)
    extras = set(args["FRD_EXTRAS"].split(","))
    defined = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    assert "service" in extras and extras <= defined, (extras, defined)
    if "dask" in defined:  # the compose stack runs `dask scheduler` / `dask worker` from the image
        assert "dask" in extras


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802
        code = self.status if self.path == "/healthz" else 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_healthcheck_hits_healthz_with_python_and_fails_when_unhealthy(final, health_server):
    ins = last(final, "HEALTHCHECK")
    assert ins.rest.startswith("CMD ")
    cmd = json.loads(ins.rest[4:])
    text = " ".join(cmd)
    assert cmd[0] == "python" and "urllib" in text and "curl" not in text and "wget" not in text
    assert "http://127.0.0.1:8000/healthz" in text  # the default port of `frd serve`
    assert {"interval", "timeout", "retries"} <= set(ins.flags)

    def run(url):
        env = {**os.environ, "FRD_HEALTHCHECK_URL": url}
        return subprocess.run([sys.executable, *cmd[1:]], env=env, capture_output=True, timeout=30).returncode

    url = f"http://127.0.0.1:{health_server.server_port}/healthz"
    assert run(url) == 0
    _Health.status = 503
    try:
        assert run(url) != 0
    finally:
        _Health.status = 200
    assert run(f"http://127.0.0.1:{health_server.server_port}/nothing") != 0


# ----------------------------------------------------------------------- entrypoint

@pytest.fixture
def fake_frd(tmp_path):
    """A stand-in `frd` on PATH that records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "frd"
    fake.write_text('#!/bin/sh\necho "args: $*"\n')
    fake.chmod(0o755)
    return bin_dir


def entrypoint(*args, bin_dir, **env):
    full = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **env}
    return subprocess.run([str(ROOT / "docker" / "entrypoint.sh"), *args], env=full,
                          capture_output=True, text=True, timeout=30)


@posix_only
def test_entrypoint_defaults_to_frd_serve_and_creates_the_data_folder(fake_frd, tmp_path):
    data = tmp_path / "new" / "data"
    proc = entrypoint(bin_dir=fake_frd, FRD_DATA_DIR=str(data))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "args: serve --host 0.0.0.0"
    assert data.is_dir()
    other = tmp_path / "other"
    proc = entrypoint("frd", "serve", "--data-dir", str(other), bin_dir=fake_frd, FRD_DATA_DIR=str(data))
    assert proc.returncode == 0 and other.is_dir()


@posix_only
def test_entrypoint_refuses_an_unusable_data_folder_before_starting(fake_frd, tmp_path):
    (tmp_path / "file").write_text("")
    proc = entrypoint(bin_dir=fake_frd, FRD_DATA_DIR=str(tmp_path / "file" / "data"))
    assert proc.returncode == 1
    assert "args:" not in proc.stdout and "data folder" in proc.stderr


@posix_only
def test_entrypoint_passes_other_commands_through(fake_frd, tmp_path):
    proc = entrypoint("frd", "batch", "--input", "/in", bin_dir=fake_frd, FRD_DATA_DIR=str(tmp_path / "file" / "x"))
    assert proc.returncode == 0 and proc.stdout.strip() == "args: batch --input /in"  # no data-dir check
    proc = entrypoint("--version", bin_dir=fake_frd)
    assert proc.stdout.strip() == "args: --version"
    proc = entrypoint("sh", "-c", "exit 7", bin_dir=fake_frd)
    assert proc.returncode == 7  # exec'd: the command's own status


@posix_only
def test_build_wheels_refuses_an_extra_the_project_does_not_define(tmp_path):
    proc = subprocess.run([str(ROOT / "docker" / "build-wheels.sh"), str(tmp_path / "w"), "service,no-such-extra"],
                          env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "no-such-extra" in proc.stderr
    assert not list(tmp_path.glob("w/*.whl"))


# ------------------------------------------------------------------------ compose

@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _command(service: dict) -> list[str]:
    cmd = service["command"]
    return cmd if isinstance(cmd, list) else shlex.split(cmd)


def _mounts(service: dict) -> dict[str, str]:
    """target -> source of the service's volumes (short syntax)."""
    out = {}
    for v in service.get("volumes", []):
        source, target = v.split(":")[:2]
        out[target] = source
    return out


def _container_ports(service: dict) -> set[int]:
    return {int(str(p).split(":")[-1].split("/")[0]) for p in service.get("ports", [])}


def test_compose_has_api_scheduler_and_two_workers_from_one_image(compose):
    services = compose["services"]
    assert {"api", "scheduler", "worker-1", "worker-2"} <= set(services)
    images = {s["image"] for s in services.values()}
    builds = {json.dumps(s["build"], sort_keys=True) for s in services.values()}
    assert len(images) == 1 and len(builds) == 1, (images, builds)
    build = next(iter(services.values()))["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert "dask" in build["args"]["FRD_EXTRAS"]


def test_compose_api_runs_frd_serve_with_keys_and_the_scheduler(compose):
    api = compose["services"]["api"]
    args = build_parser().parse_args(_command(api)[1:])
    assert _command(api)[0] == "frd" and args.command == "serve" and args.host == "0.0.0.0"
    assert args.port in _container_ports(api)
    env = api["environment"]
    assert env["FRD_API_KEYS"].startswith("${FRD_API_KEYS")  # from the caller's environment
    assert env["FRD_DASK_ADDRESS"] == "tcp://scheduler:8786"
    assert "/healthz" in " ".join(api["healthcheck"]["test"])
    assert api["depends_on"]["scheduler"]["condition"] == "service_healthy"


def test_compose_scheduler_and_workers_run_dask(compose):
    services = compose["services"]
    scheduler = services["scheduler"]
    assert _command(scheduler) == ["dask", "scheduler"]
    assert {8786, 8787} <= _container_ports(scheduler)
    # Dask has no authentication: the scheduler is published on the host's loopback only.
    assert all(str(p).startswith("127.0.0.1:") for p in scheduler["ports"]), scheduler["ports"]
    assert ":8787/health" in " ".join(scheduler["healthcheck"]["test"])
    address = services["api"]["environment"]["FRD_DASK_ADDRESS"]
    for name in ("worker-1", "worker-2"):
        worker = services[name]
        assert _command(worker) == ["dask", "worker", address, "--nworkers", "1", "--nthreads", "1"]
        assert worker["depends_on"]["scheduler"]["condition"] == "service_healthy"
        # The image's /healthz check does not apply to a worker: it must be replaced or off.
        assert "healthcheck" in worker


def test_compose_shares_the_data_volume_between_api_and_workers(compose):
    services = compose["services"]
    data_dir = services["api"]["environment"]["FRD_DATA_DIR"]
    assert data_dir == "/data"
    volume = _mounts(services["api"])[data_dir]
    assert volume in compose["volumes"]  # a named volume, not a host folder
    for name in ("worker-1", "worker-2"):
        assert _mounts(services[name]).get(data_dir) == volume, name
