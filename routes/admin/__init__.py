"""The admin console (issue 16): ``/admin/``. The guard every request passes is in ``console``; the
pages are nested blueprints: ``auth`` (login, logout, home), ``messages``, ``dead_letters``, ``audit_log``,
``config_editor``, ``config_versions``.
"""

from routes.admin import audit_log, auth, config_editor, config_versions, dead_letters, messages
from routes.admin.console import bp

for _pages in (auth.bp, messages.bp, dead_letters.bp, audit_log.bp, config_editor.bp, config_versions.bp):
    bp.register_blueprint(_pages)

__all__ = ["bp"]
