"""docker-compose.yml cannot run here (no Docker engine); validate it as far as this machine allows.

`docker-compose config` checks the file and resolves its anchors and `${VAR:-default}`s (run without
those variables, so the defaults are what is checked). Each app's own settings validation is then run
on the environment compose gives it (plus its image's ENV), and each image's command is checked
against the repository: the module, its arguments (parsed by its own argparse), the gunicorn config
and `module:app`, and the files the image copies.
"""
from __future__ import annotations

import ast
import fnmatch
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from core.settings import ENV_NAMES
from helpers import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"
# The one image built here that keeps its base image's root user: Microsoft's Azure Functions host
# (function_app/Dockerfile explains why). Every other image must switch to a non-root USER.
RUNS_AS_ROOT = {"function_app/Dockerfile": "the Azure Functions host image"}
WEBCHAT_ORIGIN = "http://localhost:7100"  # the page devstack/standins/webchat.py serves (its webchat port)
ADMIN_ORIGIN = "http://localhost:7104"


@functools.cache
def _compose_config_text() -> str:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is not installed (.ci/run installs Debian's package)"
    referenced = set(re.findall(r"\$\{(\w+)", COMPOSE_FILE.read_text()))
    env = {k: v for k, v in os.environ.items() if k not in referenced}  # the file's defaults, not ours
    checked = subprocess.run([binary, "config"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert checked.returncode == 0, checked.stderr
    return checked.stdout


def compose_config() -> dict:
    return yaml.safe_load(_compose_config_text())


def compose_source() -> dict:
    """The file as written (`config` rewrites a `depends_on` list into conditions)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


# ---- Dockerfiles ----------------------------------------------------------------------------------

def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in (ROOT / dockerfile).read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    parsed = [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]
    last_from = max(i for i, (op, _) in enumerate(parsed) if op == "FROM")
    return parsed[last_from:]


def all_instructions(dockerfile: str) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / dockerfile).read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def exec_form(args: str) -> list[str]:
    argv = json.loads(args)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), f"not exec form: {args}"
    return argv


def image_env(dockerfile: str) -> dict[str, str]:
    env = {}
    for op, args in instructions(dockerfile):
        if op == "ENV":
            for pair in shlex.split(args):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def copies(dockerfile: str) -> list[tuple[list[str], str]]:
    """(sources, destination) of the final stage's COPYs from the build context."""
    found = []
    for op, args in instructions(dockerfile):
        if op == "COPY":
            words = shlex.split(args)
            if any(w.startswith("--from=") for w in words):
                continue
            words = [w for w in words if not w.startswith("--")]
            found.append((words[:-1], words[-1]))
    return found


def workdir(dockerfile: str) -> str:
    dirs = [args for op, args in instructions(dockerfile) if op == "WORKDIR"]
    return dirs[-1] if dirs else "/"


def in_image(dockerfile: str, path: str) -> bool:
    """Whether the repository file `path` is copied into the image at WORKDIR/`path` (where the
    command, run in WORKDIR, looks for it)."""
    base = workdir(dockerfile).rstrip("/")
    for sources, dest in copies(dockerfile):
        dest = dest if dest.startswith("/") else f"{base}/{dest}"
        dest = re.sub(r"/\.?/?$", "/", dest.replace("/./", "/"))
        for source in sources:
            source = source.rstrip("/")
            if (ROOT / source).is_dir() and path.startswith(source + "/"):
                landed = dest.rstrip("/") + "/" + path[len(source) + 1:]
            elif fnmatch.fnmatch(path, source):
                landed = dest + Path(path).name if dest.endswith("/") or len(sources) > 1 else dest
            else:
                continue
            if landed == f"{base}/{path}":
                return True
    return False


def image_argv(service: dict) -> list[str]:
    """ENTRYPOINT + (compose `command` or CMD), as the container runs it."""
    ops = instructions(service["build"]["dockerfile"])
    entrypoint = next((exec_form(a) for op, a in reversed(ops) if op == "ENTRYPOINT"), [])
    cmd = next((exec_form(a) for op, a in reversed(ops) if op == "CMD"), [])
    return entrypoint + (service["command"] if "command" in service else cmd)


def published(service: dict) -> set[str]:
    """"HOST:CONTAINER" of each published port (`config` writes them in the long syntax)."""
    return {p if isinstance(p, str) else f"{p['published']}:{p['target']}" for p in service.get("ports", [])}


def storage_connection(settings) -> str:
    """The storage connection string of an app's settings: a string setting, or (since the settings
    accept Entra ID forms too) a StorageAccount's."""
    if hasattr(settings, "storage_connection"):
        return settings.storage_connection
    return settings.storage.connection_string if settings.storage else ""


def built_services() -> dict[str, dict]:
    return {name: s for name, s in compose_config()["services"].items() if "build" in s}


def service_env(service: dict) -> dict[str, str]:
    """What the app in the container reads: its image's ENV, then compose's environment."""
    env = image_env(service["build"]["dockerfile"]) if "build" in service else {}
    return {**env, **{k: "" if v is None else str(v) for k, v in service.get("environment", {}).items()}}


# ---- the compose file ---------------------------------------------------------------------------

def test_the_compose_file_is_valid_and_describes_the_whole_stack():
    services = compose_config()["services"]
    assert {"azurite", "cosmosdb", "trainer", "inference", "nlu", "functions", "standins", "admin"} <= set(services)
    for service in services.values():
        if "build" in service:
            assert (ROOT / service["build"]["dockerfile"]).exists()
    assert "ports" not in services["inference"], "replicas behind nginx publish no port (--scale)"
    assert services["functions"]["build"]["dockerfile"] == "function_app/Dockerfile"
    base = (ROOT / "function_app" / "Dockerfile").read_text()
    assert "FROM mcr.microsoft.com/azure-functions/python:4-python3.11" in base


def test_the_azurite_image_is_the_version_npm_installs():
    image = compose_config()["services"]["azurite"]["image"]
    repository, _, tag = image.rpartition(":")
    assert repository == "mcr.microsoft.com/azure-storage/azurite"
    assert tag == json.loads((ROOT / "package.json").read_text())["devDependencies"]["azurite"]
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]["node_modules/azurite"]["version"]
    assert tag == locked


def test_every_dependency_waits_for_a_health_check_or_a_finished_run():
    written = compose_source()["services"]
    services = compose_config()["services"]
    for name, service in written.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for other, spec in depends.items():
            condition = (spec or {}).get("condition")
            assert condition in ("service_healthy", "service_completed_successfully"), f"{name} -> {other}: {condition}"
            target = services[other]
            if condition == "service_healthy":
                dockerfile = target.get("build", {}).get("dockerfile")
                in_dockerfile = dockerfile and any(op == "HEALTHCHECK" and not a.upper().startswith("NONE")
                                                   for op, a in instructions(dockerfile))
                check = target.get("healthcheck", {})
                assert (check and not check.get("disable") and check.get("test")) or in_dockerfile, \
                    f"{name} waits for {other} to be healthy, but {other} has no health check"
            else:
                assert "restart" not in target, f"{other} is one-shot: a restart policy would never let it finish"
    # the ones the issue named: the trainer waits for Azurite, the worker for the trainer and Azurite
    assert written["trainer"]["depends_on"]["azurite"]["condition"] == "service_healthy"
    assert set(written["training-worker"]["depends_on"]) == {"trainer", "azurite"}


def test_the_health_checks_are_well_formed():
    for name, service in compose_config()["services"].items():
        test = service.get("healthcheck", {}).get("test")
        if not test:
            continue
        assert test[0] == "CMD", f"{name}: exec form (no shell is assumed in the image)"
        command = [part.replace("$$", "$") for part in test[1:]]  # compose's escape of a literal $
        if command[:2] == ["python", "-c"]:
            compile(command[2], f"<{name} health check>", "exec")
        elif command[:2] == ["bash", "-c"]:
            checked = subprocess.run(["bash", "-n", "-c", command[2]], capture_output=True, text=True)
            assert checked.returncode == 0 and not checked.stderr, f"{name}: {checked.stderr}"  # some errors exit 0
        elif command[:2] == ["node", "-e"] and shutil.which("node"):
            checked = subprocess.run(["node", "--check"], input=command[2], capture_output=True, text=True)
            assert checked.returncode == 0, f"{name}: {checked.stderr}"


# ---- each app's settings, validated by the app ----------------------------------------------------

def test_the_function_app_gets_every_setting_in_compose():
    environment = compose_config()["services"]["functions"]["environment"]
    assert set(ENV_NAMES.values()) <= set(environment)


def test_the_function_apps_settings_pass_its_own_validation():
    from core.settings import Settings

    settings = Settings.from_env(service_env(compose_config()["services"]["functions"]))
    assert settings.cosmos_endpoint == "http://cosmosdb:8081"


def test_the_functions_host_allows_the_web_chat_page_and_the_admin_site_cross_origin():
    services = compose_config()["services"]
    environment = services["functions"]["environment"]
    assert "Host__CORS" not in environment, "a Core Tools setting; the host in the image ignores it"
    assert environment.get("FUNCTIONS_ENABLE_CORS_CONFIGURATION") == "1", "without it the host applies no CORS"
    origins = json.loads(environment["CORS_ALLOWED_ORIGINS"])  # the host parses it as a JSON array
    assert isinstance(origins, list) and set(origins) == {WEBCHAT_ORIGIN, ADMIN_ORIGIN}
    assert "*" not in origins
    assert environment.get("CORS_SUPPORT_CREDENTIALS") == "false"  # the page sends a bearer token
    # the origins are where the browser finds the page and the site, and the page calls the published port
    assert "7100:7100" in published(services["standins"]) and "7104:7104" in published(services["admin"])
    functions_url = services["standins"]["command"][services["standins"]["command"].index("--functions-url") + 1]
    assert f"{functions_url.rsplit(':', 1)[1]}:80" in published(services["functions"])


def test_the_admin_site_gets_every_setting_it_reads_and_runs_as_a_non_root_user_with_a_health_check():
    from admin_site import settings as admin_config
    from admin_site.settings import ENV_NAMES as ADMIN_SETTINGS
    from admin_site.settings import Settings

    environment = compose_config()["services"]["admin"]["environment"]
    Settings.from_env(environment)  # valid as it stands
    needed = {"ADMIN_SECRET_KEY", "COSMOS_ENDPOINT", "AzureWebJobsStorage", "FUNCTIONS_URL", "QNA_ENDPOINT"}
    assert needed <= set(environment)
    read = set(ADMIN_SETTINGS.values()) | {getattr(admin_config, "STORAGE_SETTING", "AzureWebJobsStorage")}
    assert set(environment) <= read
    image = (ROOT / "admin_site" / "Dockerfile").read_text()
    assert "\nUSER admin\n" in image and "HEALTHCHECK" in image


def test_the_admin_sites_settings_pass_its_own_validation_with_its_image_env():
    from admin_site.settings import Settings

    config = Settings.from_env(service_env(compose_config()["services"]["admin"]))
    assert config.functions_url == "http://functions:80"  # the functions container's port


def test_the_training_worker_is_a_service_that_takes_the_admin_sites_requests():
    from training_jobs import worker as worker_module
    from training_jobs.worker import ENV_NAMES, WorkerSettings

    services = compose_config()["services"]
    worker = services["training-worker"]
    assert worker["command"] == ["worker"] and worker["build"]["dockerfile"] == "training_jobs/Dockerfile"
    settings = WorkerSettings.from_env(worker["environment"])  # valid as it stands
    read = set(ENV_NAMES.values()) | set(getattr(worker_module, "STORAGE_SETTINGS", ()))
    assert set(worker["environment"]) <= read
    admin = services["admin"]["environment"]
    # the worker reads the requests, stores and registry the admin site writes
    assert (settings.store, settings.registry) == (admin["TRAINING_STORE"], admin["NLU_REGISTRY"])
    assert storage_connection(settings) == admin["AzureWebJobsStorage"]
    assert "HOROVOD_WITH_GLOO=1" in (ROOT / "training_jobs" / "Dockerfile").read_text()  # the local back-end


def test_the_training_workers_settings_pass_its_own_validation():
    from training_jobs.worker import WorkerSettings

    settings = WorkerSettings.from_env(service_env(compose_config()["services"]["training-worker"]))
    assert storage_connection(settings), "the worker refuses to start without the request queue's storage"
    assert settings.backend == "local" and settings.processes >= 1


def _registry_storage(env: dict[str, str]):
    """The account `nlu.registry` opens an azure:// registry with, from this environment."""
    from nlu import registry

    names = registry.CONNECTION_SETTINGS
    try:
        from switchboard.connections import storage_from_env
    except ImportError:  # the connection-string-only registry
        return next((env[n] for n in names if env.get(n)), None)
    return storage_from_env(env, *names)


def test_the_nlu_services_settings_pass_its_own_validation():
    from inference_container.app import api_keys_problem, settings_from_env

    env = service_env(compose_config()["services"]["inference"])
    settings = settings_from_env(env)
    # what create_app refuses (it cannot be called here: it starts loading the model)
    assert settings.model_dir or settings.registry
    assert settings.runtime in ("onnx", "keras")
    assert api_keys_problem(settings.api_keys) is None
    assert settings.registry.startswith("azure://") and _registry_storage(env), "no storage for the registry"


def test_the_function_app_sends_a_key_the_nlu_service_accepts_from_one_compose_variable():
    from inference_container.app import settings_from_env

    services = compose_config()["services"]
    accepted = settings_from_env(service_env(services["inference"])).api_keys
    assert services["functions"]["environment"]["NLU_API_KEY"] in accepted
    written = compose_source()["services"]
    # one variable feeds both ends, so `NLU_API_KEY=... docker compose up` changes them together
    assert written["inference"]["environment"]["NLU_API_KEYS"] == written["functions"]["environment"]["NLU_API_KEY"]
    assert "${NLU_API_KEY:-" in COMPOSE_FILE.read_text()
    for name in ("inference", "nlu"):  # the health checks need no key
        assert "/readyz" in " ".join(services[name]["healthcheck"]["test"])


def test_the_trainer_bootstraps_the_registry_the_nlu_service_and_the_worker_read():
    services = compose_config()["services"]
    trainer = services["trainer"]
    argv = trainer["command"]
    registry = argv[argv.index("--registry") + 1]
    assert registry == services["inference"]["environment"]["NLU_REGISTRY"]
    assert registry == services["training-worker"]["environment"]["NLU_REGISTRY"]
    assert _registry_storage(service_env(trainer)), "no storage for the registry"


# ---- the images' commands exist -------------------------------------------------------------------

def _module_file(module: str) -> str:
    path = module.replace(".", "/")
    for candidate in (f"{path}/__main__.py", f"{path}.py"):
        if (ROOT / candidate).exists():
            return candidate
    raise AssertionError(f"python -m {module}: no {path}/__main__.py or {path}.py in the repository")


def _defines(path: str, name: str) -> bool:
    """Whether the module binds `name` at its top level (an assignment, a def or an import)."""
    bound = set()
    for node in ast.parse((ROOT / path).read_text()).body:
        if isinstance(node, ast.Assign):
            bound |= {getattr(t, "id", None) for t in node.targets}
        elif isinstance(node, ast.AnnAssign):
            bound.add(getattr(node.target, "id", None))
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {alias.asname or alias.name for alias in node.names}
    return name in bound


def _check_standins_args(args: list[str], ports: set[str]) -> None:
    """Run devstack.standins' own main() with these arguments, its servers replaced by stubs."""
    import werkzeug.serving

    from devstack.standins import __main__ as standins

    bound = []

    class Server:
        def serve_forever(self):
            pass

    def make_server(host, port, app, threaded=False):
        bound.append((host, port))
        return Server()

    original = werkzeug.serving.make_server
    werkzeug.serving.make_server = make_server
    try:
        standins.main(args)
    finally:
        werkzeug.serving.make_server = original
    assert {host for host, _ in bound} == {"0.0.0.0"}, "reachable from other containers"
    assert {f"{port}:{port}" for _, port in bound} == ports


def test_every_image_command_names_what_the_repository_has():
    checked = set()
    for name, service in built_services().items():
        dockerfile = service["build"]["dockerfile"]
        argv = image_argv(service)
        if dockerfile in RUNS_AS_ROOT:  # the Functions host image: its base image's entry point
            assert not argv
            continue
        assert argv, f"{name}: no command"
        if argv[:2] == ["python", "-m"]:
            module, args = argv[2], argv[3:]
            assert in_image(dockerfile, _module_file(module)), f"{name}: {module} is not copied into the image"
            if module == "training_jobs":
                from training_jobs.__main__ import _parser

                parsed = _parser().parse_args(args)  # SystemExit (and the test fails) on what it refuses
                for option in ("data",):
                    if getattr(parsed, option, None):
                        path = getattr(parsed, option)
                        assert (ROOT / path).exists() and in_image(dockerfile, path), f"{name}: {path}"
            elif module == "devstack.standins":
                _check_standins_args(args, published(service))
            elif module == "admin_site":
                assert args == ["seed-demo"], f"{name}: python -m admin_site {args}"
                assert in_image(dockerfile, "training_jobs/data/demo.yml") and in_image(dockerfile,
                                                                                       "devstack/data/qna.json")
            else:
                raise AssertionError(f"{name}: no check for python -m {module}; add one")
        elif argv[0] == "gunicorn":
            config = argv[argv.index("-c") + 1]
            assert (ROOT / config).exists() and in_image(dockerfile, config), f"{name}: {config}"
            module, _, attribute = argv[-1].partition(":")
            path = _module_file(module)
            assert _defines(path, attribute), f"{name}: {path} defines no {attribute}"
            assert in_image(dockerfile, path), f"{name}: {path} is not copied into the image"
        else:
            raise AssertionError(f"{name}: no check for {argv}; add one")
        checked.add(name)
    assert {"trainer", "training-worker", "inference", "admin", "standins"} <= checked


def test_the_functions_image_carries_the_app_where_the_host_looks():
    dockerfile = "function_app/Dockerfile"
    root = image_env(dockerfile)["AzureWebJobsScriptRoot"]
    assert (["function_app/"], root) in copies(dockerfile)
    assert (ROOT / "function_app" / "function_app.py").exists() and (ROOT / "function_app" / "host.json").exists()
    routes = (ROOT / "function_app" / "blueprints" / "openapi.py").read_text()
    assert 'route="openapi.json"' in routes and "AuthLevel.ANONYMOUS" in routes  # what the health check GETs
    host = json.loads((ROOT / "function_app" / "host.json").read_text())
    check = " ".join(compose_config()["services"]["functions"]["healthcheck"]["test"])
    assert f"/{host['extensions']['http']['routePrefix']}/openapi.json" in check


def test_every_copy_source_exists_in_the_build_context():
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()]
    for dockerfile in {s["build"]["dockerfile"] for s in built_services().values()}:
        for op, args in all_instructions(dockerfile):
            if op != "COPY" or "--from=" in args:
                continue
            for source in [w for w in shlex.split(args) if not w.startswith("--")][:-1]:
                assert list(ROOT.glob(source.rstrip("/"))), f"{dockerfile}: COPY {source}: not in the repository"
                assert not any(fnmatch.fnmatch(source.rstrip("/"), pattern) for pattern in ignored), \
                    f"{dockerfile}: COPY {source}: excluded by .dockerignore"


# ---- non-root images ------------------------------------------------------------------------------

def test_no_image_built_here_runs_as_root():
    for dockerfile in sorted({s["build"]["dockerfile"] for s in built_services().values()}):
        users = [args.split(":")[0].strip() for op, args in instructions(dockerfile) if op == "USER"]
        if dockerfile in RUNS_AS_ROOT:
            assert not users, f"{dockerfile} has a USER now: take it off RUNS_AS_ROOT"
            assert "runs as root" in (ROOT / dockerfile).read_text(), f"{dockerfile}: say why it runs as root"
            continue
        assert users, f"{dockerfile}: no USER, so it runs as root"
        assert users[-1] not in ("root", "0"), f"{dockerfile}: USER {users[-1]}"
        created = " ".join(args for op, args in instructions(dockerfile) if op == "RUN")
        assert re.search(rf"useradd [^&]*\b{re.escape(users[-1])}\b", created), f"{dockerfile}: no useradd {users[-1]}"


def test_the_trainer_user_owns_what_the_trainer_writes():
    from training_jobs.worker import WorkerSettings

    dockerfile = "training_jobs/Dockerfile"
    run = " ".join(args for op, args in instructions(dockerfile) if op == "RUN")
    owned = set()
    for match in re.finditer(r"chown (?:-R )?\S+ ([^&]+)", run):
        owned |= set(match.group(1).split())
    services = [s for s in built_services().values() if s["build"]["dockerfile"] == dockerfile]
    for service in services:
        for volume in service.get("volumes", []):
            target = volume["target"] if isinstance(volume, dict) else volume.split(":")[1]
            assert target in owned, f"the volume on {target} would belong to root"
        work_dir = WorkerSettings.from_env(service_env(service)).work_dir
        if not work_dir.startswith("/"):
            work_dir = f"{workdir(dockerfile)}/{work_dir}"
        assert work_dir in owned, f"the worker's TRAINING_WORK_DIR {work_dir} would belong to root"
    assert "--create-home" in run or " -m " in run, "~/.cache (the pretrained vectors' table) needs a home"


# ---- the stand-ins' image is installed from the lock ---------------------------------------------

def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_the_standins_image_installs_what_standins_imports_from_the_lock():
    requirements = ROOT / "devstack" / "requirements.txt"
    wanted, locked = _pins(requirements), _pins(ROOT / "requirements.lock")
    for name, version in wanted.items():
        assert locked.get(name) == version, (
            f"devstack/requirements.txt: {name}=={version}, the lock: {locked.get(name)}")
    modules = (ROOT / "devstack" / "standins").glob("*.py")
    nodes = [node for path in modules for node in ast.walk(ast.parse(path.read_text()))]
    imported = {alias.name.split(".")[0] for node in nodes if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in nodes
                 if isinstance(node, ast.ImportFrom) and node.module and not node.level}
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m not in ("__future__", "devstack")}
    assert third_party and {m.lower() for m in third_party} <= set(wanted), f"not in the requirements: {third_party}"
    runs = [args for op, args in instructions("devstack/Dockerfile") if op == "RUN" and "pip install" in args]
    assert runs and all("-c requirements.lock" in r and "-r devstack/requirements.txt" in r for r in runs)
    assert in_image("devstack/Dockerfile", "requirements.lock")
    assert not re.search(r"pip install[^&]*==", " ".join(runs)), "versions come from the files, not the Dockerfile"
