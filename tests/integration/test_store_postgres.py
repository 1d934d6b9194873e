"""The session store on a real PostgreSQL server, shared by two cloud replicas.

The fixture starts a throw-away server from Debian's `postgresql` package (initdb + pg_ctl in a
temp folder, trust auth on 127.0.0.1, as the `postgres` user when run as root) and skips with
the reason where it cannot (no binaries, no psycopg, initdb or start failing).

    python -m pytest -q tests/integration/test_store_postgres.py
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from cloud_brain.domain.goals import holds
from cloud_brain.domain.state import WorldState
from cloud_brain.localproc import free_port
from cloud_brain.server.store import StoredPlan, StoredSession, StoredStep
from cloud_brain.wire import pb

pytestmark = pytest.mark.integration


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _maybe_skip_reason(root: Path) -> str | None:
    return None if os.access(root, os.W_OK) else f"cannot write {root}"


@pytest.fixture(scope="module")
def pg_url():
    pytest.importorskip("psycopg", reason="psycopg (pip install 'psycopg[binary]') is not installed")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries not found (Debian package `postgresql`)")
    root = Path(tempfile.mkdtemp(prefix="brainstem-pg-"))  # pytest's tmp tree is root-only
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        if shutil.which("runuser") is None:
            pytest.skip("running as root and no runuser to become the postgres user")
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user")
        for p in (root, sock):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    if r_skip := _maybe_skip_reason(root):
        pytest.skip(r_skip)
    r = subprocess.run(prefix + [initdb, "-D", str(data), "-A", "trust", "-U", "brainstem"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.skip(f"initdb failed: {r.stderr.strip()[-300:]}")
    r = subprocess.run(prefix + [pg_ctl, "-D", str(data), "-w", "-t", "60", "-l", str(root / "log"),
                                 "-o", f"-p {port} -k {sock} -c listen_addresses=127.0.0.1", "start"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.skip(f"PostgreSQL did not start: {r.stderr.strip()[-300:]}")
    try:
        yield f"postgresql://brainstem@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(prefix + [pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def test_round_trip(pg_url):
    from cloud_brain.server.store import open_store

    store = open_store(pg_url)
    store.forget_robot("r1")
    step = pb.PlanStep(plan_id="s-1", index=0, step_id="s-1/0", skill=pb.Skill(name="navigate", args=["sofa"]))
    plan = StoredPlan("s-1", "c1", "go to the sofa", 0, 1, 2, 0, 1, False, 1, {"robot_room": "kitchen"},
                      [StoredStep("s-1/0", 0, 0, "current", step.SerializeToString(), None),
                       StoredStep("s-1/1", 1, 0, "withdrawn")], {"s-1/0": True})
    store.save(StoredSession("r1", "s", "home", None, "s-1/0", 1), [plan])
    store.save(StoredSession("r1", "s", "home", None, "s-1/0", 1), [plan])  # upsert, not duplicate
    again = open_store(pg_url).load("r1")  # another replica's connection
    (p,) = again.plans
    assert (p.revision, p.num_steps, p.closed, p.outcomes) == (1, 2, False, {"s-1/0": True})
    assert pb.PlanStep.FromString(p.steps[0].msg) == step and p.steps[1].status == "withdrawn"


def test_second_replica_resumes_the_robots_session(pg_url):
    from cloud_brain.server.service import serve
    from cloud_brain.server.session import SessionConfig
    from edge_nerve.bench.timed_robot import TimedRobot
    from edge_nerve.link.client import ClientConfig
    from edge_nerve.link.delay_proxy import DelayProxy, parse_address

    a, port_a = serve(0, "rules", config=SessionConfig(step_lease_s=5.0), store=pg_url)
    b, port_b = serve(0, "rules", config=SessionConfig(step_lease_s=5.0), store=pg_url)
    durations = {k: 0.3 for k in ("navigate", "pick", "place", "give", "dock", "say")}
    fast = ClientConfig(connect_timeout_s=2.0, heartbeat_s=0.2, backoff_initial_s=0.05, backoff_max_s=0.5)
    try:
        with DelayProxy(f"127.0.0.1:{port_a}", rtt_ms=10) as proxy, \
                TimedRobot(proxy.address, WorldState.initial(), durations, robot_id="replicated",
                           config=fast) as robot:
            box = {}
            t = threading.Thread(target=lambda: box.setdefault(
                "rec", robot.run_mission("bring me the red cup", timeout_s=60)))
            t.start()
            deadline = time.monotonic() + 20
            while len(robot.started_step_ids) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            session = robot.client.session_id
            proxy.target = parse_address(f"127.0.0.1:{port_b}")  # the load balancer moves it
            a.stop(grace_s=0.2)  # replica A goes away mid-mission
            t.join(70)
            rec = box["rec"]
            assert robot.client.session_id == session  # B resumed A's session from PostgreSQL
            started = list(robot.started_step_ids)
            world = robot.world
    finally:
        a.stop(grace_s=0.2)
        b.stop(grace_s=0.2)
    assert rec.ok, (rec.refusal, rec.errors)
    assert holds(["delivered", "red_cup"], world, [r.step for r in rec.runs])
    assert len(started) == len(set(started))
