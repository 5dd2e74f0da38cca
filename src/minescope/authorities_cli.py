"""``minescope authorities …``: the issuing authority of each area, named on its rectification notices
(整改通知书): set, list, remove, history, and ``which`` (the authority a notice of an area gets: the
county's, else its city's, else its province's). Every change is recorded with the login name of whoever
runs the command, in the same audit trail as the changes to accounts.

The group is attached to ``minescope.cli`` by ``add_authority_commands``; like every command it runs inside
the CLI's error boundary: a problem (an unknown region code) is one line in the chosen language.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from minescope import settings


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC") if ts else "-"


def add_authority_commands(main: click.Group, db_option: Callable[[Any], Any],
                           lang_option: Callable[[Any], Any]) -> None:
    """Attach ``minescope authorities`` to ``main`` (the store is imported when a command runs)."""

    def say(lang: str, zh: str, en: str) -> None:
        click.echo(zh if lang == "zh" else en)

    @main.group()
    def authorities() -> None:
        """整改通知书的发文机关（按行政区划）/ the issuing authorities of rectification notices, by area."""

    @authorities.command("set")
    @click.argument("region_code", metavar="REGION")
    @click.argument("name")
    @click.option("--prefix", "doc_prefix", default=None,
                  help="文号中的机关代字，如 玄发改（不给则保留原值）/ the code in the document number, e.g. 玄发改 "
                       "(kept as it was when not given)")
    @db_option
    @lang_option
    def authorities_set(region_code: str, name: str, doc_prefix: str | None, db: str, lang: str) -> None:
        """设置地区（GB/T 2260 代码）的发文机关 / set the issuing authority of an area (a GB/T 2260 code)."""
        from minescope.knowledge.regions import full_name
        from minescope.store import accounts
        from minescope.store.findings import open_store

        code = accounts.check_authority_region(region_code)  # before opening the store: a typo costs nothing
        changed = accounts.set_authority(open_store(db), code, name, settings.login_name(), doc_prefix)
        area = full_name(code)
        if changed:
            say(lang, f"已设置 {code} {area} 的发文机关：{name.strip()}",
                f"set the issuing authority of {code} {area}: {name.strip()}")
        else:
            say(lang, f"{code} {area} 的发文机关未变", f"the issuing authority of {code} {area} is unchanged")

    @authorities.command("list")
    @db_option
    @lang_option
    def authorities_list(db: str, lang: str) -> None:
        """列出已设置的发文机关 / list the issuing authorities set."""
        from minescope.knowledge.regions import full_name
        from minescope.store import accounts
        from minescope.store.findings import open_store

        rows = accounts.list_authorities(open_store(db))
        if not rows:
            say(lang, "尚未设置发文机关", "no issuing authority is set")
        for r in rows:
            click.echo(f"{r['region_code']}\t{full_name(r['region_code'])}\t{r['name']}\t{r['doc_prefix'] or '-'}"
                       f"\t{r['updated_by']}\t{_when(r['updated_at'])}")

    @authorities.command("remove")
    @click.argument("region_code", metavar="REGION")
    @db_option
    @lang_option
    def authorities_remove(region_code: str, db: str, lang: str) -> None:
        """删除地区的发文机关（其通知书改用上级地区的）/ remove an area's issuing authority (its notices then
        use the one of the area above)."""
        from minescope.store import accounts
        from minescope.store.findings import open_store

        code = accounts.check_authority_region(region_code)
        accounts.remove_authority(open_store(db), code, settings.login_name())
        say(lang, f"已删除 {code} 的发文机关", f"removed the issuing authority of {code}")

    @authorities.command("which")
    @click.argument("region_code", metavar="REGION")
    @db_option
    @lang_option
    def authorities_which(region_code: str, db: str, lang: str) -> None:
        """该地区的通知书由谁发文（县、市、省依次查找）/ who issues an area's notices (county, city, province in
        turn)."""
        from minescope.outputs.notice import issuing_authority
        from minescope.store import accounts
        from minescope.store.findings import open_store

        code = accounts.check_authority_region(region_code)
        found = issuing_authority(open_store(db), code)
        if found.configured:
            say(lang, f"{found.name}\t文号代字 {found.prefix}\t（设置于 {found.configured_for}）",
                f"{found.name}\tprefix {found.prefix}\t(set for {found.configured_for})")
        else:
            say(lang, f"{found.name}\t未配置发文机关，通知书以地区名称落款",
                f"{found.name}\tno issuing authority is configured; notices carry the area's name")

    @authorities.command("history")
    @click.argument("region_code", metavar="REGION", required=False)
    @db_option
    @lang_option
    def authorities_history(region_code: str | None, db: str, lang: str) -> None:
        """发文机关的变更记录（新在前）/ the changes to issuing authorities (newest first)."""
        import json

        from minescope.store import accounts
        from minescope.store.findings import open_store

        for e in accounts.authority_history(open_store(db), region_code):
            change = json.dumps({k: v for k, v in e.detail.items() if k != "region_code"}, ensure_ascii=False,
                                sort_keys=True)
            click.echo(f"{_when(e.at)}\t{e.actor}\t{e.detail.get('region_code', '')}\t{e.action}\t{change}")
