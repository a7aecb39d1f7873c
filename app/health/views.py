from __future__ import annotations

from flask import Response, current_app, jsonify, redirect, url_for

from app.extensions import db
from app.health import bp
from app.health import services


@bp.route("/healthz")
def healthz() -> Response:
    """Answer while the process is up; touches nothing else."""
    return jsonify(status="ok")


@bp.route("/readyz")
def readyz() -> Response:
    """Answer 200 when the database and the broker answer, else 503 naming what is down."""
    down = services.readiness(db.session, current_app.config)
    if down:
        response = jsonify(status="unavailable", down=sorted(down), reasons=down)
        response.status_code = 503
        return response
    return jsonify(status="ok", checks={"database": "ok", "broker": "ok"})


@bp.route("/")
def index():
    return redirect(url_for("auth.login"))
