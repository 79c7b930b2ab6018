"""The shared extension objects, unbound; ``create_app`` binds them with ``init_app``."""

from __future__ import annotations

from celery import Celery
from flask_cors import CORS
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sock import Sock
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from openspc.api.documentation import DocumentedApi
from openspc.auth.client_ip import client_ip


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
cors = CORS()
jwt = JWTManager()
api = DocumentedApi()
limiter = Limiter(key_func=client_ip, headers_enabled=False)
socketio = SocketIO()
sock = Sock()
celery = Celery("openspc")
