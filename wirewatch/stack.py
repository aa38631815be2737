"""The local stack: real Apache Kafka (KRaft) and Elasticsearch 8 on loopback.

Both come from Maven Central through the Maven project in ``deploy/maven``
(the one place their versions are pinned) into ``<state_dir>/cache``, and run
as child processes that this module starts, watches and stops by pid file.

Elasticsearch is Elastic's own ``integ-test-zip`` distribution of the real
server: the only Elasticsearch 8 server Maven Central serves (the
``org.codelibs`` cluster runner stops at 7.10 there). Its launcher refuses to
run as root, so when we are root the node runs as ``nobody`` (via setpriv).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import signal
import stat
import socket
import subprocess
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import httpx

from wirewatch.settings import StackSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
MAVEN_POM = REPO_ROOT / "deploy" / "maven" / "pom.xml"
ES_PLUGIN_DIR = REPO_ROOT / "deploy" / "es-plugin"
NOBODY_UID = 65534
LOG_TAIL_LINES = 25


class StackError(Exception):
    """A stack operation that cannot go on; the message says what to do."""


# ---------------------------------------------------------------- versions


def pinned_versions(pom: Path = MAVEN_POM) -> dict[str, str]:
    """Versions pinned in deploy/maven/pom.xml (<kafka.version>, <elasticsearch.version>)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    props = ET.parse(pom).getroot().find("m:properties", ns)
    if props is None:
        raise StackError(f"{pom}: no <properties>")
    found = {child.tag.split("}", 1)[1]: (child.text or "").strip() for child in props}
    return {"kafka": found["kafka.version"], "elasticsearch": found["elasticsearch.version"]}


# ---------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    state: Path
    kafka_version: str
    es_version: str
    cache_dir: Path | None = None

    @property
    def cache(self) -> Path:
        return self.cache_dir or self.state / "cache"

    @property
    def kafka_libs(self) -> Path:
        return self.cache / f"kafka-{self.kafka_version}" / "libs"

    @property
    def es_home(self) -> Path:
        """The distribution the node runs from (a copy the unprivileged user can read, if needed)."""
        home = self.cache / f"elasticsearch-{self.es_version}"
        return home if not _needs_unprivileged_copy(home) else self.es_private_root / home.name

    @property
    def es_downloaded(self) -> Path:
        return self.cache / f"elasticsearch-{self.es_version}"

    @property
    def es_private_root(self) -> Path:
        """Under /tmp, for when the node runs as `nobody` and cannot reach the state directory."""
        digest = hashlib.sha256(str(self.state).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"wirewatch-es-{digest}"

    @property
    def kafka_dir(self) -> Path:
        return self.state / "kafka"

    @property
    def es_dir(self) -> Path:
        wanted = self.state / "elasticsearch"
        return wanted if not _needs_unprivileged_copy(self.state) else self.es_private_root / "node"

    def pid_file(self, service: str) -> Path:
        if service == "elasticsearch":
            return self.es_dir / "es.pid"  # written by Elasticsearch itself once it runs
        return self.state / f"{service}.pid"

    def group_file(self, service: str) -> Path:
        """Process group of what we launched: it covers a node still starting (no pid file yet)."""
        return self.state / f"{service}.pgid"

    def log_file(self, service: str) -> Path:
        return self.state / f"{service}.log"


def _reachable_by_others(path: Path) -> bool:
    """Can a user that owns nothing on the way (nobody) get to `path`?"""
    for directory in [path, *path.parents]:
        try:
            mode = directory.stat().st_mode
        except FileNotFoundError:
            continue  # created later, by us, with the right owner
        if not mode & stat.S_IXOTH:
            return False
    return True


def _needs_unprivileged_copy(path: Path) -> bool:
    return os.geteuid() == 0 and not _reachable_by_others(path.resolve())


def layout_for(stack: StackSettings) -> Layout:
    versions = pinned_versions()
    cache = stack.cache_dir.resolve() if stack.cache_dir else None
    return Layout(stack.state_dir.resolve(), versions["kafka"], versions["elasticsearch"], cache)


# ---------------------------------------------------------------- probes


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def kafka_answers(bootstrap: str, timeout_s: float = 5.0) -> bool:
    """True when a broker answers a metadata request within the deadline."""
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    first = bootstrap.split(",")[0]
    host, _, port = first.rpartition(":")
    if not port_open(host or "127.0.0.1", int(port), timeout_s=min(timeout_s, 1.0)):
        return False
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap.split(","),
            request_timeout_ms=int(timeout_s * 1000) + 1000,
            connections_max_idle_ms=int(timeout_s * 1000) + 5000,
            enable_auto_commit=False,
        )
    except KafkaError:
        return False
    try:
        return consumer.topics() is not None
    except KafkaError:
        return False
    finally:
        consumer.close()


def kafka_coordinator_ready(bootstrap: str, timeout_s: float = 5.0) -> bool:
    """True once the broker can coordinate consumer groups (a new broker creates its
    offsets topic on the first request, which takes a moment)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=int(timeout_s * 1000) + 1000)
    except KafkaError:
        return False
    try:
        admin.describe_groups(["wirewatch-stack-probe"])
        return True
    except KafkaError:
        return False
    finally:
        admin.close()


def es_health(url: str, timeout_s: float = 5.0) -> dict | None:
    try:
        response = httpx.get(f"{url}/_cluster/health", timeout=timeout_s)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def es_answers(url: str, timeout_s: float = 5.0) -> bool:
    health = es_health(url, timeout_s)
    return bool(health) and health.get("status") in ("yellow", "green")


def es_version(url: str, timeout_s: float = 5.0) -> str | None:
    try:
        response = httpx.get(f"{url}/_nodes/_local", params={"filter_path": "nodes.*.version"}, timeout=timeout_s)
        nodes = response.json().get("nodes", {})
    except (httpx.HTTPError, ValueError):
        return None
    return next((n.get("version") for n in nodes.values()), None)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; it is not running.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


# ---------------------------------------------------------------- prerequisites


def find_java(stack: StackSettings) -> Path:
    candidates = []
    if stack.java_home:
        candidates.append(stack.java_home / "bin" / "java")
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve())
    for java in candidates:
        if java.is_file() and os.access(java, os.X_OK):
            return java
    raise StackError(
        "no Java found: install a JDK 17 or newer (Debian/Ubuntu: `apt-get install openjdk-17-jdk-headless`) "
        "or set JAVA_HOME / WIREWATCH_STACK_JAVA_HOME"
    )


def java_home_of(java: Path) -> Path:
    return java.parent.parent


# ---------------------------------------------------------------- fetch


def fetched(layout: Layout) -> bool:
    return (layout.kafka_libs / f"kafka_2.13-{layout.kafka_version}.jar").is_file() and (
        layout.es_downloaded / "lib"
    ).is_dir()


def fetch(stack: StackSettings, *, quiet: bool = False) -> Layout:
    """Download the jars once into the cache (a no-op when they are there)."""
    layout = layout_for(stack)
    if fetched(layout):
        install_es_plugin(layout, quiet=quiet)
        remove_other_versions(layout)
        return layout
    mvn = shutil.which("mvn")
    if not mvn:
        raise StackError("Maven not found: install it (Debian/Ubuntu: `apt-get install maven`)")
    find_java(stack)
    layout.cache.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"fetching Kafka {layout.kafka_version} and Elasticsearch {layout.es_version} from Maven Central "
              f"into {layout.cache} (once)...", flush=True)
    cmd = [mvn, "-B", "-q", "-f", str(MAVEN_POM), "package", f"-Dstack.cache={layout.cache}"]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    except subprocess.TimeoutExpired:
        raise StackError("Maven did not finish downloading within 20 minutes; check the network and retry") from None
    if result.returncode != 0 or not fetched(layout):
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise StackError(f"downloading the stack with Maven failed (exit {result.returncode}):\n{tail}")
    install_es_plugin(layout, quiet=quiet)
    remove_other_versions(layout)
    return layout


def remove_other_versions(layout: Layout) -> None:
    """Old versions' jars go once the pinned ones are in: the cache must not grow with each bump."""
    keep = {layout.kafka_libs.parent.name, layout.es_downloaded.name}
    for path in layout.cache.glob("*-*"):
        if path.is_dir() and path.name.split("-")[0] in ("kafka", "elasticsearch") and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def install_es_plugin(layout: Layout, *, quiet: bool = False) -> None:
    """Build and unpack Wirewatch's analysis plugin into the ES distribution, if the project has one."""
    script = ES_PLUGIN_DIR / "install.sh"
    marker = layout.es_downloaded / ".wirewatch-analysis-installed"  # not in plugins/: ES reads every entry there
    if not script.is_file():
        return
    wanted = plugin_source_hash()
    if marker.is_file() and marker.read_text().strip() == wanted:
        return
    if not quiet:
        print("building Wirewatch's Elasticsearch analysis plugin...", flush=True)
    result = subprocess.run(["bash", str(script), str(layout.es_downloaded), layout.es_version],
                            capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise StackError(f"building the Elasticsearch analysis plugin failed:\n{tail}")
    marker.write_text(wanted)


def plugin_source_hash() -> str:
    """Changes when the plugin's sources change, so that `stack up` reinstalls it."""
    digest = hashlib.sha256()
    for path in sorted(ES_PLUGIN_DIR.rglob("*")):
        if path.is_file() and "target" not in path.relative_to(ES_PLUGIN_DIR).parts:
            digest.update(str(path.relative_to(ES_PLUGIN_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- services


@dataclass
class ServiceStatus:
    name: str
    state: str  # running, stopped, stale, foreign
    address: str
    version: str | None
    pid: int | None


def _our_pid(layout: Layout, service: str, marker: str) -> int | None:
    pid = read_pid(layout.pid_file(service))
    if pid and pid_alive(pid) and marker in pid_cmdline(pid):
        return pid
    return None


KAFKA_MARKER = "kafka.Kafka"
ES_MARKER = "org.elasticsearch"


def _service_state(pid: int | None, port: int, answers) -> str:
    if pid:
        return "running" if answers() else "starting"
    return "foreign" if port_open("127.0.0.1", port) else "stopped"


def kafka_status(stack: StackSettings, layout: Layout) -> ServiceStatus:
    address = f"127.0.0.1:{stack.kafka_port}"
    pid = _our_pid(layout, "kafka", KAFKA_MARKER)
    state = _service_state(pid, stack.kafka_port, lambda: kafka_answers(address, 3))
    return ServiceStatus("kafka", state, address, layout.kafka_version, pid)


def es_status(stack: StackSettings, layout: Layout) -> ServiceStatus:
    url = f"http://127.0.0.1:{stack.es_port}"
    pid = _our_pid(layout, "elasticsearch", ES_MARKER)
    state = _service_state(pid, stack.es_port, lambda: es_answers(url, 3))
    version = (es_version(url) if state == "running" else None) or layout.es_version
    return ServiceStatus("elasticsearch", state, url, version, pid)


def _kafka_properties(stack: StackSettings, layout: Layout) -> str:
    port, controller = stack.kafka_port, stack.kafka_port + 1
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"controller.quorum.voters=1@127.0.0.1:{controller}",
        f"log.dirs={layout.kafka_dir / 'data'}",
        "num.partitions=4",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=10",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "log.retention.hours=168",
        "auto.create.topics.enable=true",
        "",
    ])


_KAFKA_LOG4J = """Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout: {Pattern: "[%d] %p %m (%c)%n"}
  Loggers:
    Root: {level: INFO, AppenderRef: [{ref: STDOUT}]}
    Logger:
      - {name: kafka.request.logger, level: WARN}
      - {name: org.apache.kafka.controller, level: WARN}
      - {name: state.change.logger, level: WARN}
"""


def _kafka_java(stack: StackSettings, layout: Layout, java: Path, main: str, *args: str) -> list[str]:
    return [
        str(java), f"-Xms{stack.kafka_heap}", f"-Xmx{stack.kafka_heap}", "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={layout.kafka_dir / 'log4j2.yaml'}",
        "-cp", f"{layout.kafka_libs}/*", main, *args,
    ]


def new_cluster_id() -> str:
    """A random KRaft cluster id: 16 bytes in URL-safe base64 without padding.

    Like Kafka's own Uuid.randomUuid, never one that starts with "-": the storage tool's
    argument parser would read it as an option (1 id in 64 did, and formatting failed).
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def start_kafka(stack: StackSettings, layout: Layout, java: Path) -> subprocess.Popen:
    kdir = layout.kafka_dir
    (kdir / "data").mkdir(parents=True, exist_ok=True)
    props = kdir / "server.properties"
    props.write_text(_kafka_properties(stack, layout))
    (kdir / "log4j2.yaml").write_text(_KAFKA_LOG4J)
    if not (kdir / "data" / "meta.properties").is_file():
        cmd = _kafka_java(
            stack, layout, java, "kafka.tools.StorageTool", "format",
            f"--cluster-id={new_cluster_id()}", "-c", str(props),
        )
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise StackError(f"formatting Kafka's storage failed:\n{(result.stdout + result.stderr)[-2000:]}")
    log = open(layout.log_file("kafka"), "ab")
    proc = subprocess.Popen(
        _kafka_java(stack, layout, java, "kafka.Kafka", str(props)),
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    layout.pid_file("kafka").write_text(str(proc.pid))
    layout.group_file("kafka").write_text(str(proc.pid))  # a new session: its pid is the group
    return proc


def _es_config(stack: StackSettings, layout: Layout) -> str:
    edir = layout.es_dir
    return "\n".join([
        "cluster.name: wirewatch-local",
        "node.name: wirewatch-1",
        f"path.data: {edir / 'data'}",
        f"path.logs: {edir / 'logs'}",
        "network.host: 127.0.0.1",
        f"http.port: {stack.es_port}",
        f"transport.port: {stack.es_port + 100}",
        "discovery.type: single-node",
        # The local node has no TLS or users; production clusters keep security on.
        "xpack.security.enabled: false",
        # A nearly full laptop disk must not make the indices read-only.
        "cluster.routing.allocation.disk.threshold_enabled: false",
        "action.destructive_requires_name: false",
        "",
    ])


def _chown_tree(path: Path, uid: int) -> None:
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, uid)
        for name in files:
            os.chown(os.path.join(root, name), uid, uid)


def _prepare_es_home(layout: Layout) -> None:
    """Copy the distribution where `nobody` can read it, when the cache is out of its reach."""
    home, source = layout.es_home, layout.es_downloaded
    if home == source:
        return
    stamp = source / ".wirewatch-analysis-installed"
    copied = home / ".wirewatch-analysis-installed"
    if home.is_dir() and (not stamp.is_file() or (copied.is_file() and copied.read_text() == stamp.read_text())):
        return
    shutil.rmtree(home, ignore_errors=True)
    home.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(home.parent, 0o755)
    shutil.copytree(source, home, symlinks=True)


def start_es(stack: StackSettings, layout: Layout, java: Path) -> subprocess.Popen:
    _prepare_es_home(layout)
    edir = layout.es_dir
    conf = edir / "config"
    for sub in ("data", "logs", "tmp", "config"):
        (edir / sub).mkdir(parents=True, exist_ok=True)
    for name in ("jvm.options", "log4j2.properties"):
        shutil.copy(layout.es_home / "config" / name, conf / name)
    (conf / "jvm.options.d").mkdir(exist_ok=True)
    (conf / "elasticsearch.yml").write_text(_es_config(stack, layout))
    pid_file = layout.pid_file("elasticsearch")
    pid_file.unlink(missing_ok=True)
    env = dict(os.environ)
    env.update({
        "ES_JAVA_HOME": str(java_home_of(java)),
        "ES_PATH_CONF": str(conf),
        "ES_TMPDIR": str(edir / "tmp"),
        "ES_JAVA_OPTS": f"-Xms{stack.es_heap} -Xmx{stack.es_heap}",
    })
    cmd = [str(layout.es_home / "bin" / "elasticsearch"), "-d", "-p", str(pid_file)]
    if os.geteuid() == 0:
        # Elasticsearch refuses to run as root; the node gets its own unprivileged user.
        edir.parent.mkdir(parents=True, exist_ok=True)
        _chown_tree(edir, NOBODY_UID)
        env["HOME"] = str(edir)
        cmd = ["setpriv", f"--reuid={NOBODY_UID}", f"--regid={NOBODY_UID}", "--clear-groups", *cmd]
    log = open(layout.log_file("elasticsearch"), "ab")
    launcher = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    # The node is a child of the launcher and stays in its process group.
    layout.group_file("elasticsearch").write_text(str(launcher.pid))
    return launcher


def _wait(what: str, ready, deadline: float, failed) -> None:
    while time.monotonic() < deadline:
        if ready():
            return
        problem = failed()
        if problem:
            raise StackError(problem)
        time.sleep(0.5)
    raise StackError(f"{what} did not answer before the deadline")


def _check_ports(stack: StackSettings) -> None:
    for port, what in ((stack.kafka_port, "Kafka"), (stack.kafka_port + 1, "Kafka's controller"),
                       (stack.es_port, "Elasticsearch"), (stack.es_port + 100, "Elasticsearch's transport")):
        if port_open("127.0.0.1", port):
            raise StackError(
                f"port {port} ({what}) is already taken by a process that wirewatch did not start; "
                f"stop it or choose other ports (WIREWATCH_STACK_KAFKA_PORT / WIREWATCH_STACK_ES_PORT)"
            )


def up(stack: StackSettings, *, quiet: bool = False) -> list[ServiceStatus]:
    """Start whatever is not running and wait until both answer. Idempotent."""
    layout = fetch(stack, quiet=quiet)
    layout.state.mkdir(parents=True, exist_ok=True)
    java = find_java(stack)
    kafka, es = kafka_status(stack, layout), es_status(stack, layout)
    for status in (kafka, es):
        if status.state == "foreign":
            raise StackError(
                f"{status.address} ({status.name}) is already taken by a process that wirewatch did not start; "
                "stop it or choose other ports (WIREWATCH_STACK_KAFKA_PORT / WIREWATCH_STACK_ES_PORT)"
            )
    if kafka.state == "stopped" and es.state == "stopped":
        _check_ports(stack)
    deadline = time.monotonic() + stack.start_timeout_s
    try:
        _start_and_wait(stack, layout, java, kafka, es, deadline, quiet)
    except BaseException:
        # Leave nothing half-started behind: stop what this call launched.
        for status in (kafka, es):
            if status.state == "stopped":
                _stop_service(stack, layout, status.name)
        raise
    return [kafka_status(stack, layout), es_status(stack, layout)]


def _start_and_wait(stack, layout, java, kafka: ServiceStatus, es: ServiceStatus, deadline: float, quiet: bool) -> None:
    es_launcher = None
    if es.state == "stopped":
        es_launcher = start_es(stack, layout, java)
        if not quiet:
            print(f"starting Elasticsearch {layout.es_version} on {es.address} ...", flush=True)
    if kafka.state == "stopped":
        kafka_proc = start_kafka(stack, layout, java)
        if not quiet:
            print(f"starting Kafka {layout.kafka_version} on {kafka.address} ...", flush=True)
        _wait("Kafka", lambda: kafka_answers(kafka.address, 3) and kafka_coordinator_ready(kafka.address, 3), deadline,
              lambda: None if kafka_proc.poll() is None else
              f"Kafka exited during start; last lines of {layout.log_file('kafka')}:\n{log_tail(layout.log_file('kafka'))}")
    if es_launcher is not None:
        _wait("Elasticsearch", lambda: es_answers(es.address, 3), deadline,
              lambda: _es_start_problem(layout, es_launcher))


def _es_start_problem(layout: Layout, launcher: subprocess.Popen) -> str | None:
    # The launcher (`elasticsearch -d`) exits 0 once the node runs, non-zero if it could not start.
    code = launcher.poll()
    if code is not None and code != 0:
        return (f"Elasticsearch exited during start; last lines of {layout.log_file('elasticsearch')}:\n"
                f"{log_tail(layout.log_file('elasticsearch'))}")
    return None


def _stop_pid(pid: int, timeout_s: float) -> bool:
    """SIGTERM, then SIGKILL after the grace period; True if it had to be killed."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return False
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    while pid_alive(pid):
        time.sleep(0.1)
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _stop_group(pgid: int, timeout_s: float) -> bool:
    """What is left of a launched process group (a node still starting, a launcher):
    SIGTERM, then SIGKILL after the grace period. True if anything was there."""
    if not _group_alive(pgid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    return True


SERVICE_MARKERS = {"kafka": KAFKA_MARKER, "elasticsearch": ES_MARKER}


def _stop_service(stack: StackSettings, layout: Layout, service: str) -> str:
    pid = _our_pid(layout, service, SERVICE_MARKERS[service])
    killed = _stop_pid(pid, stack.stop_timeout_s) if pid else False
    pgid = read_pid(layout.group_file(service))
    stragglers = _stop_group(pgid, stack.stop_timeout_s) if pgid and _our_group(pgid, layout) else False
    layout.pid_file(service).unlink(missing_ok=True)
    layout.group_file(service).unlink(missing_ok=True)
    if pid:
        return f"{service}: stopped (pid {pid}{', killed after the grace period' if killed else ''})"
    return f"{service}: {'stopped while starting' if stragglers else 'not running'}"


def _our_group(pgid: int, layout: Layout) -> bool:
    """Only a group whose leader (or a member) still runs our code: pids are reused."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                view = _proc_view(int(entry)) if os.getpgid(int(entry)) == pgid else ""
                if str(layout.state) in view or str(layout.es_dir) in view:
                    return True
            except (ProcessLookupError, PermissionError):
                continue
    return False


def _proc_view(pid: int) -> str:
    """Command line and environment: the node's own names ES_PATH_CONF under our state."""
    text = pid_cmdline(pid)
    try:
        text += Path(f"/proc/{pid}/environ").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        pass
    return text


def down(stack: StackSettings) -> list[str]:
    """Stop the services this project started (pid and process-group files); returns what was done."""
    layout = layout_for(stack)
    return [_stop_service(stack, layout, service) for service in SERVICE_MARKERS]


def status(stack: StackSettings) -> list[ServiceStatus]:
    layout = layout_for(stack)
    return [kafka_status(stack, layout), es_status(stack, layout)]
