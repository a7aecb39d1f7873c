"""Alembic environment, run through Flask-Migrate (``flask db upgrade``)."""

from __future__ import annotations

import logging

from alembic import context
from flask import current_app
from sqlalchemy.types import TypeDecorator

config = context.config
logger = logging.getLogger("alembic.env")
target_db = current_app.extensions["migrate"].db


def _metadata():
    return target_db.metadata


def render_item(type_, obj, autogen_context):
    """Render our TypeDecorators as the plain column type they store."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        impl = obj.impl if not isinstance(obj.impl, type) else obj.impl()
        return "sa." + repr(impl)
    return False


def _configure_kwargs():
    return {
        "target_metadata": _metadata(),
        "render_item": render_item,
        "compare_type": True,
        "render_as_batch": True,
    }


def run_migrations_offline() -> None:
    context.configure(url=str(target_db.engine.url), literal_binds=True, **_configure_kwargs())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    def process_revision_directives(context_, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    conf_args.update(_configure_kwargs())
    with target_db.engine.connect() as connection:
        context.configure(connection=connection, **conf_args)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
