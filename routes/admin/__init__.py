"""The admin console (issue 16): ``/admin/``. The guard every request passes is in ``console``; the
pages are nested blueprints: ``auth`` (login, logout, home), ``messages``, ``dead_letters``, ``audit_log``,
``config_editor``.
"""

from routes.admin import audit_log, auth, config_editor, dead_letters, messages
from routes.admin.console import bp

for _pages in (auth.bp, messages.bp, dead_letters.bp, audit_log.bp, config_editor.bp):
    bp.register_blueprint(_pages)

__all__ = ["bp"]
