"""What happened to one input: rows per table, lines skipped, and the first few problems in words.

A reader never raises on bad content: it skips the bad line or record, counts it, keeps the first
``MAX_PROBLEMS`` as bilingual one-liners with the file and line number (or byte offset), and goes
on with the rest. An input that cannot be read at all (or stops early: truncated compression)
gets ``error`` instead; the rows read before it are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from minescope.model import Text
from minescope.readers.names import path_text

MAX_PROBLEMS = 5


@dataclass
class InputReport:
    input: str
    format: str = ""
    rows: dict[str, int] = field(default_factory=dict)  # table name → rows written
    skipped: int = 0  # bad lines or records skipped
    problems: list[Text] = field(default_factory=list)  # the first MAX_PROBLEMS of them
    error: Text | None = None  # the input could not be read (at all, or to its end)
    _shown: int = 0  # skips among ``problems``

    def __post_init__(self) -> None:
        # the input's name is carried into problem lines and the ``input`` column: text that encodes
        self.input = path_text(self.input)

    def line(self, n: int, zh: str, en: str) -> None:
        """Line ``n`` (1-based) was bad and skipped."""
        self._bad(f"{self.input} 第 {n} 行：{zh}；已跳过该行", f"{self.input}, line {n}: {en}; line skipped")

    def value(self, n: int, zh: str, en: str) -> None:
        """A value on line ``n`` was bad and left out; the rest of the line was kept (a reading of a wide row)."""
        self._bad(f"{self.input} 第 {n} 行：{zh}；已跳过该值", f"{self.input}, line {n}: {en}; value skipped")

    def at(self, offset: int, zh: str, en: str, skipped: str = "record") -> None:
        """The record at byte ``offset`` was bad and skipped (``skipped``: record, packet or set)."""
        zh_what = {"record": "该记录", "packet": "该报文", "set": "该数据集"}.get(skipped, "该记录")
        self._bad(f"{self.input} 第 {offset} 字节处：{zh}；已跳过{zh_what}",
                  f"{self.input}, byte {offset}: {en}; {skipped} skipped")

    def records(self, count: int, zh: str, en: str) -> None:
        """``count`` records that no line or byte offset names (decoded a batch at a time) were bad
        and skipped: one problem line for them all."""
        self.skipped += count
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Text(zh=f"{self.input}：{zh}；已跳过 {count} 条记录",
                                      en=f"{self.input}: {en}; {count} record(s) skipped"))
            self._shown += count

    def note(self, zh: str, en: str) -> None:
        """Something the user should know about rows that were kept (not a skip)."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Text(zh=f"{self.input}：{zh}", en=f"{self.input}: {en}"))

    def fail(self, zh: str, en: str) -> None:
        """The input cannot be read (further); what was read stays."""
        if self.error is None:
            self.error = Text(zh=f"{self.input}：{zh}", en=f"{self.input}: {en}")

    def is_file(self, path: Path) -> bool:
        """Whether ``path`` is a file a reader can open; a folder or a missing path is this input's error."""
        if path.is_dir():
            self.fail("这是目录；请给出其中的日志文件", "this is a directory: give the log files in it")
            return False
        if not path.is_file():
            self.fail("文件不存在；请检查路径", "no such file; check the path")
            return False
        return True

    def _bad(self, zh: str, en: str) -> None:
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Text(zh=zh, en=en))
            self._shown += 1

    def count(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + n

    def summary(self) -> list[Text]:
        """Everything worth telling the user, one line each: the error, the problems kept, and how
        many more were skipped without being shown."""
        out = [self.error] if self.error else []
        out.extend(self.problems)
        more = self.skipped - self._shown
        if more > 0:
            out.append(Text(zh=f"{self.input}：另有 {more} 处同类问题已跳过（共跳过 {self.skipped} 处）",
                            en=f"{self.input}: {more} more bad lines or records skipped ({self.skipped} in all)"))
        return out
