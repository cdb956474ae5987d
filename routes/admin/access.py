"""Who may open what: each console view declares the least role it needs, and a view that declares
nothing is refused (fail closed), so a new endpoint without a role check cannot be reached.

Roles (issue 16): ``admin`` (everything), ``coordinator`` (route, replay, read), ``viewer`` (read).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

ROLE_RANK = {"viewer": 1, "coordinator": 2, "admin": 3}
PUBLIC = "public"  # the login form: open to anyone while the console is on

View = TypeVar("View", bound=Callable[..., object])


def requires(role: str) -> Callable[[View], View]:
    """Mark a view as open to ``role`` and the roles above it (or to anyone, :data:`PUBLIC`)."""
    if role != PUBLIC and role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")

    def mark(view: View) -> View:
        view.admin_role = role  # type: ignore[attr-defined]
        return view

    return mark


def required_role(view: Callable[..., object] | None) -> str | None:
    """The role a view declared, None when it declared none."""
    return getattr(view, "admin_role", None)


def allows(user_role: str, required: str) -> bool:
    """Whether a user of ``user_role`` may open a view that requires ``required``."""
    return required == PUBLIC or ROLE_RANK.get(user_role, 0) >= ROLE_RANK[required]
