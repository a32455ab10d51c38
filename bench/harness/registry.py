"""The peer registry, bench/peers/peers.toml: what each server is, how it
starts, and which suites (docs sections) measure it. The file's header
documents the fields; this module validates them and says why a peer
cannot run here."""
import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field

from harness import PEER_BIN, REGISTRY
from harness.procs import server_env

SERVES = ("http", "https", "echo", "tls-echo")
READY_DEFAULT = {"http": "http", "https": "https", "echo": "tcp", "tls-echo": "tls"}
CHECK_DEFAULT = {"http": "full", "https": "basic", "echo": "echo", "tls-echo": "echo"}
TLS_SERVES = ("https", "tls-echo")


@dataclass(frozen=True)
class Peer:
    name: str
    what: str
    serves: str
    argv: tuple
    needs: tuple = ()
    programs: tuple = ()
    ready: str = ""
    check: str = ""
    cpus: str = "0"
    template: str = ""
    template_vars: dict = field(default_factory=dict, hash=False, compare=False)
    pending: str = ""

    @property
    def tls(self):
        return self.serves in TLS_SERVES


@dataclass(frozen=True)
class Suite:
    name: str
    title: str
    modes: tuple
    peers: tuple
    refs: tuple
    echo_sizes: tuple = ()
    echo_conns: tuple = ()
    echo_patterns: tuple = ()


def _tuples(table):
    return {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}


def load(path=REGISTRY):
    """(peers, suites): dicts by name, in the file's order."""
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    peers = {}
    for name, table in doc.get("peer", {}).items():
        try:
            peer = Peer(name=name, **_tuples(table))
        except TypeError as exc:
            raise ValueError(f"{path}: peer {name}: {exc}") from None
        if peer.serves not in SERVES:
            raise ValueError(f"{path}: peer {name}: serves must be one of {SERVES}")
        peer = Peer(**{**peer.__dict__, "ready": peer.ready or READY_DEFAULT[peer.serves],
                       "check": peer.check or CHECK_DEFAULT[peer.serves]})
        peers[name] = peer
    suites = {}
    for name, table in doc.get("suite", {}).items():
        try:
            suite = Suite(name=name, **_tuples(table))
        except TypeError as exc:
            raise ValueError(f"{path}: suite {name}: {exc}") from None
        unknown = [p for p in suite.peers + suite.refs if p not in peers]
        if unknown:
            raise ValueError(f"{path}: suite {name} names unknown peers {unknown}")
        suites[name] = suite
    return peers, suites


_importable = {}


def _missing_modules(modules):
    """The modules that do not import in a server's environment (src/ and
    bench/peers first on the path). One probe per new set of names."""
    todo = [m for m in modules if m not in _importable]
    if todo:
        probe = ("import importlib.util, sys\n"
                 "for m in sys.argv[1:]:\n"
                 "    try: ok = importlib.util.find_spec(m) is not None\n"
                 "    except ImportError: ok = False\n"
                 "    print(m, int(ok))\n")
        out = subprocess.run([sys.executable, "-c", probe, *todo], env=server_env(),
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            name, ok = line.split()
            _importable[name] = ok == "1"
    return [m for m in modules if not _importable.get(m)]


def _program_path(program):
    program = program.replace("{bin}", PEER_BIN)
    if os.sep in program:
        return program if os.access(program, os.X_OK) else None
    return shutil.which(program)


def unavailable(peer, include_pending=False):
    """Why this peer cannot run here, or None."""
    if peer.pending and not include_pending:
        return f"pending: {peer.pending}"
    missing = [p for p in peer.programs if not _program_path(p)]
    exe = peer.argv[0]
    if exe.startswith("{bin}") and not _program_path(exe):
        missing.append(os.path.basename(exe))
    if missing:
        return "not installed: " + ", ".join(missing)
    modules = _missing_modules(peer.needs)
    if modules:
        return "not installed: Python module " + ", ".join(modules)
    return None
