"""The ``minescope`` command: parses, calls, prints.

Exit codes (docs/reliability.md): 0 everything read and stored; 2 some input could not be read (the
findings of the readable part are still reported and stored); 1 the command did not do its job (a bad
option or usage, a store unreachable or not written, a report it cannot write). Errors are one line
each, in the chosen language; never a traceback.

Every command runs inside one error boundary (``Boundary``, the group's ``invoke``): an input, store
or file problem raised anywhere below becomes that one line and exit code 1. Commands share their
options (``db_option``, ``lang_option``); the settings behind them are in ``minescope.settings``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from minescope import __version__, registry, settings
from minescope.authorities_cli import add_authority_commands
from minescope.errors import InputError
from minescope.model import ScanResult, Text
from minescope.user_cli import add_user_commands

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from sqlalchemy import Engine

    from minescope.dimensions.network.readers.dataset import DatasetFile, DatasetWriter
    from minescope.pipeline import Scanner

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
# what the shared options leave for the error boundary (``ctx.meta`` is shared by nested commands)
_LANG, _DB = "minescope.lang", "minescope.db"
F = TypeVar("F", bound=Callable[..., Any])


def _lang_default() -> str:
    return settings.lang()


def _say(text: Text, lang: str) -> None:
    click.echo(("错误：" if lang == "zh" else "error: ") + text.get(lang), err=True)


# --- shared options --------------------------------------------------------------------------------

_chosen_lang: list[str] = []  # --lang once parsed: for what is said after its context is gone (Ctrl-C)


def _remember_lang(ctx: click.Context, _param: click.Parameter, value: str) -> str:
    ctx.meta[_LANG] = value
    _chosen_lang[:] = [value]
    return value


def _resolve_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> str:
    target = value or settings.DB.value() or "minescope.db"
    ctx.meta[_DB] = target
    return target


def lang_option(f: F) -> F:
    """``--lang zh|en``: the language of the command's output and errors (default: $MINESCOPE_LANG, else zh)."""
    return click.option("--lang", type=click.Choice(["zh", "en"]), default=_lang_default,
                        show_default="zh (MINESCOPE_LANG)", callback=_remember_lang, is_eager=True,
                        help="语言 / language")(f)


def db_option(f: F) -> F:
    """``--db PATH|URL``: the findings store; the command receives it resolved (default $MINESCOPE_DB)."""
    return click.option("--db", "db", callback=_resolve_db,
                        help="结果库：文件路径或 SQLAlchemy URL / findings store: file path or SQLAlchemy URL "
                             "(default $MINESCOPE_DB or ~/.local/share/minescope/minescope.db)")(f)


# --- the error boundary ------------------------------------------------------------------------------

def _first_line(e: BaseException) -> str:
    text = str(getattr(e, "orig", None) or e).strip()
    return (text.splitlines() or [type(e).__name__])[0][:200]


def _store_name(target: str) -> str:
    """The store as the user named it, without a password."""
    if "://" not in target:
        return target
    try:
        from sqlalchemy.engine import make_url

        return make_url(target).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: show only its scheme
        return target.split("://", 1)[0] + "://…"


def store_problem(target: str, e: BaseException) -> Text:
    """One line for a store that cannot be opened, read or written."""
    where, reason = _store_name(target), _first_line(e)
    return Text(zh=f"{where}: 无法使用结果库（{reason}）；请检查路径、权限或 URL，或用 --db 指定另一个结果库",
                en=f"{where}: cannot use the findings store ({reason}); check the path, its permissions or the URL, "
                   "or pass --db another store")


def _problem(ctx: click.Context, e: Exception) -> Text | None:
    """The one line an exception becomes, or None when it is not the user's to fix (a bug)."""
    from sqlalchemy.exc import SQLAlchemyError

    target = ctx.meta.get(_DB)
    if isinstance(e, InputError):
        return e.text
    if isinstance(e, SQLAlchemyError):
        return store_problem(target or "", e)
    if isinstance(e, OSError):
        filename = str(e.filename) if e.filename is not None else None
        if target and filename and "://" not in target and Path(filename) in (Path(target), *Path(target).parents):
            return store_problem(target, e)  # the store, or its folder, cannot be made
        reason = e.strerror or _first_line(e)
        where = filename or " ".join(filter(None, (ctx.command_path, ctx.invoked_subcommand)))
        return Text(zh=f"{where}: 无法读写（{reason}）；请检查路径与权限",
                    en=f"{where}: cannot read or write it ({reason}); check the path and its permissions")
    return None


def _usage_problem(e: click.exceptions.ClickException) -> Text:
    """Click's own error (an unknown option, a missing argument, a bad value) as one line in both languages,
    with the way to the command's help."""
    message = " ".join(e.format_message().split()).rstrip(".")
    command = e.ctx.command_path if isinstance(e, click.UsageError) and e.ctx else "minescope"
    if isinstance(e, click.NoSuchOption):
        zh = f"没有选项 {e.option_name}" + (f"（是否想用 {'、'.join(e.possibilities)}？）" if e.possibilities else "")
    elif isinstance(e, click.MissingParameter) and e.param is not None:
        zh = f"缺少{'参数' if isinstance(e.param, click.Argument) else '选项'} {e.param.get_error_hint(e.ctx)}" \
            if e.ctx else f"缺少 {e.param.name}"
    elif isinstance(e, click.BadParameter) and e.param is not None and e.ctx is not None:
        zh = f"{e.param.get_error_hint(e.ctx)} 的值无效（{e.message}）"
    elif isinstance(e, click.UsageError) and message.startswith("No such command"):
        zh = f"没有命令 {message.removeprefix('No such command').strip()}"
    else:
        zh = f"用法有误（{message}）"
    en = message[0].lower() + message[1:] if message else "usage error"
    return Text(zh=f"{zh}；运行 {command} --help 查看用法", en=f"{en}; run {command} --help for usage")


class Boundary(click.Group):
    """The group whose ``invoke`` runs every command and sub-command: what goes wrong below it is one
    line on stderr, in the command's language, and exit code 1 — never a traceback.

    InputError (bad input, said in both languages), SQLAlchemyError (the store) and OSError (a file)
    are the user's to fix and say so; anything else is a bug, said in one line that asks for
    MINESCOPE_DEBUG=1 (which lets the traceback through). Click's own usage errors (an unknown option,
    a missing argument, a bad value) are one line too, with exit code 1 (``main``); a closed pipe keeps
    click's handling."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False  # click's errors come here, to be said as ours are
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as e:  # `minescope` alone, or a group without its command
            click.echo(e.ctx.get_help())
            sys.exit(EXIT_OK)
        except click.exceptions.ClickException as e:
            lang = (e.ctx.meta.get(_LANG) if isinstance(e, click.UsageError) and e.ctx else None) or settings.lang()
            _say(_usage_problem(e), lang)
            sys.exit(EXIT_FAILED)
        except click.exceptions.Abort:  # Ctrl-C outside a command's own handling
            _say(Text(zh="已中断", en="interrupted"), _chosen_lang[0] if _chosen_lang else settings.lang())
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else EXIT_OK)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as e:
            if isinstance(e, OSError) and e.errno == errno.EPIPE:
                raise  # the reader went away (| head): click exits quietly
            problem = _problem(ctx, e)
            if problem is None:
                if settings.debug():
                    raise
                what = f"{type(e).__name__}: {_first_line(e)}"
                problem = Text(zh=f"意外错误（{what}）；这是 minescope 的缺陷：请设 MINESCOPE_DEBUG=1 "
                                  "重新运行，并报告其调用栈",
                               en=f"unexpected error ({what}); this is a bug in minescope: rerun with "
                                  "MINESCOPE_DEBUG=1 and report the traceback")
            _say(problem, ctx.meta.get(_LANG) or settings.lang())
            sys.exit(EXIT_FAILED)


@click.group(name="minescope", cls=Boundary, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minescope")
def main() -> None:
    """minescope：发现、归属并测算虚拟货币挖矿活动 / find, attribute and size cryptocurrency mining."""


@main.command()
@click.argument("inputs", nargs=-1,
                type=click.Path(path_type=Path, readable=False))  # unreadable: one line each (split_inputs)
@click.option("--format", "fmt", type=click.Choice(registry.outputs("scan")), default="terminal",
              show_default=True, help="输出格式 / output format (json goes to stdout unless --output)")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="写入文件 / write the report to this file")
@lang_option
@db_option
@click.option("--no-store", is_flag=True, help="不保存结果 / do not store findings")
@click.option("--feed", "feeds", multiple=True, type=click.Path(path_type=Path),
              help="附加矿池名单文件或目录 / extra pool list file or directory (repeatable)")
@click.option("--registry", type=click.Path(path_type=Path),
              help="单位登记表 CSV / organisation registry CSV (cidr, organisation, type, region_code, contact)")
@click.option("--mapping", "mappings", multiple=True, type=click.Path(path_type=Path),
              help="CSV/Parquet/JSON 行导出的列映射（TOML/JSON，可重复；按列名匹配文件）/ column mapping of CSV, "
                   "Parquet or JSON-lines exports (TOML/JSON, repeatable; each file takes the first whose columns it "
                   "has; docs/mapping.md)")
@click.option("--idle-timeout", type=click.FloatRange(min=1), default=3600.0, show_default=True,
              help="流空闲超时（秒）/ flow idle timeout in seconds")
@click.option("-i", "--interface", help="实时抓包网卡（需要 root 或 CAP_NET_RAW）/ capture live from this interface")
@click.option("--duration", type=click.FloatRange(min=1), help="实时抓包时长（秒）/ live capture length in seconds")
@click.option("--engine", type=click.Choice(list(registry.engines())), default="duckdb", show_default=True,
              help="流日志与数据集的查询引擎（spark：$MINESCOPE_SPARK_MASTER，默认 local[2]）/ engine for flow logs "
                   "and datasets (spark: $MINESCOPE_SPARK_MASTER, default local[2])")
@click.option("--all-partitions", is_flag=True,
              help="重扫数据集的全部文件，而非仅新文件 / rescan every file of flow datasets, not only new ones")
@click.option("--behaviour/--no-behaviour", default=True, show_default=True,
              help="流日志的行为模型线索（低危，需人工核实）/ "
                   "the behaviour model's leads on flow logs (low, to verify)")
@click.option("--leads-top", type=click.IntRange(min=1), default=None,
              help="只保留排序最前的 N 条行为线索（每个抓包、全部流日志各一组）/ keep only the N best-ranked "
                   "behaviour leads (of each capture, and of all flow logs together)")
def scan(inputs: tuple[Path, ...], fmt: str, output: Path | None, lang: str, db: str, no_store: bool,
         feeds: tuple[Path, ...], registry: Path | None, mappings: tuple[Path, ...], idle_timeout: float,
         interface: str | None, duration: float | None, engine: str, all_partitions: bool, behaviour: bool,
         leads_top: int | None) -> None:
    """扫描抓包文件（pcap/pcapng，可 gzip）、流日志（NetFlow/IPFIX、nfdump、Zeek、Suricata）或目录 /
    scan captures (pcap/pcapng, gzipped), flow logs (NetFlow/IPFIX, nfdump, Zeek, Suricata) or directories."""
    from minescope.pipeline import Scanner, ScanOptions

    if not inputs and not interface:
        raise InputError("请给出抓包文件或目录，或用 --interface 指定网卡；例：minescope scan samples/pcap",
                         "give capture files or directories, or --interface; e.g. minescope scan samples/pcap")
    if inputs and interface:
        raise InputError("请只给出文件或目录，或只用 --interface 实时抓包，不要同时给出",
                         "give files or directories, or --interface for a live capture, not both")
    loaded = _load_mappings(mappings)
    # a report that cannot be written, or a store that cannot be used, fails now, not after the scan
    if output is not None or fmt == "html":
        _check_writable(output or Path(HTML_DEFAULT))
    store = None
    if not no_store:  # SQLAlchemy and the store's models only when findings are stored
        from minescope.store.findings import open_store

        store = open_store(db)
    seen = None if store is None or all_partitions else _scanned_files(store, db)
    lists = []
    if store is not None:  # pools that `minescope probe` confirmed are known to every later scan of this store
        from minescope.store.intel import confirmed_list

        lists.append(confirmed_list(store))
    scanner = Scanner(ScanOptions(idle_timeout=idle_timeout, feeds=list(feeds), registry=registry,
                                  engine=engine, seen_files=seen, behaviour=behaviour, lists=lists,
                                  leads_top=leads_top, mappings=loaded))
    if interface:
        from minescope.pipeline import scan_interface

        result = scan_interface(scanner, interface, duration)
    else:
        result = _scan_files(scanner, list(inputs), quiet=fmt == "json" and output is None)
    stored = not_stored = None
    if store is not None:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            stored = (_store_name(db), *_store(store, result, scanner.dataset_files))
        except (SQLAlchemyError, OSError) as e:  # nothing of this scan was stored: the report still follows
            where, reason = _store_name(db), _first_line(e)
            not_stored = Text(zh=f"{where}: 无法写入结果库（{reason}）；请检查路径或用 --db 指定，本次结果未保存",
                              en=f"{where}: cannot write the findings store ({reason}); check it or pass --db; "
                                 "this scan was not stored")
    try:
        _emit(result, fmt, output, lang, stored)
    except OSError as e:  # say what the store holds: the findings are not lost with the report
        target, reason = output or Path(HTML_DEFAULT), e.strerror or _first_line(e)
        kept = (f"；本次结果已保存（扫描 #{stored[1]}）", f"; the findings were stored (scan #{stored[1]})") if stored \
            else ("", "")
        raise InputError(f"{target}: 报告无法写入（{reason}）{kept[0]}", f"{target}: cannot write the report ({reason})"
                         f"{kept[1]}") from e
    _tell_datasets(scanner, lang)
    for problem in result.problems:
        _say(problem, lang)
    if not_stored is not None:
        _say(not_stored, lang)
        sys.exit(EXIT_FAILED)
    sys.exit(EXIT_BAD_INPUT if result.problems else EXIT_OK)


HTML_DEFAULT = "minescope-report.html"


def _check_writable(output: Path) -> None:
    """A report's folder must exist and take files; checked before the scan, so nothing is stored in vain."""
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{output}: 目录 {folder} 不存在；请先创建，或用 -o 指定其他位置",
                         f"{output}: the folder {folder} does not exist; create it or choose another -o")
    if not os.access(folder, os.W_OK) and not (output.exists() and os.access(output, os.W_OK)):
        raise InputError(f"{output}: 无权写入 {folder}；请用 -o 指定其他位置",
                         f"{output}: {folder} is not writable; choose another -o")


def _write_report(path: Path, data: bytes) -> None:
    """Write a report whole or not at all: a regular file is written beside and renamed into place (a
    full disk leaves the old report, not half a new one); a device or pipe is written directly."""
    if path.exists() and not path.is_file():
        path.write_bytes(data)
        return
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    finally:
        with contextlib.suppress(OSError):  # the write's own error is the one to tell
            partial.unlink(missing_ok=True)


def _load_mappings(paths: tuple[Path, ...]) -> list[Any]:
    """The column mappings, each checked now: a bad one is one line before anything is read."""
    from minescope.readers.mapped import Mapping, MappingError
    from minescope.readers.names import path_text

    loaded = []
    for path in paths:
        try:
            loaded.append(Mapping.load(path))
        except MappingError as e:
            raise InputError(f"{path_text(path)}: {e.zh}；请按 docs/mapping.md 改正",
                             f"{path_text(path)}: {e.en}; correct it as docs/mapping.md shows") from None
    return loaded


def _scan_files(scanner: Scanner, paths: list[Path], quiet: bool) -> ScanResult:
    if quiet or not _stderr_may_be_terminal():  # the bar would be disabled: no need to import rich
        return scanner.scan(paths)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    total = sum(p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
                for p in paths if p.exists())
    console = Console(stderr=True)
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=True,
                  disable=quiet or not console.is_terminal) as bar:
        task = bar.add_task("scan", total=total or None)
        return scanner.scan(paths, progress=lambda n: bar.advance(task, n))


def _stderr_may_be_terminal() -> bool:
    """False only where rich's ``Console(stderr=True).is_terminal`` is surely False: no variable that forces it
    (TTY_COMPATIBLE, FORCE_COLOR), and stderr is no tty."""
    if settings.terminal_forced():
        return True
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return isatty is not None and bool(isatty())
    except ValueError:  # a closed stream: rich says not a terminal
        return False


def _scanned_files(store: Engine, target: str) -> Callable[[str], set[str]]:
    """Which files of a dataset the store has scanned (read when a dataset is met, not before)."""

    def seen(dataset: str) -> set[str]:
        from sqlalchemy.exc import SQLAlchemyError

        from minescope.store.datasets import scanned_files

        try:
            return scanned_files(store, dataset)
        except (SQLAlchemyError, OSError) as e:
            reason, where = _first_line(e), _store_name(target)
            raise InputError(f"{where}: 无法读取结果库（{reason}），不知哪些数据集文件已扫描；请检查 --db，"
                             "或用 --all-partitions / --no-store",
                             f"{where}: cannot read the findings store ({reason}) to tell which dataset files "
                             "were scanned; check --db, or use --all-partitions / --no-store") from e

    return seen


def _tell_datasets(scanner: Scanner, lang: str) -> None:
    """One line per flow dataset: how many files this scan read, and how many it skipped as scanned before."""
    for root, read, skipped in scanner.datasets_read:
        click.echo(f"数据集 {root}：读取 {read} 个文件，跳过已扫描的 {skipped} 个" if lang == "zh"
                   else f"dataset {root}: read {read} file(s), skipped {skipped} scanned before", err=True)


def _store(store: Engine, result: ScanResult,
           dataset_files: Sequence[tuple[str, DatasetFile]] = ()) -> tuple[int, int]:
    """Store one scan in ONE transaction: its findings, the dataset files it read, and the cases they
    join (clean hosts verifying rectified cases too). A failure in any step stores nothing of it.
    Returns (scan id, new findings)."""
    from minescope.cases.workflow import sync_cases, verify_clean
    from minescope.failpoints import failpoint
    from minescope.store.datasets import mark_scanned
    from minescope.store.findings import save_scan

    store.dispose()  # a long scan may outlive the pooled connections: start with fresh ones
    with store.begin() as conn:
        failpoint("store.begin")  # the fault-injection tests stop the process at these points (tests/faults/)
        scan_id, new = save_scan(conn, result)
        failpoint("store.findings")
        for dataset in dict.fromkeys(d for d, _ in dataset_files):
            mark_scanned(conn, dataset, [f for d, f in dataset_files if d == dataset], scan_id)
        failpoint("store.datasets")
        # the ledger follows the scans: new findings join their cases, clean hosts verify rectified ones
        sync_cases(conn)
        failpoint("store.cases")
        verify_clean(conn, result)
        failpoint("store.commit")
    return scan_id, new


def _emit(result: ScanResult, fmt: str, output: Path | None, lang: str, stored: tuple[str, int, int] | None) -> None:
    from minescope.outputs.summary import summarize

    summary = summarize(result)
    if fmt == "json":
        from minescope.outputs.jsonout import dumps

        data = dumps(result, summary)
        if output:
            _write_report(output, data)
        else:
            sys.stdout.buffer.write(data + b"\n")
            sys.stdout.flush()
    elif fmt == "html":
        from minescope.outputs.html import render_html

        target = output or Path(HTML_DEFAULT)
        _write_report(target, render_html(result, summary, lang).encode())
        click.echo(("HTML 报告：" if lang == "zh" else "HTML report: ") + str(target), err=True)
    else:
        from rich.console import Console

        from minescope.outputs.terminal import render_terminal

        console = Console(record=output is not None)
        if output is not None or not console.is_terminal:
            console = Console(record=output is not None, width=120)  # a file or a pipe: wide tables
        render_terminal(result, summary, lang, console)
        if output:
            _write_report(output, console.export_text().encode())
    if stored is not None and fmt != "json":
        where, scan_id, new = stored
        click.echo((f"已保存到 {where}（扫描 #{scan_id}，新增 {new} 条）" if lang == "zh"
                    else f"stored in {where} (scan #{scan_id}, {new} new findings)"), err=True)


@main.group()
def flows() -> None:
    """流日志数据集（按天/小时分区的 Parquet）/ flow datasets (Parquet partitioned by day or hour)."""


@flows.command("import")
@click.argument("inputs", nargs=-1, required=True,
                type=click.Path(path_type=Path, readable=False))  # unreadable: one line each (split_inputs)
@click.option("-o", "--dataset", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="数据集目录（不存在则新建；已有则追加）/ dataset directory (created, or appended to)")
@click.option("--partition", type=click.Choice(["hour", "day"]), default="hour", show_default=True,
              help="新数据集的分区粒度 / partitioning of a new dataset")
@lang_option
def flows_import(inputs: tuple[Path, ...], dataset: Path, partition: str, lang: str) -> None:
    """把流日志（NetFlow/IPFIX、nfdump、Zeek、Suricata）和抓包的流写入数据集；之后 minescope scan 数据集目录只读新文件 /
    write flow logs, and the flows of captures, into a dataset; minescope scan DATASET then reads only new files.

    抓包只导入流与 DNS 事务（提问的主机、问题、应答；无载荷证据）；要挖矿协议的证据请直接扫描抓包 / a capture gives
    its flows and DNS transactions only (the asking host, question, answers; no payload evidence); scan captures
    directly for mining-protocol evidence.

    一次导入要么全部写入，要么什么都不留：中断（Ctrl-C、SIGTERM）或写入失败（如磁盘已满）时撤销；已导入过的输入
    （内容相同）跳过 / an import is whole or leaves nothing: interrupted (Ctrl-C, SIGTERM) or failing (a full
    disk) it is rolled back; inputs imported before (same content) are skipped."""
    from minescope.dimensions.network.readers.dataset import DatasetWriter
    from minescope.pipeline import split_inputs

    split = split_inputs(list(inputs))
    captures, logs = split.captures, split.logs
    problems = [why for _, why in split.problems]
    problems += [Text(zh=f"{p}: 已是数据集，不能再导入", en=f"{p}: already a dataset; it cannot be imported")
                 for p in split.datasets]
    problems += [Text(zh=f"{p}: 是终端日志，不是流量；请用 minescope scan 读取",
                      en=f"{p}: an endpoint log, not traffic; read it with minescope scan") for p in split.host_logs]
    writer: DatasetWriter | None = None
    with _stop_signals_as_ctrl_c() as caught:
        try:
            writer = DatasetWriter(dataset, partition)
            for line in writer.recovered:  # a dead import's leftovers, removed before this one begins
                click.echo(line.get(lang), err=True)
            claimed, skipped = writer.claim(captures + logs)
            for _, why in skipped:
                click.echo(why.get(lang), err=True)
            todo = set(claimed)
            problems += _import_inputs(writer, [p for p in captures if p in todo], [p for p in logs if p in todo])
            writer.close()
        except KeyboardInterrupt:
            if writer is None:
                raise
            if _roll_back(writer):  # else it completed before the signal was handled, and is reported below
                what = caught[0] if caught else "Ctrl-C"
                _say(Text(zh=f"{dataset}: 导入被中断（{what}），已撤销，数据集未改变；重新运行同一命令即可导入",
                          en=f"{dataset}: the import was interrupted ({what}) and rolled back; the dataset is as "
                             "before; run the same command again to import"), lang)
                sys.exit(EXIT_FAILED)
        except OSError as e:  # a full disk, a failing one, an input that cannot be read
            if writer is None:
                raise
            _roll_back(writer)
            reason = os.strerror(e.errno) if e.errno else _first_line(e)
            where = e.filename or dataset
            raise InputError(f"{where}: 导入失败（{reason}），已撤销，数据集未改变；请解决后重新运行",
                             f"{where}: the import failed ({reason}) and was rolled back; the dataset is as "
                             "before; fix it and run the command again") from e
        except BaseException:
            if writer is not None:
                _roll_back(writer)
            raise
    rows = ", ".join(f"{table} {n}" for table, n in sorted(writer.rows.items())) or "0"
    click.echo(f"已写入 {dataset}：{rows} 行，{len(writer.paths)} 个文件" if lang == "zh"
               else f"written to {dataset}: {rows} rows, {len(writer.paths)} file(s)", err=True)
    for problem in problems:
        _say(problem, lang)
    sys.exit(EXIT_BAD_INPUT if problems else EXIT_OK)


def _import_inputs(writer: DatasetWriter, captures: list[Path], logs: list[Path]) -> list[Text]:
    """Read captures and logs into the import; the problems of their content (records skipped)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from minescope.dimensions.network.readers.capture_flows import read_capture
    from minescope.dimensions.network.readers.inputs import FlowLogInput
    from minescope.dimensions.network.tables import TABLES
    from minescope.knowledge.pools import PoolIntel

    problems: list[Text] = []
    # the packet engine keeps the flows of DNS names the pool lists know (besides long ones);
    # logs alone need no lists
    intel = PoolIntel.load() if captures else PoolIntel()
    console = Console(stderr=True)
    total = sum(p.stat().st_size for p in logs + captures)
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as bar:
        task = bar.add_task("import", total=total or None)
        for path in captures:
            flows, dns, problem = read_capture(path, lambda name: intel.match_mining_domain(name) is not None)
            writer.write("flows", flows)
            writer.write("dns", dns)
            bar.advance(task, path.stat().st_size)
            if problem is not None:
                problems.append(problem)
        for path in logs:
            log = FlowLogInput(path)
            for table, batch in log:
                if table in TABLES:  # a dataset keeps no ClientHello fingerprints (``tls``), as for captures
                    writer.write(table, batch)
            bar.advance(task, path.stat().st_size)
            problems.extend(log.report.summary())
    return problems


def _roll_back(writer: DatasetWriter) -> bool:
    """Undo an unfinished import, deaf to a second Ctrl-C meanwhile; False when it had completed."""
    import signal
    import threading

    main_thread = threading.current_thread() is threading.main_thread()  # only it may set handlers
    quiet = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP) if main_thread else ()
    old = {s: signal.signal(s, signal.SIG_IGN) for s in quiet}
    try:
        if writer.state == "complete":
            return False
        writer.abort()
        return True
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def _stop_signals_as_ctrl_c() -> Iterator[list[str]]:
    """SIGTERM and SIGHUP end the command as Ctrl-C does (KeyboardInterrupt), so that what it leaves
    is cleaned up; the list receives the signal's name."""
    import signal
    import threading

    caught: list[str] = []
    if threading.current_thread() is not threading.main_thread():  # only the main thread sets handlers
        yield caught
        return

    def interrupt(signum: int, _frame: object) -> None:
        caught.append(signal.Signals(signum).name)
        raise KeyboardInterrupt

    stops = (signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.signal(s, interrupt) for s in stops}
    try:
        yield caught
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@flows.command("repair")
@click.argument("dataset", type=click.Path(path_type=Path, file_okay=False))
@lang_option
def flows_repair(dataset: Path, lang: str) -> None:
    """清理数据集：撤销中断的导入，把未完成、未记录或损坏的文件移到 DATASET/_quarantine/（不删除）/ clean a dataset:
    roll back interrupted imports; move unfinished, unrecorded or torn files to DATASET/_quarantine/ (nothing is
    deleted).

    退出码 / exit: 0 无异常或已全部修复 / nothing wrong, or all repaired; 2 有文件被隔离 / something was
    quarantined; 1 无法完成 / could not do its job."""
    from minescope.dimensions.network.readers.dataset import repair

    report = repair(dataset)
    for item in report.items:
        click.echo(item.text.get(lang))
    failed = [item for item in report.items if item.action == "failed"]
    quarantined = any(item.action == "quarantined" for item in report.items)
    if not report.items:
        click.echo(f"数据集 {dataset} 完好：检查了 {report.checked} 个文件" if lang == "zh"
                   else f"dataset {dataset} is sound: {report.checked} file(s) checked")
    elif not failed:
        click.echo(f"数据集 {dataset} 已修复：检查了 {report.checked} 个文件" if lang == "zh"
                   else f"dataset {dataset} repaired: {report.checked} file(s) checked")
    if failed:
        _say(Text(zh=f"{dataset}: {len(failed)} 个文件无法隔离；请检查权限或磁盘后重新运行",
                  en=f"{dataset}: {len(failed)} file(s) could not be quarantined; check permissions or the disk "
                     "and run it again"), lang)
        sys.exit(EXIT_FAILED)
    sys.exit(EXIT_BAD_INPUT if quarantined else EXIT_OK)


@main.command("export")
@click.argument("fmt", type=click.Choice(registry.outputs("export")))
@db_option
@click.option("-o", "--output", type=click.Path(path_type=Path), help="写入文件 / write to this file")
@click.option("--since-scan", type=click.IntRange(min=0), default=None,
              help="只导出此次扫描之后新确认的 / only what scans after this one confirmed")
@click.option("--incremental", "bookmark_name", metavar="NAME",
              help="增量导出：只导出上次同名导出之后新确认的，并记住本次 / only what is new since the last export "
                   "of this name, then remember this one")
@click.option("--of", "what", type=click.Choice(("pools", "exchanges")), default="pools", show_default=True,
              help="封堵对象：已确认的矿池与矿机，或交易所（名单中的域名与已见到的地址）/ what to block: "
                   "confirmed pools and miners, or exchanges (their listed domains and the addresses seen serving "
                   "them)")
@click.option("--feed", "feeds", multiple=True, type=click.Path(path_type=Path),
              help="附加名单文件或目录（类别 exchange 的交易所名单）/ extra list file or directory (exchange feeds; "
                   "repeatable)")
@lang_option
def export(fmt: str, db: str, output: Path | None, since_scan: int | None, bookmark_name: str | None, what: str,
           feeds: tuple[Path, ...], lang: str) -> None:
    """导出封堵清单：已确认的矿池与矿机，或交易所 / blocklists and indicators of confirmed pools and miners, or of
    exchanges (rpz: DNS RPZ zone, nft: nftables sets, suricata: rules, domains: a resolver's domain list, csv,
    stix: STIX 2.1 bundle)."""
    from minescope.outputs.blocklists import bookmark, confirmed_indicators, exchange_indicators, last_scan, render
    from minescope.store.findings import open_store

    store = open_store(db)
    if what == "exchanges":
        from minescope.knowledge.pools import PoolIntel

        if since_scan is not None or bookmark_name:
            raise click.UsageError("--of exchanges 总是完整导出，不支持 --since-scan/--incremental / --of exchanges "
                                   "always exports the whole list: drop --since-scan and --incremental")
        listed = render(exchange_indicators(store, PoolIntel.load(list(feeds) or None)), fmt)
        if output:
            output.write_text(listed, encoding="utf-8")
        else:
            click.echo(listed, nl=False)
        return
    name = f"{fmt}:{bookmark_name}" if bookmark_name else None
    after = since_scan if since_scan is not None else bookmark(store, name) if name else 0
    upto = last_scan(store)
    indicators = confirmed_indicators(store, after_scan=after)
    text = render(indicators, fmt)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    if name:
        bookmark(store, name, upto)  # only after the list was written: a failed write exports again
    if after:
        click.echo(f"增量导出：扫描 #{after} 之后新确认 {len(indicators)} 项（至扫描 #{upto}）" if lang == "zh" else
                   f"incremental: {len(indicators)} endpoints newly confirmed after scan #{after} (up to #{upto})",
                   err=True)


_VERDICT_WORDS = {"pool": ("矿池", "pool"), "not_pool": ("非矿池", "not a pool"), "dead": ("不可达", "dead"),
                  "refused": ("拒绝探测", "refused"), "over_budget": ("超出预算，未探测", "over budget")}
_REASON_WORDS = {"an HTTP server": "HTTP 服务器", "another protocol": "其他协议", "no answer": "无应答",
                 "JSON-RPC, not in a pool's terms": "JSON-RPC，但不是矿池的应答",
                 "closed without an answer": "未应答即关闭连接", "connection refused": "连接被拒绝",
                 "connection timeout": "连接超时", "a loopback address": "回环地址（需 --allow-private）",
                 "a private address": "私有地址（需 --allow-private）",
                 "a reserved address": "保留地址（需 --allow-private）", "not an IP address": "不是 IP 地址",
                 "over the run's budget": "超出本次预算（--budget）"}


@main.command("probe")
@click.argument("endpoints", nargs=-1)
@db_option
@click.option("--from-findings", is_flag=True,
              help="探测结果库中可疑发现的对端 / probe the peers of stored suspect findings "
                   "(encrypted_mining_suspect, pool_contact, mining_behaviour_suspect)")
@click.option("--list", "list_file", type=click.Path(path_type=Path, dir_okay=False),
              help="端点清单文件，每行 IP:PORT[@SNI] / a file of endpoints, one IP:PORT[@SNI] a line")
@click.option("--rate", type=click.FloatRange(min=0.01), default=10.0, show_default=True,
              help="每秒开始探测的端点数 / endpoints started per second")
@click.option("--concurrency", type=click.IntRange(1, 1000), default=20, show_default=True,
              help="同时探测的端点数 / endpoints probed at once")
@click.option("--budget", type=click.IntRange(min=1), default=256, show_default=True,
              help="本次最多探测的端点数 / at most this many endpoints per run")
@click.option("--timeout", type=click.FloatRange(0.05, 60), default=3.0, show_default=True,
              help="连接与等待应答的秒数 / seconds for a connection and for an answer")
@click.option("--allow-private", is_flag=True,
              help="允许探测私有、回环与保留地址 / allow private, loopback and reserved addresses")
@click.option("--log", "log_path", type=click.Path(path_type=Path, dir_okay=False),
              help="探测日志（JSON Lines，追加）/ the probe log (JSON Lines, appended); default: probe-log.jsonl "
                   "beside the store, or in the working folder for a store URL")
@click.option("--feed-out", type=click.Path(path_type=Path, dir_okay=False),
              help="把已确认矿池写成情报源文件，供 scan --feed 使用 / write the confirmed pools as a feed for "
                   "scan --feed")
@lang_option
def probe(endpoints: tuple[str, ...], db: str, from_findings: bool, list_file: Path | None, rate: float,
          concurrency: int, budget: int, timeout: float, allow_private: bool, log_path: Path | None,
          feed_out: Path | None, lang: str) -> None:
    """主动确认可疑矿池（主动扫描，须有权探测）/ confirm suspected pools by speaking to them (active scanning:
    only where you are entitled to probe)."""
    from minescope.dimensions.network.probe import Limits, Prober, merge_endpoints, parse_endpoint, read_endpoint_list
    from minescope.store.findings import open_store
    from minescope.store.intel import confirmed, feed_text, record_probes, suspected_endpoints

    zh = lang == "zh"
    store = open_store(db)
    targets, bad = [], []
    for text in endpoints:
        try:
            targets.append(parse_endpoint(text))
        except ValueError:
            bad.append(text)
    if list_file is not None:
        listed, bad_lines = read_endpoint_list(list_file)
        targets += listed
        bad += [f"{list_file}:{n}: {t}" for n, t in bad_lines]
    if from_findings:
        targets += suspected_endpoints(store)
    for b in bad:
        _say(Text(zh=f"{b}: 不是端点（应为 IP:PORT 或 IP:PORT@SNI 名称；不解析域名）",
                  en=f"{b}: not an endpoint (expected IP:PORT or IP:PORT@SNI-name; names are not resolved)"), lang)
    targets = merge_endpoints(targets)
    if not targets:
        raise InputError("没有可探测的端点；请给出 IP:PORT、--list 文件或 --from-findings",
                         "no endpoints to probe; give IP:PORT, a --list file or --from-findings")
    click.echo("注意：这是主动扫描，会连接他人的服务器；仅在你有权探测的范围内使用" if zh else
               "warning: this is active scanning, it connects to other people's servers; probe only what you are "
               "entitled to probe", err=True)
    log_path = log_path or (Path(db).parent / "probe-log.jsonl" if "://" not in db else Path("probe-log.jsonl"))
    with log_path.open("a", encoding="utf-8") as log:
        prober = Prober(Limits(rate=rate, concurrency=concurrency, budget=budget, timeout=timeout,
                               allow_private=allow_private), log=log)
        results = prober.run(targets)
    _pools, noted = record_probes(store, results)
    for r in results:
        verdict = _VERDICT_WORDS[r.verdict][0 if zh else 1]
        transport = ("TLS" if r.tls else ("明文" if zh else "clear")) if r.protocol else "-"
        reason = _REASON_WORDS.get(r.reason, r.reason) if zh else r.reason
        click.echo(f"{r.endpoint!s:<28} {verdict:<10} {r.protocol or '-':<16} {transport:<6} {reason}")
    counts = {v: sum(r.verdict == v for r in results) for v in _VERDICT_WORDS}
    unprobed = counts["refused"] + counts["over_budget"]
    click.echo(f"探测 {len(results) - unprobed} 个端点：矿池 {counts['pool']}，非矿池 {counts['not_pool']}，"
               f"不可达 {counts['dead']}；未探测 {unprobed}；更新发现 {noted} 条；日志 {log_path}" if zh else
               f"probed {len(results) - unprobed} endpoint(s): {counts['pool']} pool(s), {counts['not_pool']} not "
               f"pools, {counts['dead']} dead; {unprobed} not probed; {noted} finding(s) noted; log {log_path}",
               err=True)
    if feed_out is not None:
        feed_out.write_text(feed_text(confirmed(store)), encoding="utf-8")
    sys.exit(EXIT_BAD_INPUT if unprobed or bad else EXIT_OK)


@main.group()
def host() -> None:
    """主机检查 / host checks."""


def _host_check_epilog() -> str:
    from minescope.dimensions.host.check import READS

    lines = ["\b", "它只读取、不做任何更改 / it only reads, and changes nothing:"]
    lines += [f"- {t.zh} / {t.en}" for t in READS]
    return "\n".join(lines)


@host.command("check", epilog=_host_check_epilog())
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="报告文件（JSON），默认 host-check-主机名.json / the report (JSON); default "
                   "host-check-HOSTNAME.json in the working folder")
@click.option("--path", "paths", multiple=True, type=click.Path(path_type=Path, file_okay=False),
              help="另需扫描的目录（可多次）/ another folder to scan (repeatable)")
@click.option("--no-default-paths", is_flag=True, help="不扫描 /tmp、/var/tmp、/dev/shm / do not scan /tmp, "
              "/var/tmp, /dev/shm")
@click.option("--sample", "sample_s", default=3.0, show_default=True, type=click.FloatRange(0, 60),
              help="采样 CPU 占用的秒数 / seconds over which CPU use is sampled")
@click.option("--max-file-mb", default=64, show_default=True, type=click.IntRange(1, 4096),
              help="读取的单个文件上限（MiB）/ the largest file read (MiB)")
@lang_option
def host_check(output: Path | None, paths: tuple[Path, ...], no_default_paths: bool, sample_s: float,
               max_file_mb: int, lang: str) -> None:
    """只读检查本机的挖矿痕迹，写出一份 JSON 报告供 scan 读取 / a read-only check of this machine for mining,
    written as one JSON report that scan reads."""
    import socket

    from minescope.dimensions.host.check import CheckOptions, check_host, write_report

    output = output or Path(f"host-check-{socket.gethostname().lower()}.json")
    _check_writable(output)
    report = check_host(CheckOptions(paths=list(paths), default_paths=not no_default_paths, sample_s=sample_s,
                                     max_file_bytes=max_file_mb * 1024 * 1024))
    write_report(report, output)
    counts = {t: len(rows) for t, rows in report["tables"].items()}
    for item in report["not_checked"]:
        click.echo(f"{'未检查' if lang == 'zh' else 'not checked'}: {item[lang]}", err=True)
    click.echo(f"已写出 {output}：进程 {counts['processes']}，连接 {counts['connections']}，文件 {counts['files']}，"
               f"自启动项 {counts['persistence']}" if lang == "zh" else
               f"wrote {output}: {counts['processes']} processes, {counts['connections']} connections, "
               f"{counts['files']} files, {counts['persistence']} persistence items", err=True)


@main.group()
def content() -> None:
    """内容检查：商品、帖子、评论与应用 / content checks: listings, posts, comments and apps."""


@content.command("scan")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@click.option("--mapping", "mappings", multiple=True, type=click.Path(path_type=Path),
              help="导出文件的列映射（TOML/JSON，table = \"items\"，可重复）/ column mapping of the exports "
                   "(TOML/JSON, table = \"items\", repeatable; docs/content.md)")
@click.option("--format", "fmt", type=click.Choice(registry.outputs("scan")), default="terminal",
              show_default=True, help="输出格式 / output format (json goes to stdout unless --output)")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="写入文件 / write the report to this file")
@click.option("--no-store", is_flag=True, help="不保存结果 / do not store findings")
@lang_option
@db_option
def content_scan(inputs: tuple[Path, ...], mappings: tuple[Path, ...], fmt: str, output: Path | None,
                 no_store: bool, lang: str, db: str) -> None:
    """检查商品、帖子、评论与应用名称中的矿机、挖矿软件与虚拟货币交易推广（CSV、Parquet、JSON 行）/ check listings,
    posts, comments and app names (CSV, Parquet, JSON lines) for mining machines, mining software and crypto trading."""
    from minescope.pipeline import Scanner, ScanOptions

    loaded = _load_mappings(mappings)
    bad = [m for m in loaded if m.table != "items"]
    if bad:
        raise InputError(f"--mapping 的表应为 items（现为 {bad[0].table}）；见 docs/content.md",
                         f"--mapping must be of the table items (not {bad[0].table}); see docs/content.md")
    if output is not None or fmt == "html":
        _check_writable(output or Path(HTML_DEFAULT))
    store = None
    if not no_store:
        from minescope.store.findings import open_store

        store = open_store(db)
    scanner = Scanner(ScanOptions(mappings=loaded))
    result = scanner.scan_content_files(list(inputs))
    stored = None
    if store is not None:
        stored = (_store_name(db), *_store(store, result))
    _emit(result, fmt, output, lang, stored)
    for problem in result.problems:
        _say(problem, lang)
    sys.exit(EXIT_BAD_INPUT if result.problems else EXIT_OK)


@main.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="进程数（多用户时约为 CPU 核数加一，配合 PostgreSQL）/ processes (for many users about one per "
                   "core plus one, with PostgreSQL)")
@lang_option
def serve(db: str, host: str, port: int, workers: int, lang: str) -> None:
    """处置平台（网页与 API）/ the disposal console (pages and JSON API)."""
    from minescope.store.findings import open_store
    from minescope.web.server import run

    open_store(db)  # migrate once here, before the workers start
    run(db, host=host, port=port, workers=workers)


@main.group()
def users() -> None:
    """平台账号 / console accounts."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "analyst", "viewer"]), required=True)
@click.option("--region", "region_code", default="",
              help="辖区 GB/T 2260 代码，如 320102 / jurisdiction code, e.g. 320102")
@click.option("--national", is_flag=True, help="全国辖区（须明确给出）/ national scope (only when asked for)")
@db_option
@click.option("--token", is_flag=True, help="同时生成可写 API 令牌（90 天）/ also make a write API token (90 days)")
@lang_option
def users_add(username: str, role: str, region_code: str, national: bool, db: str, token: bool, lang: str) -> None:
    """添加账号，密码从标准输入读取 / add an account; the password is read from standard input."""
    from minescope.store.accounts import add_user, new_token
    from minescope.store.findings import open_store

    password = sys.stdin.readline().rstrip("\n")
    store = open_store(db)
    user = add_user(store, username, password, role, region_code, national=national, actor=settings.login_name())
    click.echo(("已添加 " if lang == "zh" else "added ") + user.username)
    if token:
        click.echo(new_token(store, user, name="cli", scope="write", expires_at=time.time() + 90 * 86400,
                             actor=settings.login_name()))


add_user_commands(users, db_option, lang_option)
add_authority_commands(main, db_option, lang_option)


@main.group()
def cases() -> None:
    """处置案件 / disposal cases."""


@cases.command("sync")
@db_option
@lang_option
def cases_sync(db: str, lang: str) -> None:
    """把结果归入案件，已结案件再次发现时重新打开 / group findings into cases; reopen cases seen again."""
    from minescope.cases.workflow import sync_cases
    from minescope.store.findings import open_store

    report = sync_cases(open_store(db))
    click.echo(f"新建 {report.created} 件，追加 {report.extended} 条，重新打开 {report.reopened} 件" if lang == "zh"
               else f"{report.created} cases created, {report.extended} findings added, {report.reopened} reopened")


@cases.command("list")
@db_option
@click.option("--overdue", is_flag=True, help="只列逾期案件 / only overdue cases")
@lang_option
def cases_list(db: str, overdue: bool, lang: str) -> None:
    """列出案件 / list cases."""
    from minescope.cases.workflow import list_cases
    from minescope.store.findings import open_store

    store = open_store(db)
    for c in list_cases(store, overdue=overdue):
        click.echo(f"{c.id}\t{c.state}\t{c.owner or '-'}\t{c.title}")


def _due_days(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    from minescope.cases.workflow import WorkflowError, due_days_checked

    try:
        return due_days_checked(int(value) if value.strip().isdigit() else value)
    except WorkflowError as e:
        raise click.BadParameter(f"{e.text.zh} / {e.text.en}") from None


@cases.command("assign")
@click.argument("case_id", type=int)
@click.option("--owner", required=True, help="责任人 / who is responsible")
@click.option("--due-days", default="15", show_default=True, callback=_due_days,
              help="整改期限天数（1–365 的整数）/ rectification term in whole days, 1–365")
@click.option("--actor", default=settings.login_name, show_default="$USER", help="操作人 / who acts, in the history")
@db_option
@lang_option
def cases_assign(case_id: int, owner: str, due_days: int, actor: str, db: str, lang: str) -> None:
    """分派案件（责任人、期限）/ assign a case: owner and due date."""
    import time

    from minescope.cases.workflow import assign
    from minescope.store.findings import open_store

    assign(open_store(db), case_id, owner, time.time() + due_days * 86400, actor)
    click.echo(f"案件 {case_id} 已分派给 {owner}，期限 {due_days} 天" if lang == "zh"
               else f"case {case_id} assigned to {owner}, due in {due_days} days")


@cases.command("account")
@click.argument("case_id", type=int)
@click.argument("account")
@click.argument("action", type=click.Choice(("freeze", "report_to_police", "duanka")))
@click.option("--reference", default="", help="冻结文书号、报案回执号或列入依据 / the freeze order's, police report's "
                                             "or listing's reference")
@click.option("--actor", default=settings.login_name, show_default="$USER", help="操作人 / who acts, in the history")
@db_option
@lang_option
def cases_account(case_id: int, account: str, action: str, reference: str, actor: str, db: str, lang: str) -> None:
    """记录对案件所涉账户的处置：冻结、报案、列入断卡名单 / record what was done about an account of a case: frozen,
    reported to the police, put on the 断卡 list."""
    from minescope.cases.workflow import ACCOUNT_ACTION_LABELS, act_on_account
    from minescope.store.findings import open_store

    act_on_account(open_store(db), case_id, account, action, actor, reference)
    zh, en = ACCOUNT_ACTION_LABELS[action]
    click.echo(f"案件 {case_id}：账户 {account} {zh}" if lang == "zh" else f"case {case_id}: account {account} {en}")


@cases.command("duanka")
@db_option
@click.option("--region", "region_code", default="", help="辖区代码（空为全部）/ jurisdiction code (empty: all)")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="xlsx 文件 / the .xlsx file")
@lang_option
def cases_duanka(db: str, region_code: str, output: Path, lang: str) -> None:
    """导出辖区断卡名单（xlsx，每个列入的账户一行）/ the jurisdiction's 断卡 list as .xlsx, a row per listed account."""
    from minescope.outputs.duanka import duanka_xlsx
    from minescope.store.findings import open_store

    output.write_bytes(duanka_xlsx(open_store(db), region_code, lang))
    click.echo(str(output))


@cases.command("ledger")
@db_option
@click.option("--region", "region_code", default="", help="辖区代码（空为全部）/ jurisdiction code (empty: all)")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="xlsx 文件 / the .xlsx file")
@lang_option
def cases_ledger(db: str, region_code: str, output: Path, lang: str) -> None:
    """导出辖区台账（xlsx，按下级区划分表）/ the jurisdiction's ledger as .xlsx, one sheet per sub-division."""
    from minescope.outputs.ledger import ledger_xlsx
    from minescope.store.findings import open_store

    output.write_bytes(ledger_xlsx(open_store(db), region_code, lang))
    click.echo(str(output))


@cases.command("notice")
@click.argument("case_id", type=int)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="PDF 文件 / the .pdf file")
@click.option("--issuer", default=None,
              help="发文机关，代替按地区设置的（minescope authorities；空字符串则留签章处）/ issuing "
                   "authority, instead of the one set for the case's area (minescope authorities; \"\": a line to "
                   "sign)")
@click.option("--prefix", default=None,
              help="文号中的机关代字（默认取发文机关的，否则为 整改）/ issuer code in the document number "
                   "(default: the authority's, else 整改), e.g. 苏发改整改")
@click.option("--issue", is_flag=True, help="签发：案件转为「已下发通知」并存档通知书 / "
                                        "issue it: move the case to notice_issued, keep the PDF on it")
@click.option("--actor", default=settings.login_name, show_default="$USER",
              help="记入案件历史的操作人 / who acts, in the case history (with --issue)")
@db_option
@lang_option
def cases_notice(case_id: int, output: Path, issuer: str | None, prefix: str | None, issue: bool, actor: str,
                 db: str, lang: str) -> None:
    """出具整改通知书（PDF）/ the rectification notice of a case, as PDF."""
    from minescope.cases.workflow import issue as issue_case
    from minescope.outputs.notice import case_issuer, notice_pdf
    from minescope.store.findings import open_store

    store = open_store(db)
    by = case_issuer(store, case_id) if issuer is None else issuer  # --issuer overrides the area's authority
    pdf = notice_pdf(store, case_id, issuer=by, prefix=prefix)
    output.write_bytes(pdf)  # the file first: a case is issued only when its notice exists
    click.echo(str(output))
    if not isinstance(by, str) and not by.configured:
        area = by.name or ("案件所属地区" if lang == "zh" else "the area of the case")
        click.echo(f"注意：{area}未配置发文机关（minescope authorities set），通知书已注明" if lang == "zh"
                   else f"note: no issuing authority is configured for {area} (minescope authorities set); the "
                   "notice says so", err=True)
    if issue:
        issue_case(store, case_id, actor, f"整改通知书-{case_id}.pdf", pdf)
        click.echo(f"案件 {case_id} 已转为「已下发通知」，通知书已存入案件附件" if lang == "zh"
                   else f"case {case_id} is now notice_issued; the notice is kept as a case attachment")


@cases.command("verify")
@db_option
@lang_option
def cases_verify(db: str, lang: str) -> None:
    """校验案件历史的哈希链 / check the case history's hash chain."""
    from minescope.cases.history import verify
    from minescope.store.findings import open_store

    problems = verify(open_store(db))
    for line in problems:
        click.echo(("篡改：" if lang == "zh" else "tampered: ") + line, err=True)
    if problems:
        sys.exit(EXIT_BAD_INPUT)
    click.echo("案件历史完整" if lang == "zh" else "case history intact")


if __name__ == "__main__":
    main()
