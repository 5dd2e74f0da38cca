"""The evidence tables of the funds dimension (Apache Arrow): what a bank's or payment firm's systems say about
accounts and their money, one schema whatever the export (CSV or Parquet through a column mapping), so the
per-account aggregates are one SQL text on DuckDB and Spark. Field by field:

Columns of every table:
  source        string     the reader kind (see ``SOURCES``)
  input         string     the file the row came from

``transactions`` — one row per statement line: a transfer seen from one account (a transfer between two accounts
of the same bank is two lines, one ``out`` and one ``in``):
  txn_id        string     the bank's serial number (流水号); null when not given
  account       string     the account whose statement this line is (本方账号)
  counterparty  string     the other account (对方账号); null for cash and fees
  counterparty_name string the other party's name as the bank shows it (对方户名): a person, a merchant, a
                           payment platform's settlement account
  amount        float64    the amount moved, never negative (the direction says which way)
  currency      string     ISO 4217 code (CNY when the export says 人民币)
  direction     string     ``in`` (贷, money received) or ``out`` (借, money paid)
  ts            timestamp[us, UTC]  when the transfer was booked
  channel       string     how it was made: mobile, online, counter, atm, pos, quick_pay, … as the export writes it
  remark        string     the payer's remark (附言, 摘要, 用途)
  device        string     the device id of the session that made it (mobile banking), where present
  ip            string     the address of that session, where present

``bank_accounts`` — one row per account (the bank's customer file, 开户信息):
  account       string
  holder        string     who owns it: an id the bank uses for the customer (客户号, a hash of the id number)
  holder_name   string     the owner's name (户名)
  account_type  string     debit, credit, corporate, payment (a payment firm's wallet), … as written
  owner_type    string     ``person`` or ``company``
  opened        timestamp[us, UTC]  when it was opened
  region        string     the opening branch's GB/T 2260 code
  organisation  string     the organisation behind a company account (unified social credit code or name)

``known_counterparties`` — one row per account known to belong to a trading venue or a payment platform (the
bank's own list, a regulator's notice, a case's findings):
  account       string     the counterparty's account number as it appears in ``transactions.counterparty``
  name          string     its name
  type          string     ``exchange``, ``otc`` (an OTC merchant's card), ``payment_platform`` or ``other``
  service       string     the venue (binance, okx, …: ``knowledge.exchanges``), when known
  reference     string     where the knowledge comes from (a notice, a case number)

``usdt_rates`` — the day's CNY price of one USDT (the rule on USDT-sized amounts reads it; without it the rule
does not fire):
  ts            timestamp[us, UTC]  the day the price holds for (its midnight, local clock, stored in UTC)
  rate          float64    CNY per USDT
  reference     string     where the price comes from
"""

from __future__ import annotations

import pyarrow as pa

from minescope.readers.values import TS

TAIL = [("source", pa.string()), ("input", pa.string())]

TRANSACTIONS = pa.schema([
    ("txn_id", pa.string()), ("account", pa.string()), ("counterparty", pa.string()),
    ("counterparty_name", pa.string()), ("amount", pa.float64()), ("currency", pa.string()),
    ("direction", pa.string()), ("ts", TS), ("channel", pa.string()), ("remark", pa.string()),
    ("device", pa.string()), ("ip", pa.string()), *TAIL,
])

BANK_ACCOUNTS = pa.schema([
    ("account", pa.string()), ("holder", pa.string()), ("holder_name", pa.string()), ("account_type", pa.string()),
    ("owner_type", pa.string()), ("opened", TS), ("region", pa.string()), ("organisation", pa.string()), *TAIL,
])

KNOWN_COUNTERPARTIES = pa.schema([
    ("account", pa.string()), ("name", pa.string()), ("type", pa.string()), ("service", pa.string()),
    ("reference", pa.string()), *TAIL,
])

USDT_RATES = pa.schema([("ts", TS), ("rate", pa.float64()), ("reference", pa.string()), *TAIL])

TABLES: dict[str, pa.Schema] = {"transactions": TRANSACTIONS, "bank_accounts": BANK_ACCOUNTS,
                                "known_counterparties": KNOWN_COUNTERPARTIES, "usdt_rates": USDT_RATES}

DIRECTIONS = ("in", "out")
COUNTERPARTY_TYPES = ("exchange", "otc", "payment_platform", "other")
SOURCES = ("mapped",)
