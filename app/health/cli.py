"""``flask workers-status``: is the database up, is the broker up, when did beat last run."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from app.db import utcnow
from app.extensions import db
from app.health import services


def format_age(age: timedelta) -> str:
    """Return ``age`` as a short human duration (``42s``, ``5m 3s``, ``2h 4m``, ``3d 2h``)."""
    seconds = max(0, int(age.total_seconds()))
    minutes, secs = divmod(seconds, 60)
    hours, mins = divmod(minutes, 60)
    days, hrs = divmod(hours, 24)
    if days:
        return f"{days}d {hrs}h"
    if hours:
        return f"{hours}h {mins}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


@click.command("workers-status")
@with_appcontext
def workers_status() -> None:
    """Show the database and broker status and the last heartbeat of each worker job.

    Exits with status 1 when the database or the broker is down.
    """
    config = current_app.config
    down = services.readiness(db.session, config)
    broker = services.broker_label(config["CELERY_BROKER_URL"])
    click.echo(f"database: {'DOWN (' + down['database'] + ')' if 'database' in down else 'ok'}")
    click.echo(f"broker:   {'DOWN (' + down['broker'] + ')' if 'broker' in down else 'ok'} {broker}")

    if "database" in down:
        click.echo("heartbeats: unknown, the database is down")
    else:
        beats = services.heartbeats(db.session)
        interval = config["HEARTBEAT_INTERVAL_SECONDS"]
        if not beats:
            click.echo(f"heartbeats: none yet (beat asks for one every {interval} s)")
        else:
            click.echo("heartbeats:")
        now = utcnow()
        for beat in beats:
            age = services.heartbeat_age(beat, now=now)
            # Three missed intervals: beat or every worker has stopped.
            stale = "  STALE" if age.total_seconds() > 3 * interval else ""
            seen = beat.last_seen_dt.strftime("%Y-%m-%d %H:%M:%S UTC")
            click.echo(f"  {beat.name:<12} last seen {seen} by {beat.seen_by or '?'},"
                       f" {format_age(age)} ago{stale}")
        _echo_outbox(now)
    if "broker" not in down:
        from app.notifications.services import broker_queue_depth

        depth = broker_queue_depth(config)
        click.echo(f"queue:    {config['CELERY_TASK_QUEUE']}: "
                   + (f"{depth.messages} waiting" if depth.messages is not None
                      else f"unknown ({depth.note})"))
    if down:
        raise SystemExit(1)


def _echo_outbox(now) -> None:  # noqa: ANN001
    """The notification outbox of every school: backlog and failures."""
    from app.notifications.services import failed_notifications, outbox_status

    outbox = outbox_status(db.session, now=now)
    oldest = (f", oldest waiting {format_age(outbox.oldest_due_age)}"
              if outbox.oldest_due_age is not None else "")
    click.echo(f"outbox:   {outbox.due} due now{oldest}; {outbox.scheduled} scheduled; "
               f"{outbox.sent_last_day} sent in 24 h; {outbox.failed} failed")
    for failed in failed_notifications(db.session, limit=20):
        click.echo(f"  failed #{failed.id} {failed.kind} to {failed.recipient}"
                   f"{' case ' + failed.case_reference if failed.case_reference else ''}:"
                   f" {failed.attempts} attempts, {failed.last_error or 'no error recorded'}")
