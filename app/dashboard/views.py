"""Dashboard, charts, the cases behind every figure, exports and the governors' report."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from urllib.parse import urlencode

from flask import Response, g, render_template, request, url_for
from flask_login import current_user, login_required

from app.audit import services as audit
from app.cases.vocabulary import IncidentKind, Platform, Risk
from app.dashboard import bp
from app.dashboard import charts
from app.dashboard import exports
from app.dashboard import services as dash
from app.db import utcnow
from app.errors import NotFound
from app.extensions import db, talisman
from app.policy import require_lead

#: A chart is a document of its own: no script, its inline styles only, framed by our pages.
CHART_CSP = {"default-src": "'none'", "style-src": "'unsafe-inline'",
             "frame-ancestors": "'self'"}
#: Spreadsheet programs run a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@bp.after_request
def _never_cache(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def _request_filters() -> tuple[dash.DashboardFilters, datetime]:
    """Refuse anyone but a lead, then read the filters; "today" is the school's today."""
    require_lead(current_user)
    now = utcnow()
    today = now.astimezone(current_user.school.tz).date()
    return dash.DashboardFilters.parse(request.args, today=today), now


def _cases_link(filters: dash.DashboardFilters, **drill: str) -> str:
    # Built by hand, on an address worked out once per request: a year of weekly
    # charts has over a thousand of these links.
    if "cases_url" not in g:
        g.cases_url = url_for("dashboard.cases") + "?"
    return g.cases_url + urlencode({**filters.query_args(), **drill})


@bp.route("/")
@login_required
def index():
    filters, now = _request_filters()
    trends = dash.trends(db.session, current_user, filters, now=now)
    return render_template(
        "dashboard/index.html", figures=dash.now_figures(db.session, current_user, now=now),
        trends=trends, filters=filters, charts=charts.build(trends, filters, _cases_link),
        repeats=dash.repeat_names(db.session, current_user), exports=exports.EXPORTS,
        kinds=list(IncidentKind), platforms=list(Platform), risks=list(Risk),
        year_groups=dash.YEAR_GROUPS, args=filters.query_args(), cases_link=_cases_link,
    )


@bp.route("/chart/<name>.svg")
@login_required
@talisman(content_security_policy=CHART_CSP, frame_options="SAMEORIGIN")
def chart(name: str):
    filters, now = _request_filters()
    if name not in charts.CHARTS:
        raise NotFound()
    trends = dash.trends(db.session, current_user, filters, now=now)
    svg = charts.render(charts.build(trends, filters, _cases_link, only=name)[name])
    return Response(svg, mimetype="image/svg+xml")


@bp.route("/cases")
@login_required
def cases():
    """The cases behind a figure: reference, dates and categories only."""
    filters, now = _request_filters()
    drill = dash.Drill.parse(request.args)
    found = dash.cases_behind(db.session, current_user, filters, drill, now=now)
    return render_template("dashboard/cases.html", found=found, filters=filters, drill=drill,
                           description=dash.describe(db.session, current_user, filters, drill))


def _csv_cell(value):  # noqa: ANN001, ANN202
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


@bp.route("/export/<name>.csv")
@login_required
def export(name: str):
    filters, now = _request_filters()
    if name not in exports.EXPORTS:
        raise NotFound("There is no such export. Choose one from the dashboard.")
    table = exports.export_table(db.session, current_user, filters, name, now=now)
    audit.record(db.session, "dashboard.exported", school_id=current_user.school_id,
                 actor_id=current_user.id, target=f"export:{name}",
                 detail={"export": name, **filters.query_args()})
    db.session.commit()
    out = io.StringIO()
    csv.writer(out).writerows([[_csv_cell(v) for v in row] for row in table])
    filename = f"safe-report-{name}-{filters.start}-{filters.end}.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.route("/governors")
@login_required
def governors():
    """A printable report with small counts suppressed; it leaves the school, so it is audited."""
    filters, now = _request_filters()
    trends = dash.trends(db.session, current_user, filters, now=now)
    audit.record(db.session, "dashboard.exported", school_id=current_user.school_id,
                 actor_id=current_user.id, target="export:governors",
                 detail={"export": "governors", **filters.query_args()})
    db.session.commit()
    return render_template("dashboard/governors.html", trends=trends, filters=filters,
                           suppress=exports.suppress, year_label=dash.year_label,
                           outcomes=dash.outcome_distribution(trends.outcome_changes))
