"""The funds dimension (资金): bank and payment transactions: 跑分 money-mule accounts and OTC crypto merchants.

    readers/     CSV and Parquet exports of core-banking and payment systems through a column mapping
    tables.py    the transactions, bank_accounts, known_counterparties and usdt_rates tables
    detectors/   typologies as data (knowledge/data/funds): per-account rule signals in SQL (any engine), cycles
                 and shared-device communities with networkx on the SQL-narrowed candidates
    kinds.py     money_mule_account, otc_merchant
"""

from minescope.dimensions.funds.kinds import KINDS, MONEY_MULE, OTC_MERCHANT
from minescope.registry import Detector, Plugin, Reader, TableSpec

_TABLES = "minescope.dimensions.funds.tables"

PLUGIN = Plugin(
    name="funds", dimension="funds", kinds=KINDS,
    doc="bank and payment transactions, account records, known exchange and OTC counterparties (docs/funds.md)",
    tables=(
        TableSpec("transactions", "funds", f"{_TABLES}:TRANSACTIONS", "one row per statement line: account, "
                  "counterparty, amount, direction, time, channel, remark, device and IP",
                  ("account", "ts", "amount", "direction")),
        TableSpec("bank_accounts", "funds", f"{_TABLES}:BANK_ACCOUNTS", "one row per bank or payment account: "
                  "holder, type, owner type, opened, region, organisation", ("account", "holder|account_type")),
        TableSpec("known_counterparties", "funds", f"{_TABLES}:KNOWN_COUNTERPARTIES", "one row per account known "
                  "to be an exchange's, an OTC merchant's or a payment platform's", ("account", "type")),
        TableSpec("usdt_rates", "funds", f"{_TABLES}:USDT_RATES", "one row per day: the CNY price of one USDT",
                  ("ts", "rate")),
    ),
    readers=(
        Reader("funds-export", "funds", ("transactions", "bank_accounts", "known_counterparties", "usdt_rates"),
               "bank and payment statements, account records, known counterparties and USDT prices as CSV, "
               "Parquet or JSON lines, through a column mapping (docs/mapping.md)",
               "minescope.dimensions.funds.readers:FundsInput"),
    ),
    detectors=(
        Detector("typologies", "funds", (MONEY_MULE, OTC_MERCHANT), ("transactions", "bank_accounts",
                 "known_counterparties", "usdt_rates"), "rules as data rolled up into typologies with weights and "
                 "thresholds (Tazama's rule → band → typology): per-account signals in SQL (any engine), cycles and "
                 "shared devices with networkx on the candidates (docs/funds.md)",
                 "minescope.dimensions.funds.detectors:detect"),
    ),
)
