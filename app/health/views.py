from __future__ import annotations

from flask import current_app, jsonify, redirect, url_for

from app.extensions import db
from app.health import bp
from app.health import services


@bp.route("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.route("/readyz")
def readyz():
    down = {}
    if reason := services.check_database(db.session):
        down["database"] = reason
    if reason := services.check_broker(
        current_app.config["CELERY_BROKER_URL"],
        current_app.config["CELERY_BROKER_TRANSPORT_OPTIONS"],
    ):
        down["broker"] = reason
    if down:
        response = jsonify(status="unavailable", down=sorted(down), reasons=down)
        response.status_code = 503
        return response
    return jsonify(status="ok", checks={"database": "ok", "broker": "ok"})


@bp.route("/")
def index():
    return redirect(url_for("auth.login"))
