"""Extensions, created unbound here and bound to the app in :func:`app.create_app`."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_talisman import Talisman
from flask_wtf import CSRFProtect

from app.db import Base

db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate(compare_type=True, render_as_batch=True)
login_manager = LoginManager()
csrf = CSRFProtect()
talisman = Talisman()


def _no_address() -> str:
    """Rate-limit key used when a route gives none: one shared bucket, no IP kept."""
    return "global"


limiter = Limiter(key_func=_no_address, default_limits=[], strategy="moving-window")
