"""The hub's HTTP side: ``create_app`` (routes/app.py) builds the Flask application; wsgi.py serves it."""

from routes.app import create_app

__all__ = ["create_app"]
