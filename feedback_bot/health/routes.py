"""GET /healthz for a load balancer, GET /healthz/work for a monitor (see ``checks``)."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from ..extensions import csrf
from . import bp, checks


@bp.get("/healthz")
@csrf.exempt
def healthz() -> ResponseReturnValue:
    """200 while this web process can take requests; 503 naming what it cannot, and
    what to do. Workers do not count: see ``checks``."""
    return _answer(checks.ready())


@bp.get("/healthz/work")
@csrf.exempt
def healthz_work() -> ResponseReturnValue:
    """200 while the work is getting done; 503 when intake lags, no worker is alive or the
    spool has dead letters. For a monitor's alert, never a load balancer's rotation."""
    return _answer(checks.work())


def _answer(report: checks.Report) -> ResponseReturnValue:
    return jsonify(report.as_json()), 200 if report.healthy else 503
