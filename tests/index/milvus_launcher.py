"""Run a real Milvus standalone server (the `milvus` 2.3.5 wheel from PyPI) for the server tests.

Run by the interpreter that has the wheel (Makefile's .venv-milvus), not the project's: the wheel
bundles the Milvus 2.3.5 standalone binary with its embedded etcd and RocksMQ, so no docker is
needed. Usage: `python milvus_launcher.py --data DIR --port PORT`. It prints one line "ready URI"
when /healthz answers OK (or "failed REASON" and exits 1), then serves until its stdin closes or
it gets SIGTERM: the test process holds the pipe, so the server dies with it even on SIGKILL.

Why not `milvus-server` or `default_server.start()` as they come: their embedded etcd always binds
2379/2380 (a second server, or any etcd, on the machine makes it crash), `stop()` leaves a
graceful stop of up to 30 minutes, and `wait_started` does not notice a server that died.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 10.0
RUNTIME_DIR = "/tmp/milvus"
"""Where Milvus 2.3 writes server_id_<pid> (and its pid file when /run/milvus is not writable);
not configurable, so a non-root user needs it writable (another user's copy makes the server exit)."""
ETCD_YAML = """name: seals-test
data-dir: {data}
listen-client-urls: http://127.0.0.1:{client}
advertise-client-urls: http://127.0.0.1:{client}
listen-peer-urls: http://127.0.0.1:{peer}
initial-advertise-peer-urls: http://127.0.0.1:{peer}
initial-cluster: seals-test=http://127.0.0.1:{peer}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def configured_server(data: Path, port: int):
    """A MilvusServer on `port` whose ports, etcd included, are all free ones, with a short stop."""
    import milvus

    template = Path(milvus.__file__).parent / "data" / "config.yaml.template"
    text = template.read_text()
    etcd_client, etcd_peer = free_port(), free_port()
    etcd_yaml = data / "etcd.yaml"
    etcd_yaml.write_text(ETCD_YAML.format(data=data / "etcd.data", client=etcd_client, peer=etcd_peer))
    # the wheel's template has no etcd.config.path: add it, so the embedded etcd reads our ports
    embed = "  use:\n    embed: true"
    if embed not in text:
        raise RuntimeError(f"{template} has no etcd `use: embed: true` (not the 2.3.5 wheel's template?)")
    text = text.replace(embed, f"  config:\n    path: {etcd_yaml}\n{embed}", 1)
    ours = data / "config.yaml.template"
    ours.write_text(text)
    keys = milvus.MilvusServerConfig(template=str(ours)).configurable_items
    ports = {key: free_port() for key in keys if key.endswith("_port")} | {"proxy_port": port, "etcd_port": etcd_client}
    config = milvus.MilvusServerConfig(template=str(ours), data_dir=str(data), **ports)
    config.glog_conf_file = str(template.with_name("glog.conf"))  # set only for the default template
    config.set("common.gracefulStopTimeout", 5)  # seconds, not the template's 1800
    server = milvus.MilvusServer(config, wait_for_started=False)
    server.webservice_port = free_port()  # /healthz: the wheel scans upward from here
    return server


def wait_healthy(server, timeout: float) -> str | None:
    """None once /healthz says OK, else why not (the process exited, or the timeout passed)."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{server.webservice_port}/healthz"
    while time.monotonic() < deadline:
        if server.server_proc.poll() is not None:
            logs = Path(server.config.base_data_dir) / "logs"
            said = [line for line in (logs / "milvus-stderr.log").read_text(errors="replace").splitlines() if line]
            return f"milvus exited with {server.server_proc.returncode} ({said[-1] if said else 'no output'})"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if b"OK" in response.read():
                    return None
        except OSError:
            pass
        time.sleep(0.2)
    return f"no healthy answer from {url} in {timeout:.0f} s"


def stop(server) -> None:
    """Stop the server and remove the file it leaves in /tmp/milvus (its runtime dir: hard-coded)."""
    proc = server.server_proc
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # the tmp data need no graceful stop
            proc.kill()
            proc.wait()
    Path(RUNTIME_DIR, f"server_id_{proc.pid}").unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    try:
        server = configured_server(args.data.resolve(), args.port)
        server.start()
    except Exception as exc:  # reported to the test process as one line
        print(f"failed {type(exc).__name__}: {exc}", flush=True)
        return 1
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    why = wait_healthy(server, START_TIMEOUT_S)
    print(f"failed {why}" if why else f"ready http://127.0.0.1:{args.port}", flush=True)
    if not why:
        while not done.wait(0.5) and server.server_proc.poll() is None:
            pass
    stop(server)
    return 1 if why else 0


if __name__ == "__main__":
    sys.exit(main())
