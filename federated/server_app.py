"""The ServerApp: reads the run's settings, runs the mode's federation, writes the result.

Thin wiring; the work is in :mod:`federated.horizontal` and :mod:`federated.vertical`.
"""

from __future__ import annotations

import logging

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from federated.config import RunSettings
from federated.grid import PollingGrid
from federated.horizontal import run_horizontal
from federated.result import RunRecorder
from federated.vertical import run_vertical

__all__ = ["app"]

log = logging.getLogger(__name__)

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run one federation and record it; a failure is written to the result, then raised."""
    settings = RunSettings.from_run_config(context.run_config)
    recorder = RunRecorder(
        result_path=settings.result_path,
        mode=settings.mode,
        run_id=context.run_id,
        agreement_id=settings.agreement_id,
        settings=dict(context.run_config),
    )
    polling = PollingGrid(grid, timeout=settings.round_timeout)
    try:
        if settings.mode == "vertical":
            run_vertical(polling, context, settings, recorder)
        else:
            run_horizontal(polling, context, settings, recorder)
    except BaseException as exc:
        recorder.write("failed", f"{type(exc).__name__}: {exc}")
        raise
    document = recorder.write("succeeded")
    log.info(
        "federated run %s: final %s, model %s",
        context.run_id,
        document["final"],
        (document["model"] or {}).get("sha256"),
    )
