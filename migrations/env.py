"""Alembic environment run by Flask-Migrate (``flask db ...``, ``flask_migrate.upgrade``).

Three changes from Flask-Migrate's template:
- the app's logging (structlog) is kept: alembic.ini's logging setup is applied only when the
  process has none, since ``fileConfig`` would otherwise replace the handlers and silence the
  loggers of a running server;
- offline mode (``--sql``) never builds an engine, so SQL for a dialect whose driver is not
  installed (MSSQL without unixODBC) can be rendered: ``flask db upgrade --sql -x
  url=mssql+pyodbc://...``. Without ``-x url`` the app's database URL is used;
- autogenerate leaves out the constraints a dialect holds in another form
  (``openspc.models.dialects``).
"""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

from openspc.models.dialects import include_object

config = context.config

if config.config_file_name is not None and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


def run_migrations_offline():
    """Emit the SQL to stdout for the URL given with ``-x url=...`` or the app's URL."""
    url = context.get_x_argument(as_dictionary=True).get("url") or current_app.config[
        "SQLALCHEMY_DATABASE_URI"
    ]
    context.configure(url=url, target_metadata=get_metadata(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run against the app's engine; an autogenerate with no changes writes no revision."""

    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = current_app.extensions["migrate"].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    with target_db.engine.connect() as connection:
        conf_args.setdefault("include_object", include_object(connection.dialect.name))
        context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)
        with context.begin_transaction():
            context.run_migrations()
        if connection.dialect.name == "sqlite":
            # A revision that rebuilds a table turns foreign keys off (a no-op once its
            # transaction has begun, so it cannot turn them back on itself): on again here,
            # after the commit, before the connection returns to the pool.
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
