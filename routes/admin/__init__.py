"""The admin console (issue 16): ``/admin/``. The guard every request passes is in ``console``; the
pages are nested blueprints: ``auth`` (login, logout, home: the dashboard), ``messages``,
``dead_letters``, ``audit_log``, ``config_editor``, ``canned`` (canned responses), ``config_versions``,
``routing_log``, ``firings`` (automation firings), ``route`` (routing an issue).
"""

from routes.admin import audit_log, auth, canned, config_editor, config_versions, dead_letters, messages
from routes.admin.console import bp

for _pages in (
    auth.bp,
    messages.bp,
    dead_letters.bp,
    audit_log.bp,
    config_editor.bp,
    canned.bp,
    config_versions.bp,
):
    bp.register_blueprint(_pages)

# operations (the dashboard is the home page, in ``auth``): the routing log and automation firings
from routes.admin import firings, route, routing_log  # noqa: E402

for _pages in (routing_log.bp, firings.bp, route.bp):
    bp.register_blueprint(_pages)

__all__ = ["bp"]
