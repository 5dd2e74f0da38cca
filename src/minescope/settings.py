"""Every setting minescope takes from its environment, declared once: name, environment variable,
default and help in Chinese and English.

Other modules read the environment only through this module (``settings.DB.value()``,
``settings.lang()``), never through ``os.environ``; ``docs/settings.md`` holds the table
``markdown_table()`` makes. ``tests/test_settings.py`` checks both.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    """One setting. ``default`` gives the value when the variable is unset or empty (None: the
    module that uses it decides, as ``shown_default`` says)."""

    name: str
    env: str
    shown_default: str  # the default as the documentation states it
    zh: str
    en: str
    default: Callable[[], str | None] = lambda: None
    option: str = ""  # the command-line option that overrides it, if any

    def raw(self) -> str | None:
        """The environment's value; None when the variable is unset or empty."""
        return os.environ.get(self.env) or None

    def is_set(self) -> bool:
        return self.raw() is not None

    def value(self) -> str | None:
        """The environment's value, else the default."""
        raw = self.raw()
        return raw if raw is not None else self.default()

    def export(self, value: str, *, keep: bool = False) -> None:
        """Hand a value down to child processes (the console's workers); ``keep``: unless already set."""
        if not (keep and self.is_set()):
            os.environ[self.env] = value


# --- what the platform defines (read here too, so that no other module reads the environment) -------

def data_home() -> Path:
    """``$XDG_DATA_HOME``, else ~/.local/share."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def config_home() -> Path:
    """``$XDG_CONFIG_HOME``, else ~/.config."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def terminal_forced() -> bool:
    """Whether the environment tells rich to draw as on a terminal (its ``TTY_COMPATIBLE`` or ``FORCE_COLOR``)."""
    return "TTY_COMPATIBLE" in os.environ or "FORCE_COLOR" in os.environ


def login_name() -> str:
    """Who runs the command (``$USER``), else "cli": the actor the case history records."""
    return os.environ.get("USER") or "cli"


def java_home() -> str | None:
    """``$JAVA_HOME``, if set: Spark finds Java there when ``java`` is not on the PATH."""
    return os.environ.get("JAVA_HOME") or None


# --- the settings --------------------------------------------------------------------------------

DB = Setting(
    "db", "MINESCOPE_DB", "`$XDG_DATA_HOME/minescope/minescope.db` (`~/.local/share/minescope/minescope.db`)",
    zh="结果库（发现、扫描、案件、账号）：文件路径或 SQLAlchemy URL，如 postgresql+psycopg://用户:密码@主机/库",
    en="the findings store (findings, scans, cases, accounts): a file path or an SQLAlchemy URL such as "
       "postgresql+psycopg://user:pw@host/db",
    default=lambda: str(data_home() / "minescope" / "minescope.db"), option="--db")
LANG = Setting(
    "lang", "MINESCOPE_LANG", "`zh`",
    zh="报告、消息与错误的语言：zh（简体中文）或 en（英文，以 en 开头的值均可，如 en_US）",
    en="language of reports, messages and errors: zh (Simplified Chinese) or en (English; any value "
       "starting with en, such as en_US)",
    default=lambda: "zh", option="--lang")
FEEDS = Setting(
    "feeds", "MINESCOPE_FEEDS", "`$XDG_CONFIG_HOME/minescope/feeds` (`~/.config/minescope/feeds`), if it exists",
    zh="附加矿池名单：文件或目录，多个以 : 分隔（Windows 为 ;）；设置后必须存在，且取代默认目录",
    en="extra pool lists: files or directories, separated by : (; on Windows); when set they must exist, "
       "and replace the default directory",
    default=lambda: str(config_home() / "minescope" / "feeds"), option="--feed")
SIGMA_RULES = Setting(
    "sigma_rules", "MINESCOPE_SIGMA_RULES", "unset (the bundled rules only)",
    zh="附加 Sigma 规则：文件或目录（.yml），多个以 : 分隔（Windows 为 ;）；与内置的 SigmaHQ 及 minescope 规则"
       "一同在主机数据上运行，无法运行的规则逐条列出原因（见 docs/host.md）",
    en="extra Sigma rules: files or folders (.yml), separated by : (; on Windows); they run on host evidence beside "
       "the bundled SigmaHQ and minescope rules, and a rule that cannot run is listed with its reason (docs/host.md)")
CONTENT_LEXICON = Setting(
    "content_lexicon", "MINESCOPE_CONTENT_LEXICON", "unset (the bundled lexicon only)",
    zh="附加内容词表：TSV 文件（列同内置词表：term、category、means、language、rule、source），"
       "多个以 : 分隔（Windows 为 ;），与内置词表一同用于 content scan（见 docs/content.md）",
    en="extra content lexicons: TSV files (the bundled lexicon's columns: term, category, means, language, rule, "
       "source), separated by : (; on Windows); used beside the bundled lexicon by content scan (docs/content.md)")
SPARK_MASTER = Setting(
    "spark_master", "MINESCOPE_SPARK_MASTER", "`local[2]`",
    zh="--engine spark 所用的 Spark master，如 spark://主机:7077",
    en="the Spark master of --engine spark, e.g. spark://host:7077",
    default=lambda: "local[2]")
DUCKDB_MEMORY = Setting(
    "duckdb_memory", "MINESCOPE_DUCKDB_MEMORY", "half the machine's memory, 256 MB to 4 GB",
    zh="DuckDB 的内存上限（如 2GB），超出部分溢写到临时目录",
    en="DuckDB's memory limit (e.g. 2GB); beyond it DuckDB spills to a temporary folder")
SECRET = Setting(
    "secret", "MINESCOPE_SECRET", "a new random key at each `minescope serve`",
    zh="处置平台签名会话 Cookie 的密钥；设置后重启服务不会使登录失效",
    en="the key the console signs session cookies with; set it so that sessions survive a restart")
SECURE_COOKIES = Setting(
    "secure_cookies", "MINESCOPE_SECURE_COOKIES", "unset (cookies also over plain HTTP)",
    zh="设为 1 时，处置平台的 Cookie 带 Secure 标志，只经 HTTPS 发送；经 TLS（或终止 TLS 的代理）提供服务时务必设置",
    en="1: the console's cookies are Secure, sent over HTTPS only; set it whenever the console is reached over TLS "
       "(directly or through a proxy that ends TLS)")
TRUSTED_PROXIES = Setting(
    "trusted_proxies", "MINESCOPE_TRUSTED_PROXIES", "unset (no proxy is believed)",
    zh="可信反向代理的地址（逗号分隔，如 127.0.0.1）：只认它们给出的 X-Forwarded-For 与 X-Forwarded-Proto，"
       "登录限流按真实客户端地址计数，HTTPS 时发送 HSTS",
    en="addresses of trusted reverse proxies (comma-separated, e.g. 127.0.0.1): only their X-Forwarded-For and "
       "X-Forwarded-Proto are believed, so that the login throttle counts the real client and HSTS is sent over "
       "HTTPS")
DEBUG = Setting(
    "debug", "MINESCOPE_DEBUG", "unset",
    zh="设为 1 时，意外错误打印完整调用栈（供报告缺陷），而非一行说明",
    en="1: an unexpected error prints its full traceback (to report a bug) instead of one line")

CASE_KINDS = Setting(
    "case_kinds", "MINESCOPE_CASE_KINDS", "the kinds declared to open cases (network: `mining_session`, "
    "`pool_contact`, `encrypted_mining_suspect`, `exchange_access`; host: `miner_process`, `miner_persistence`, "
    "`mining_host`; power: `mining_load`; content: `prohibited_listing`, `trading_promotion`; funds: "
    "`money_mule_account`, `otc_merchant`; the list is docs/plugins.md's)",
    zh="哪些类型的发现立案处置（逗号分隔的类型名）：立案是政策，不由检测器决定",
    en="which kinds of finding open cases (kind names, comma-separated): opening a case is policy, not detector "
       "code")

FAILPOINT = Setting(
    "failpoint", "MINESCOPE_FAILPOINT", "unset",
    zh="仅供故障注入测试：在写入事务中的指定位置暂停、中断或终止进程（NAME[:pause|kill9|sigint|sigterm|raise]，"
       "逗号分隔；见 minescope/failpoints.py 与 docs/reliability.md）",
    en="for the fault-injection tests only: pause, interrupt or kill the process at a named place inside a write "
       "transaction (NAME[:pause|kill9|sigint|sigterm|raise], comma-separated; see minescope/failpoints.py and "
       "docs/reliability.md)")

SETTINGS: tuple[Setting, ...] = (DB, LANG, FEEDS, SIGMA_RULES, CONTENT_LEXICON, SPARK_MASTER, DUCKDB_MEMORY, SECRET,
                                 SECURE_COOKIES,
                                 TRUSTED_PROXIES, DEBUG, CASE_KINDS, FAILPOINT)


def lang() -> str:
    """The default language: "en" when MINESCOPE_LANG starts with "en", else "zh"."""
    return "en" if (LANG.value() or "zh").lower().startswith("en") else "zh"


def debug() -> bool:
    return DEBUG.raw() not in (None, "0")


def content_lexicons() -> list[Path]:
    """The files of ``$MINESCOPE_CONTENT_LEXICON`` (separated by ``os.pathsep``)."""
    raw = CONTENT_LEXICON.value() or ""
    return [Path(p.strip()).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def markdown_table() -> str:
    """The table of docs/settings.md (the test checks the document holds it as made here)."""
    rows = ["| variable | option | default | 说明 | meaning |", "|---|---|---|---|---|"]
    for s in SETTINGS:
        rows.append(f"| `{s.env}` | {f'`{s.option}`' if s.option else ''} | {s.shown_default} | {s.zh} | {s.en} |")
    return "\n".join(rows) + "\n"
