"""``trackerhub staff``: link team members' Telegram accounts to their tracker accounts (the team bot).

``invite USER`` prints a one-time ``t.me`` deep link; the person opens it and presses Start, and the hub
records the link (``jobs.staff``). ``ls`` lists who is linked and the invites still open; ``remove``
unlinks.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import click

from cli.common import config_or_exit, context_or_exit, main, settings_or_exit
from config.durations import parse_duration

if TYPE_CHECKING:
    from jobs.context import Context


@main.group()
def staff() -> None:
    """The team members who may use the bot's staff commands and buttons."""


@staff.command("invite")
@click.argument("user")
@click.option(
    "--tracker", default=None, help="the tracker instance USER belongs to (default: the default tracker's)"
)
@click.option("--expires", default="3d", show_default=True, help="how long the link works: 30m, 12h, 3d")
def invite(user: str, tracker: str | None, expires: str) -> None:
    """Print a one-time deep link that links whoever opens it to USER (a Jira username or account id,
    a Kaiten user id)."""
    from jobs.clock import utcnow
    from store.staff import create_invite

    settings = settings_or_exit()
    config = config_or_exit(settings)
    name = tracker or config.rules[-1].target.tracker
    if config.tracker_kind(name) is None:
        raise click.BadParameter(f"no tracker is called {name!r}: {', '.join(config.tracker_names())}")
    try:
        duration = parse_duration(expires)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from None
    ttl = dt.timedelta(days=duration.days, minutes=duration.minutes)  # calendar time, not working time
    ctx = context_or_exit()
    bot = _bot_username(settings.TELEGRAM_BOT_USERNAME, ctx)
    code = create_invite(ctx.engine, name, user, ttl, utcnow())
    click.echo(f"https://t.me/{bot}?start={code}")
    click.echo(f"for {user} on {name}; works once, until {(utcnow() + ttl):%Y-%m-%d %H:%M} UTC", err=True)


@staff.command("ls")
def list_staff() -> None:
    """Linked members (Telegram id, name, tracker account), then the invites not used yet."""
    from jobs.clock import utcnow
    from store.staff import members, open_invites

    settings_or_exit()
    ctx = context_or_exit()
    for member in members(ctx.engine):
        handle = f" @{member.username}" if member.username else ""
        click.echo(
            f"{member.telegram_user_id}\t{member.name}{handle}\t{member.tracker}:{member.account}\t"
            f"linked {member.linked_at:%Y-%m-%d %H:%M}"
        )
    for pending in open_invites(ctx.engine, utcnow()):
        click.echo(
            f"-\t(invited)\t{pending.tracker}:{pending.account}\tuntil {pending.expires_at:%Y-%m-%d %H:%M}"
        )


@staff.command("remove")
@click.argument("user")
def remove_staff(user: str) -> None:
    """Unlink USER (a tracker account, or a Telegram user id) and void their open invites."""
    from store.staff import remove

    settings_or_exit()
    removed = remove(context_or_exit().engine, user)
    if not removed:
        raise click.ClickException(f"nobody linked is {user!r} (see `trackerhub staff ls`)")
    click.echo(f"unlinked {user}")


def _bot_username(configured: str | None, ctx: Context) -> str:
    """The bot's @username for the link: TELEGRAM_BOT_USERNAME, else what the Bot API's getMe says."""
    if configured:
        return configured.lstrip("@")
    from connector.errors import ChannelError

    client = ctx.telegram
    if client is None:
        raise click.ClickException("no bot: set TELEGRAM_BOT_TOKEN (and TELEGRAM_BOT_USERNAME to skip getMe)")
    try:
        return str(client.get_me()["username"])
    except (ChannelError, KeyError) as exc:
        raise click.ClickException(f"getMe failed ({exc}); set TELEGRAM_BOT_USERNAME") from None
