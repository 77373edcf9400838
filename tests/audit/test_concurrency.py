"""Several writers, one linear log: processes and threads appending at once.

Each writer process builds its own app from the test app's settings (same database, same
keys), waits until every writer is ready, then appends with one commit per entry, as
gunicorn workers and CLI commands do. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from flask import Flask

from audit.log import append
from governance.db import get_session

WRITERS = 3
APPENDS = 2_000

WRITER = r"""
import json, sys
from governance import create_app
from governance.db import get_session
from audit.log import append

config = json.loads(sys.argv[1])
count, name = int(sys.argv[2]), sys.argv[3]
app = create_app(config)
with app.app_context():
    session = get_session()
    session.connection()  # connected before the start line
    print("ready", flush=True)
    sys.stdin.readline()
    seqs = []
    for i in range(count):
        seqs.append(
            append(session, action="test.write", actor_type="system", actor_id=name,
                   details={"i": i}).seq
        )
        session.commit()
print(json.dumps(seqs), flush=True)
"""

SHUTDOWN = r"""
import json, sys
from governance import create_app
from governance.db import get_session
import audit

config = json.loads(sys.argv[1])
app = create_app(config)
with app.app_context():
    if sys.argv[2] == "append":
        session = get_session()
        for _ in range(3):
            audit.record(session, action="test.before_exit")
            session.commit()
print("done", flush=True)
"""


def test_writer_processes_produce_one_gap_free_verifiable_log(
    python_process: Any, child_config: dict[str, Any], entry_rows: Any, verify_now: Any
) -> None:
    procs = [
        python_process(WRITER, child_config, str(APPENDS), f"writer-{w}") for w in range(WRITERS)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:  # start together
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    per_writer = [json.loads(out.strip().splitlines()[-1]) for out, _err in outputs]

    total = WRITERS * APPENDS
    assert sorted(s for seqs in per_writer for s in seqs) == list(range(total))
    for seqs in per_writer:
        assert seqs == sorted(seqs)  # each writer's entries are in its own order
    rows = entry_rows()
    assert [row["seq"] for row in rows] == list(range(total))
    for w, seqs in enumerate(per_writer):
        assert {rows[s]["actor_id"] for s in seqs} == {f"writer-{w}"}
    report = verify_now()
    assert report.ok, report.failure
    assert report.entries_checked == total


def test_threads_of_one_process_keep_one_chain(
    app: Flask, entry_rows: Any, verify_now: Any
) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def write(name: str) -> None:
        try:
            with app.app_context():
                session = get_session()
                start.wait(timeout=30)
                for i in range(150):
                    append(session, action="test.write", actor_type="system", actor_id=name,
                           details={"i": i})  # fmt: skip
                    session.commit()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f"thread-{t}",)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert [row["seq"] for row in entry_rows()] == list(range(600))
    report = verify_now()
    assert report.ok, report.failure


def test_a_process_that_appended_signs_a_checkpoint_when_it_exits(
    python_process: Any, child_config: dict[str, Any], stored_checkpoints: Any
) -> None:
    config = {**child_config, "AUDIT_CHECKPOINT_ON_SHUTDOWN": True}
    config["AUDIT_CHECKPOINT_INTERVAL_SECONDS"] = 0  # no periodic one: only the exit's
    idle = python_process(SHUTDOWN, config, "idle")
    assert idle.communicate(timeout=120)[0].strip() == "done" and idle.returncode == 0
    assert stored_checkpoints() == []

    busy = python_process(SHUTDOWN, config, "append")
    _out, err = busy.communicate(timeout=120)
    assert busy.returncode == 0, err
    assert [cp.tree_size for cp in stored_checkpoints()] == [3]


def test_no_checkpoint_at_exit_when_turned_off(
    python_process: Any, child_config: dict[str, Any], stored_checkpoints: Any, entry_rows: Any
) -> None:
    config = {
        **child_config,
        "AUDIT_CHECKPOINT_ON_SHUTDOWN": False,
        "AUDIT_CHECKPOINT_INTERVAL_SECONDS": 0,
    }
    proc = python_process(SHUTDOWN, config, "append")
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert len(entry_rows()) == 3
    assert stored_checkpoints() == []
