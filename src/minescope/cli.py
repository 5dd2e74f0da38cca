"""The ``minescope`` command: parses, calls, prints.

Exit codes: 0 all inputs read; 2 some input could not be read (findings from the readable part
are still reported and stored); 1 the command itself could not run (bad option value, store
unreachable). Errors are one line each, in the chosen language; never a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from minescope import __version__
from minescope.errors import InputError
from minescope.model import ScanResult, Text

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from minescope.dimensions.network.readers.dataset import DatasetFile
    from minescope.pipeline import Scanner

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _lang_default() -> str:
    return "en" if os.environ.get("MINESCOPE_LANG", "zh").lower().startswith("en") else "zh"


def _say(text: Text, lang: str) -> None:
    click.echo(("错误：" if lang == "zh" else "error: ") + text.get(lang), err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minescope")
def main() -> None:
    """minescope：发现、归属并测算虚拟货币挖矿活动 / find, attribute and size cryptocurrency mining."""


@main.command()
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["terminal", "json", "html"]), default="terminal",
              show_default=True, help="输出格式 / output format (json goes to stdout unless --output)")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="写入文件 / write the report to this file")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=_lang_default, show_default="zh (MINESCOPE_LANG)",
              help="报告语言 / report language")
@click.option("--db", "db", help="结果库：文件路径或 SQLAlchemy URL / findings store: file path or SQLAlchemy URL "
              "(default $MINESCOPE_DB or ~/.local/share/minescope/minescope.db)")
@click.option("--no-store", is_flag=True, help="不保存结果 / do not store findings")
@click.option("--feed", "feeds", multiple=True, type=click.Path(path_type=Path),
              help="附加矿池名单文件或目录 / extra pool list file or directory (repeatable)")
@click.option("--registry", type=click.Path(path_type=Path),
              help="单位登记表 CSV / organisation registry CSV (cidr, organisation, type, region_code, contact)")
@click.option("--idle-timeout", type=click.FloatRange(min=1), default=3600.0, show_default=True,
              help="流空闲超时（秒）/ flow idle timeout in seconds")
@click.option("-i", "--interface", help="实时抓包网卡（需要 root 或 CAP_NET_RAW）/ capture live from this interface")
@click.option("--duration", type=click.FloatRange(min=1), help="实时抓包时长（秒）/ live capture length in seconds")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True,
              help="流日志与数据集的查询引擎（spark：$MINESCOPE_SPARK_MASTER，默认 local[2]）/ engine for flow logs "
                   "and datasets (spark: $MINESCOPE_SPARK_MASTER, default local[2])")
@click.option("--all-partitions", is_flag=True,
              help="重扫数据集的全部文件，而非仅新文件 / rescan every file of flow datasets, not only new ones")
@click.option("--behaviour/--no-behaviour", default=True, show_default=True,
              help="流日志的行为模型线索（低危，需人工核实）/ "
                   "the behaviour model's leads on flow logs (low, to verify)")
def scan(inputs: tuple[Path, ...], fmt: str, output: Path | None, lang: str, db: str | None, no_store: bool,
         feeds: tuple[Path, ...], registry: Path | None, idle_timeout: float, interface: str | None,
         duration: float | None, engine: str, all_partitions: bool, behaviour: bool) -> None:
    """扫描抓包文件（pcap/pcapng，可 gzip）、流日志（NetFlow/IPFIX、nfdump、Zeek、Suricata）或目录 /
    scan captures (pcap/pcapng, gzipped), flow logs (NetFlow/IPFIX, nfdump, Zeek, Suricata) or directories."""
    from minescope.pipeline import Scanner, ScanOptions

    if not inputs and not interface:
        _say(Text(zh="请给出抓包文件或目录，或用 --interface 指定网卡；例：minescope scan samples/pcap",
                  en="give capture files or directories, or --interface; e.g. minescope scan samples/pcap"), lang)
        sys.exit(EXIT_FAILED)
    target = db or str(_default_db())
    try:
        seen = None if no_store or all_partitions else _scanned_files(target)
        scanner = Scanner(ScanOptions(idle_timeout=idle_timeout, feeds=list(feeds), registry=registry,
                                      engine=engine, seen_files=seen, behaviour=behaviour))
        if interface:
            from minescope.dimensions.network.readers.live import scan_interface

            result = scan_interface(scanner, interface, duration)
        else:
            result = _scan_files(scanner, list(inputs), quiet=fmt == "json" and output is None)
    except InputError as e:
        _say(e.text, lang)
        sys.exit(EXIT_FAILED)
    stored = None
    if not no_store:
        stored = _store(result, target, lang, scanner.dataset_files)
    _emit(result, fmt, output, lang, stored)
    _tell_datasets(scanner, lang)
    for problem in result.problems:
        _say(problem, lang)
    sys.exit(EXIT_BAD_INPUT if result.problems else EXIT_OK)


def _scan_files(scanner: Scanner, paths: list[Path], quiet: bool) -> ScanResult:
    total = sum(p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
                for p in paths if p.exists())
    console = Console(stderr=True)
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=True,
                  disable=quiet or not console.is_terminal) as bar:
        task = bar.add_task("scan", total=total or None)
        return scanner.scan(paths, progress=lambda n: bar.advance(task, n))


def _default_db() -> Path:
    from minescope.store.findings import default_db_path

    return default_db_path()


def _scanned_files(target: str) -> Callable[[str], set[str]]:
    """Which files of a dataset the store has scanned (read when a dataset is met, not before)."""

    def seen(dataset: str) -> set[str]:
        from sqlalchemy.exc import SQLAlchemyError

        from minescope.store.datasets import scanned_files
        from minescope.store.findings import open_store

        try:
            return scanned_files(open_store(target), dataset)
        except (SQLAlchemyError, OSError) as e:
            reason = str(e).splitlines()[0][:200]
            raise InputError(f"{target}: 无法读取结果库（{reason}），不知哪些数据集文件已扫描；请检查 --db，"
                             "或用 --all-partitions / --no-store",
                             f"{target}: cannot read the findings store ({reason}) to tell which dataset files "
                             "were scanned; check --db, or use --all-partitions / --no-store") from e

    return seen


def _tell_datasets(scanner: Scanner, lang: str) -> None:
    """One line per flow dataset: how many files this scan read, and how many it skipped as scanned before."""
    for root, read, skipped in scanner.datasets_read:
        click.echo(f"数据集 {root}：读取 {read} 个文件，跳过已扫描的 {skipped} 个" if lang == "zh"
                   else f"dataset {root}: read {read} file(s), skipped {skipped} scanned before", err=True)


def _store(result: ScanResult, target: str, lang: str,
           dataset_files: Sequence[tuple[str, DatasetFile]] = ()) -> tuple[str, int, int] | None:
    from sqlalchemy.exc import SQLAlchemyError

    from minescope.cases.workflow import sync_cases, verify_clean
    from minescope.store.datasets import mark_scanned
    from minescope.store.findings import open_store, save_scan

    try:
        engine = open_store(target)
        scan_id, new = save_scan(engine, result)
        for dataset in dict.fromkeys(d for d, _ in dataset_files):
            mark_scanned(engine, dataset, [f for d, f in dataset_files if d == dataset], scan_id)
        # the ledger follows the scans: new findings join their cases, clean hosts verify rectified ones
        sync_cases(engine)
        verify_clean(engine, result)
    except (SQLAlchemyError, OSError) as e:
        reason = str(e).splitlines()[0][:200]
        _say(Text(zh=f"{target}: 无法写入结果库（{reason}）；请检查路径或用 --db 指定，本次结果未保存",
                  en=f"{target}: cannot write the findings store ({reason}); check it or pass --db; "
                     "this scan was not stored"), lang)
        return None
    return target, scan_id, new


def _emit(result: ScanResult, fmt: str, output: Path | None, lang: str, stored: tuple[str, int, int] | None) -> None:
    from minescope.outputs.summary import summarize

    summary = summarize(result)
    if fmt == "json":
        from minescope.outputs.jsonout import dumps

        data = dumps(result, summary)
        if output:
            output.write_bytes(data)
        else:
            sys.stdout.buffer.write(data + b"\n")
            sys.stdout.flush()
    elif fmt == "html":
        from minescope.outputs.html import write_html

        target = output or Path("minescope-report.html")
        write_html(target, result, summary, lang)
        click.echo(("HTML 报告：" if lang == "zh" else "HTML report: ") + str(target), err=True)
    else:
        from minescope.outputs.terminal import render_terminal

        console = Console(record=output is not None)
        if output is not None or not console.is_terminal:
            console = Console(record=output is not None, width=120)  # a file or a pipe: wide tables
        render_terminal(result, summary, lang, console)
        if output:
            output.write_text(console.export_text(), encoding="utf-8")
    if stored is not None and fmt != "json":
        where, scan_id, new = stored
        click.echo((f"已保存到 {where}（扫描 #{scan_id}，新增 {new} 条）" if lang == "zh"
                    else f"stored in {where} (scan #{scan_id}, {new} new findings)"), err=True)


@main.group()
def flows() -> None:
    """流日志数据集（按天/小时分区的 Parquet）/ flow datasets (Parquet partitioned by day or hour)."""


@flows.command("import")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--dataset", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="数据集目录（不存在则新建；已有则追加）/ dataset directory (created, or appended to)")
@click.option("--partition", type=click.Choice(["hour", "day"]), default="hour", show_default=True,
              help="新数据集的分区粒度 / partitioning of a new dataset")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=_lang_default)
def flows_import(inputs: tuple[Path, ...], dataset: Path, partition: str, lang: str) -> None:
    """把流日志（NetFlow/IPFIX、nfdump、Zeek、Suricata）和抓包的流写入数据集；之后 minescope scan 数据集目录只读新文件 /
    write flow logs, and the flows of captures, into a dataset; minescope scan DATASET then reads only new files.

    抓包只导入流与 DNS 应答（无载荷证据）；要挖矿协议的证据请直接扫描抓包 / a capture gives its flows and DNS
    answers only (no payload evidence); scan captures directly for mining-protocol evidence."""
    from minescope.dimensions.network.readers.capture_flows import read_capture
    from minescope.dimensions.network.readers.dataset import DatasetWriter
    from minescope.dimensions.network.readers.inputs import FlowLogInput
    from minescope.knowledge.pools import PoolIntel
    from minescope.pipeline import split_inputs

    captures, logs, datasets, unreadable = split_inputs(list(inputs))
    problems = [why for _, why in unreadable]
    problems += [Text(zh=f"{p}: 已是数据集，不能再导入", en=f"{p}: already a dataset; it cannot be imported")
                 for p in datasets]
    try:
        # the capture engine keeps the flows of DNS names the pool lists know (besides long ones);
        # logs alone need no lists
        intel = PoolIntel.load() if captures else PoolIntel()
        writer = DatasetWriter(dataset, partition)
    except InputError as e:
        _say(e.text, lang)
        sys.exit(EXIT_FAILED)
    console = Console(stderr=True)
    total = sum(p.stat().st_size for p in logs + captures)
    try:
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
                    writer.write(table, batch)
                bar.advance(task, path.stat().st_size)
                problems.extend(log.report.summary())
    finally:
        writer.close()  # rows read before a failure are kept
    rows = ", ".join(f"{table} {n}" for table, n in sorted(writer.rows.items())) or "0"
    click.echo(f"已写入 {dataset}：{rows} 行，{len(writer.paths)} 个文件" if lang == "zh"
               else f"written to {dataset}: {rows} rows, {len(writer.paths)} file(s)", err=True)
    for problem in problems:
        _say(problem, lang)
    sys.exit(EXIT_BAD_INPUT if problems else EXIT_OK)


@main.command("export")
@click.argument("fmt", type=click.Choice(["rpz", "nft", "suricata", "csv", "stix"]))
@click.option("--db", "db", help="结果库 / findings store (file path or SQLAlchemy URL)")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="写入文件 / write to this file")
@click.option("--since-scan", type=click.IntRange(min=0), default=None,
              help="只导出此次扫描之后新确认的 / only what scans after this one confirmed")
@click.option("--incremental", "bookmark_name", metavar="NAME",
              help="增量导出：只导出上次同名导出之后新确认的，并记住本次 / only what is new since the last export "
                   "of this name, then remember this one")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=_lang_default)
def export(fmt: str, db: str | None, output: Path | None, since_scan: int | None, bookmark_name: str | None,
           lang: str) -> None:
    """导出已确认矿池与矿机的封堵清单 / blocklists and indicators of confirmed pools and miners
    (rpz: DNS RPZ zone, nft: nftables sets, suricata: rules, csv, stix: STIX 2.1 bundle)."""
    from minescope.outputs.blocklists import bookmark, confirmed_indicators, last_scan, render
    from minescope.store.findings import default_db_path, open_store

    engine = open_store(db or default_db_path())
    name = f"{fmt}:{bookmark_name}" if bookmark_name else None
    after = since_scan if since_scan is not None else bookmark(engine, name) if name else 0
    upto = last_scan(engine)
    indicators = confirmed_indicators(engine, after_scan=after)
    text = render(indicators, fmt)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    if name:
        bookmark(engine, name, upto)  # only after the list was written: a failed write exports again
    if after:
        click.echo(f"增量导出：扫描 #{after} 之后新确认 {len(indicators)} 项（至扫描 #{upto}）" if lang == "zh" else
                   f"incremental: {len(indicators)} endpoints newly confirmed after scan #{after} (up to #{upto})",
                   err=True)


@main.command()
@click.option("--db", "db", help="结果库 / findings store (file path or SQLAlchemy URL)")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="进程数（多用户时约为 CPU 核数加一，配合 PostgreSQL）/ processes (for many users about one per "
                   "core plus one, with PostgreSQL)")
def serve(db: str | None, host: str, port: int, workers: int) -> None:
    """处置平台（网页与 API）/ the disposal console (pages and JSON API)."""
    from minescope.store.findings import default_db_path, open_store
    from minescope.web.server import run

    open_store(db or default_db_path())  # migrate once here, before the workers start
    run(db or default_db_path(), host=host, port=port, workers=workers)


@main.group()
def users() -> None:
    """平台账号 / console accounts."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "analyst", "viewer"]), required=True)
@click.option("--region", "region_code", default="",
              help="辖区 GB/T 2260 代码（空为全国）/ jurisdiction code, empty = national")
@click.option("--db", "db", help="结果库 / findings store (file path or SQLAlchemy URL)")
@click.option("--token", is_flag=True, help="同时生成 API 令牌 / also make an API token")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=_lang_default)
def users_add(username: str, role: str, region_code: str, db: str | None, token: bool, lang: str) -> None:
    """添加账号，密码从标准输入读取 / add an account; the password is read from standard input."""
    from minescope.store.accounts import add_user, new_token
    from minescope.store.findings import default_db_path, open_store

    password = sys.stdin.readline().rstrip("\n")
    engine = open_store(db or default_db_path())
    try:
        user = add_user(engine, username, password, role, region_code)
    except InputError as e:
        _say(e.text, lang)
        sys.exit(EXIT_FAILED)
    click.echo(("已添加 " if lang == "zh" else "added ") + user.username)
    if token:
        click.echo(new_token(engine, user))


@main.group()
def cases() -> None:
    """处置案件 / disposal cases."""


@cases.command("sync")
@click.option("--db", "db", help="结果库 / findings store (file path or SQLAlchemy URL)")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=_lang_default)
def cases_sync(db: str | None, lang: str) -> None:
    """把结果归入案件，已结案件再次发现时重新打开 / group findings into cases; reopen cases seen again."""
    from minescope.cases.workflow import sync_cases
    from minescope.store.findings import default_db_path, open_store

    report = sync_cases(open_store(db or default_db_path()))
    click.echo(f"新建 {report.created} 件，追加 {report.extended} 条，重新打开 {report.reopened} 件" if lang == "zh"
               else f"{report.created} cases created, {report.extended} findings added, {report.reopened} reopened")


@cases.command("list")
@click.option("--db", "db", help="结果库 / findings store (file path or SQLAlchemy URL)")
@click.option("--overdue", is_flag=True, help="只列逾期案件 / only overdue cases")
def cases_list(db: str | None, overdue: bool) -> None:
    """列出案件 / list cases."""
    from minescope.cases.workflow import list_cases
    from minescope.store.findings import default_db_path, open_store

    engine = open_store(db or default_db_path())
    for c in list_cases(engine, overdue=overdue):
        click.echo(f"{c.id}\t{c.state}\t{c.owner or '-'}\t{c.title}")


@cases.command("ledger")
@click.option("--db", "db", help="结果库 / findings store (file path or SQLAlchemy URL)")
@click.option("--region", "region_code", default="", help="辖区代码（空为全部）/ jurisdiction code (empty: all)")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="xlsx 文件 / the .xlsx file")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=_lang_default)
def cases_ledger(db: str | None, region_code: str, output: Path, lang: str) -> None:
    """导出辖区台账（xlsx，按下级区划分表）/ the jurisdiction's ledger as .xlsx, one sheet per sub-division."""
    from minescope.outputs.ledger import ledger_xlsx
    from minescope.store.findings import default_db_path, open_store

    output.write_bytes(ledger_xlsx(open_store(db or default_db_path()), region_code, lang))
    click.echo(str(output))


@cases.command("notice")
@click.argument("case_id", type=int)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="PDF 文件 / the .pdf file")
@click.option("--issuer", default="", help="发文机关（空则留签章处）/ issuing authority (empty: a line to sign)")
@click.option("--prefix", default="整改", show_default=True,
              help="文号中的机关代字 / issuer code in the document number, e.g. 苏发改整改")
@click.option("--issue", is_flag=True, help="签发：案件转为「已下发通知」并存档通知书 / "
                                        "issue it: move the case to notice_issued, keep the PDF on it")
@click.option("--actor", default=lambda: os.environ.get("USER") or "cli", show_default="$USER",
              help="记入案件历史的操作人 / who acts, in the case history (with --issue)")
@click.option("--db", "db", help="结果库 / findings store (file path or SQLAlchemy URL)")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=_lang_default)
def cases_notice(case_id: int, output: Path, issuer: str, prefix: str, issue: bool, actor: str, db: str | None,
                 lang: str) -> None:
    """出具整改通知书（PDF）/ the rectification notice of a case, as PDF."""
    from minescope.outputs.notice import issue_notice, notice_pdf
    from minescope.store.findings import default_db_path, open_store

    engine = open_store(db or default_db_path())
    try:
        if issue:
            pdf, _ = issue_notice(engine, case_id, actor, issuer=issuer, prefix=prefix)
        else:
            pdf = notice_pdf(engine, case_id, issuer=issuer, prefix=prefix)
        output.write_bytes(pdf)
    except InputError as e:
        _say(e.text, lang)
        sys.exit(EXIT_FAILED)
    except OSError as e:
        _say(Text(zh=f"{output}: 无法写入（{e.strerror}）", en=f"{output}: cannot write ({e.strerror})"), lang)
        sys.exit(EXIT_FAILED)
    click.echo(str(output))
    if issue:
        click.echo(f"案件 {case_id} 已转为「已下发通知」，通知书已存入案件附件" if lang == "zh"
                   else f"case {case_id} is now notice_issued; the notice is kept as a case attachment")


@cases.command("verify")
@click.option("--db", "db", help="结果库 / findings store (file path or SQLAlchemy URL)")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=_lang_default)
def cases_verify(db: str | None, lang: str) -> None:
    """校验案件历史的哈希链 / check the case history's hash chain."""
    from minescope.cases.history import verify
    from minescope.store.findings import default_db_path, open_store

    problems = verify(open_store(db or default_db_path()))
    for line in problems:
        click.echo(("篡改：" if lang == "zh" else "tampered: ") + line, err=True)
    if problems:
        sys.exit(EXIT_BAD_INPUT)
    click.echo("案件历史完整" if lang == "zh" else "case history intact")


if __name__ == "__main__":
    main()
