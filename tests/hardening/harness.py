"""The service under test as a subprocess: ``videoident serve`` on a free loopback port, in a given data dir
and database, killable with SIGKILL and restartable on the same state."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["REPO", "Server", "free_port"]

REPO = Path(__file__).resolve().parents[2]
#: Seconds to wait for a started server to answer /healthz (migrations and imports on a loaded 2-core box).
START_TIMEOUT_S = 90.0
#: Seconds a SIGTERM gets before the SIGKILL at clean-up.
STOP_TIMEOUT_S = 10.0

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One ``videoident serve`` process; restartable on the same data dir, database and port."""

    data_dir: Path
    database_url: str
    master_key: str
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "logs" / "server.log"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOIDENT_")}
        env.update({
            "VIDEOIDENT_ENVIRONMENT": "development",  # loopback webhooks and the demo tenant
            "VIDEOIDENT_DATA_DIR": str(self.data_dir),
            "VIDEOIDENT_DATABASE_URL": self.database_url,
            "VIDEOIDENT_MASTER_KEY": self.master_key,
            "VIDEOIDENT_PUBLIC_BASE_URL": self.base_url,
            "VIDEOIDENT_RATE_LIMIT_PER_S": "100000",
            "VIDEOIDENT_RATE_LIMIT_BURST": "100000",
            "VIDEOIDENT_WEBRTC_LOOPBACK_ONLY": "true",
            # Temporary files of the server land where the PII scan looks.
            "TMPDIR": str(self.tmp_dir),
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        assert self.process is None, "already running"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=REPO, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.starts += 1
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start in {START_TIMEOUT_S} s: {self.log_tail()}")

    def kill9(self) -> None:
        """SIGKILL: no clean-up, no flush, no lifespan shutdown."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the running server process has used so far."""
        if self.process is None:
            return 0.0
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def credentials(self) -> dict[str, str]:
        data: dict[str, str] = json.loads((self.data_dir / "demo-bank.credentials.json").read_text())
        return data

    def create_tenant(self, name: str) -> dict[str, str]:
        """A tenant of its own (``videoident tenants create``): its api_key and webhook_secret."""
        done = subprocess.run([sys.executable, "-m", "api.cli", "tenants", "create", name, "--json"], cwd=REPO,
                              env=self.env(), capture_output=True, check=True, timeout=START_TIMEOUT_S)
        data: dict[str, str] = json.loads(done.stdout)
        return data

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=60,
                            headers={"Authorization": f"Bearer {self.credentials()['api_key']}"})
