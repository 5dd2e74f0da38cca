"""Per-account signals of the funds typologies: one SQL text for DuckDB and Spark (``engines.sql``).

The views read the funds tables; ``features`` materialises one row per account with every feature a rule of
``knowledge/data/funds/typologies.toml`` reads (docs/funds.md lists them), and ``scores`` turns the rules' bands
and the typologies' weights into strengths and scores — in SQL too, so only the accounts at or above a
typology's review threshold come back to Python. Remarks (the content matcher) and cycles (networkx) are the two
things SQL cannot do: Python does them on what SQL narrowed (distinct remark texts; the strongly connected part
of the transfer graph) and hands the results back as small tables (``funds_remark_hits``, ``funds_cycles``).
"""

from __future__ import annotations

from minescope.dimensions.funds.tables import BANK_ACCOUNTS, KNOWN_COUNTERPARTIES, TRANSACTIONS, USDT_RATES
from minescope.engines.sql import Preparation, SqlEngine, View
from minescope.knowledge.funds import Typologies

US_HOUR = 3_600_000_000
US_DAY = 86_400_000_000


def _f(x: float) -> str:
    """A number as a SQL double literal, the same text for both engines."""
    return f"CAST({float(x)!r} AS DOUBLE)"


def preparation(t: Typologies) -> Preparation:
    offset = int(float(t.param("local_utc_offset_hours")) * US_HOUR)
    night_start, night_end = int(t.param("night_start_hour")), int(t.param("night_end_hour"))
    local = f"({{epoch_us}} + {offset})"
    day = f"CAST(FLOOR({local} / {_f(US_DAY)}) AS BIGINT)"
    hour = f"CAST(FLOOR({local} / {_f(US_HOUR)}) AS BIGINT) - 24 * {day}"
    return Preparation(
        tables={"transactions": TRANSACTIONS, "bank_accounts": BANK_ACCOUNTS,
                "known_counterparties": KNOWN_COUNTERPARTIES, "usdt_rates": USDT_RATES},
        views=(
            View("funds_t", "transactions", f"""
                SELECT account, counterparty, counterparty_name, amount, direction, ts, {{epoch_us}} AS t_us,
                       {day} AS day,
                       CASE WHEN {hour} >= {night_start} AND {hour} < {night_end} THEN 1 ELSE 0 END AS night,
                       remark, device, txn_id, channel, input
                FROM {{relation}}
                WHERE account IS NOT NULL AND amount IS NOT NULL AND ts IS NOT NULL AND direction IN ('in', 'out')"""),
            View("funds_holders", "bank_accounts", """
                SELECT account, MAX(holder) AS holder, MAX(holder_name) AS holder_name,
                       MAX(account_type) AS account_type, MAX(owner_type) AS owner_type, MIN(opened) AS opened,
                       MAX(region) AS region, MAX(organisation) AS organisation
                FROM {relation} WHERE account IS NOT NULL GROUP BY account"""),
            View("funds_known", "known_counterparties", """
                SELECT account, MAX(type) AS type, MAX(name) AS name, MAX(service) AS service,
                       MAX(reference) AS reference
                FROM {relation} WHERE account IS NOT NULL AND type IN ('exchange', 'otc') GROUP BY account"""),
            View("funds_rates", "usdt_rates", f"""
                SELECT {day} AS day, MAX(rate) AS rate FROM {{relation}} WHERE rate > 0 GROUP BY {day}"""),
        ))


def pairs_sql() -> str:
    return """
SELECT account, counterparty,
       SUM(CASE WHEN direction = 'in' THEN 1 ELSE 0 END) AS n_in,
       SUM(CASE WHEN direction = 'in' THEN amount ELSE 0 END) AS a_in,
       SUM(CASE WHEN direction = 'out' THEN 1 ELSE 0 END) AS n_out,
       SUM(CASE WHEN direction = 'out' THEN amount ELSE 0 END) AS a_out
FROM funds_t WHERE counterparty IS NOT NULL GROUP BY account, counterparty"""


def activity_sql(t: Typologies) -> str:
    """Per account: counts and sums, the share of inflow passed on within ``quick_hours``, the longest silence
    and the burst after it (window functions over each account's lines in time order)."""
    quick = int(float(t.param("quick_hours")) * US_HOUR)
    burst = int(float(t.param("burst_days")) * US_DAY)
    return f"""
SELECT account, COUNT(*) AS n,
       SUM(CASE WHEN direction = 'in' THEN 1 ELSE 0 END) AS n_in,
       SUM(CASE WHEN direction = 'out' THEN 1 ELSE 0 END) AS n_out,
       SUM(CASE WHEN direction = 'in' THEN amount ELSE 0 END) AS amt_in,
       SUM(CASE WHEN direction = 'out' THEN amount ELSE 0 END) AS amt_out,
       SUM(CASE WHEN direction = 'in' AND amount <= {_f(t.param("small_amount"))} THEN 1 ELSE 0 END) AS small_in,
       SUM(CASE WHEN direction = 'in' AND next_out IS NOT NULL AND next_out - t_us <= {quick}
                THEN amount ELSE 0 END) AS quick_amt,
       SUM(night) AS n_night,
       MAX(gap) AS max_gap,
       SUM(CASE WHEN gap_end IS NOT NULL AND t_us >= gap_end AND t_us < gap_end + {burst} THEN 1 ELSE 0 END)
           AS burst_after,
       MIN(gap_end) AS gap_end,
       MIN(ts) AS first_ts, MAX(ts) AS last_ts
FROM (
    SELECT *, MIN(CASE WHEN gap = max_gap THEN t_us END) OVER (PARTITION BY account) AS gap_end
    FROM (
        SELECT *, MAX(gap) OVER (PARTITION BY account) AS max_gap
        FROM (
            SELECT account, direction, amount, t_us, ts, night,
                   MIN(CASE WHEN direction = 'out' THEN t_us END) OVER (
                       PARTITION BY account ORDER BY t_us
                       RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS next_out,
                   t_us - LAG(t_us) OVER (PARTITION BY account ORDER BY t_us) AS gap
            FROM funds_t) w1) w2) w3
GROUP BY account"""


def days_sql() -> str:
    return """
SELECT account, SUM(LEAST(a_in, a_out)) AS passed, MAX(n_night) AS night_burst, COUNT(*) AS active_days
FROM (SELECT account, day, SUM(CASE WHEN direction = 'in' THEN amount ELSE 0 END) AS a_in,
             SUM(CASE WHEN direction = 'out' THEN amount ELSE 0 END) AS a_out, SUM(night) AS n_night
      FROM funds_t GROUP BY account, day) d
GROUP BY account"""


def lot_condition(t: Typologies, amount: str = "t.amount", rate: str = "r.rate") -> str:
    """A line whose amount is whole USDT at the day's price, and not a round hundred yuan."""
    q = f"({amount} / {rate})"
    return (f"(ABS({q} - ROUND({q}, 0)) <= {_f(t.param('usdt_tolerance'))} AND {q} >= {_f(t.param('usdt_min'))} "
            f"AND ABS({amount} - ROUND({amount} / {_f(100)}, 0) * {_f(100)}) > {_f(0.5)})")


def features_sql(t: Typologies) -> str:
    """One row per account: every feature a rule reads (``funds_activity``, ``funds_pairs``,
    ``funds_remark_hits`` and ``funds_cycles`` made first)."""
    return f"""
SELECT a.account, a.n, a.n_in, a.n_out, a.amt_in, a.amt_out, a.first_ts, a.last_ts, a.gap_end,
       CASE WHEN a.n_in > 0 THEN CAST(a.small_in AS DOUBLE) / a.n_in ELSE 0.0 END AS small_in_share,
       CASE WHEN a.amt_in > 0 THEN a.quick_amt / a.amt_in ELSE 0.0 END AS quick_out_share,
       CASE WHEN a.amt_in > 0 THEN d.passed / a.amt_in ELSE 0.0 END AS passthrough_share,
       CASE WHEN a.n > 0 THEN CAST(a.n_night AS DOUBLE) / a.n ELSE 0.0 END AS night_share,
       COALESCE(d.night_burst, 0) AS night_burst, d.active_days,
       CASE WHEN a.burst_after > 0 THEN CAST(a.max_gap AS DOUBLE) / {US_DAY} ELSE 0.0 END AS dormant_days,
       a.burst_after,
       COALESCE(p.payers, 0) AS payers, COALESCE(p.payees, 0) AS payees,
       CASE WHEN p.payers > 0 THEN CAST(p.one_time AS DOUBLE) / p.payers ELSE 0.0 END AS one_time_payer_share,
       CASE WHEN a.amt_out > 0 THEN p.top_out / a.amt_out ELSE 0.0 END AS top_payee_share,
       LEAST(COALESCE(p.payers, 0), COALESCE(p.payees, 0)) AS two_way_parties,
       COALESCE(p.round_trips, 0) AS round_trips,
       CASE WHEN ho.owner_type = 'company' THEN 1 ELSE 0 END AS company,
       COALESCE(dv.device_accounts, 0) AS device_accounts, COALESCE(h.holder_accounts, 0) AS holder_accounts,
       COALESCE(rm.remark_coin, 0) AS remark_coin, COALESCE(rm.remark_hush, 0) AS remark_hush,
       COALESCE(k.known_venue_txns, 0) AS known_venue_txns, COALESCE(k.known_venue_amount, 0.0) AS known_venue_amount,
       COALESCE(u.usdt_lots, 0) AS usdt_lots,
       CASE WHEN u.rated > 0 THEN CAST(u.usdt_lots AS DOUBLE) / u.rated ELSE 0.0 END AS usdt_lot_share,
       COALESCE(c.cycles, 0) AS cycles
FROM funds_activity a
LEFT JOIN ({days_sql()}) d ON d.account = a.account
LEFT JOIN (
    SELECT account, SUM(CASE WHEN n_in > 0 THEN 1 ELSE 0 END) AS payers,
           SUM(CASE WHEN n_in = 1 THEN 1 ELSE 0 END) AS one_time,
           SUM(CASE WHEN n_out > 0 THEN 1 ELSE 0 END) AS payees, MAX(a_out) AS top_out,
           SUM(CASE WHEN n_in > 0 AND n_out > 0 AND LEAST(a_in, a_out) >= {_f(0.8)} * GREATEST(a_in, a_out)
                    THEN 1 ELSE 0 END) AS round_trips
    FROM funds_pairs GROUP BY account) p ON p.account = a.account
LEFT JOIN (
    SELECT u.account, MAX(n.accounts) AS device_accounts
    FROM (SELECT DISTINCT account, device FROM funds_t WHERE device IS NOT NULL) u
    JOIN (SELECT device, COUNT(DISTINCT account) AS accounts FROM funds_t WHERE device IS NOT NULL GROUP BY device) n
      ON n.device = u.device
    GROUP BY u.account) dv ON dv.account = a.account
LEFT JOIN (
    SELECT h.account, n.accounts AS holder_accounts FROM funds_holders h
    JOIN (SELECT holder, COUNT(*) AS accounts FROM funds_holders WHERE holder IS NOT NULL GROUP BY holder) n
      ON n.holder = h.holder) h ON h.account = a.account
LEFT JOIN (
    SELECT t.account, SUM(r.coin) AS remark_coin, SUM(r.hush) AS remark_hush
    FROM funds_t t JOIN funds_remark_hits r ON r.remark = t.remark WHERE t.direction = 'in'
    GROUP BY t.account) rm ON rm.account = a.account
LEFT JOIN (
    SELECT t.account, COUNT(*) AS known_venue_txns, SUM(t.amount) AS known_venue_amount
    FROM funds_t t JOIN funds_known k ON k.account = t.counterparty GROUP BY t.account) k ON k.account = a.account
LEFT JOIN (
    SELECT t.account, COUNT(*) AS rated, SUM(CASE WHEN {lot_condition(t)} THEN 1 ELSE 0 END) AS usdt_lots
    FROM funds_t t JOIN funds_rates r ON r.day = t.day GROUP BY t.account) u ON u.account = a.account
LEFT JOIN funds_cycles c ON c.account = a.account
LEFT JOIN funds_holders ho ON ho.account = a.account"""


def _strength(t: Typologies, rule_id: str) -> str:
    rule = t.rules[rule_id]
    guard = " AND ".join([*(f"{f} >= {_f(v)}" for f, v in rule.requires),
                          *(f"{f} < {_f(v)}" for f, v in rule.unless)]) or "TRUE"
    bands = " ".join(f"WHEN {rule.feature} >= {_f(a)} THEN {_f(s)}" for a, s in rule.bands)
    return f"CASE WHEN {guard} THEN (CASE {bands} ELSE {_f(0)} END) ELSE {_f(0)} END"


def scores_sql(t: Typologies) -> str:
    """Each rule's strength and each typology's score, for the accounts at or above a typology's review
    threshold (``funds_features`` made first)."""
    rules = sorted({r for ty in t.typologies.values() for r, _ in ty.weights})
    strengths = ",\n       ".join(f"{_strength(t, r)} AS s_{r}" for r in rules)
    scores = ",\n       ".join(
        f"({' + '.join(f'{_f(w)} * s_{r}' for r, w in ty.weights)}) AS score_{ty.id}" for ty in t.typologies.values())
    review = " OR ".join(f"score_{ty.id} >= {_f(ty.review)}" for ty in t.typologies.values())
    return f"""
SELECT * FROM (
  SELECT *, {scores}
  FROM (SELECT *, {strengths} FROM funds_features) s) x
WHERE {review}"""


def ranking_sql(t: Typologies) -> str:
    """Every account's typology scores (for evaluation: a ranking, not findings)."""
    rules = sorted({r for ty in t.typologies.values() for r, _ in ty.weights})
    strengths = ", ".join(f"{_strength(t, r)} AS s_{r}" for r in rules)
    scores = ", ".join(
        f"({' + '.join(f'{_f(w)} * s_{r}' for r, w in ty.weights)}) AS score_{ty.id}" for ty in t.typologies.values())
    return f"SELECT *, {scores} FROM (SELECT *, {strengths} FROM funds_features) s"


def cycle_hops_sql(t: Typologies) -> str:
    """Transfers that can be a hop of a cycle: out lines of at least ``cycle_min_amount`` between accounts that
    both receive and pay, with a transfer into their payer and one out of their payee within the cycle window either
    side (the hop that closes a cycle comes after its first), each moving the amount within the band (one SQL
    self-join: the Python search then runs on these alone)."""
    window = int(float(t.param("cycle_window_days")) * US_DAY)
    band = _f(t.param("cycle_amount_band"))
    return f"""
WITH c AS (
    SELECT t.account AS src, t.counterparty AS dst, t.t_us, t.amount
    FROM funds_t t
    JOIN funds_activity s ON s.account = t.account AND s.n_in > 0
    JOIN funds_activity d ON d.account = t.counterparty AND d.n_out > 0 AND d.n_in > 0
    WHERE t.direction = 'out' AND t.counterparty IS NOT NULL AND t.account <> t.counterparty
      AND t.amount >= {_f(t.param("cycle_min_amount"))}),
nxt AS (
    SELECT DISTINCT a.src, a.dst, a.t_us, a.amount FROM c a JOIN c b
      ON b.src = a.dst AND b.t_us >= a.t_us - {window} AND b.t_us <= a.t_us + {window}
     AND ABS(b.amount - a.amount) <= {band} * a.amount),
prv AS (
    SELECT DISTINCT a.src, a.dst, a.t_us, a.amount FROM c a JOIN c b
      ON b.dst = a.src AND b.t_us >= a.t_us - {window} AND b.t_us <= a.t_us + {window}
     AND ABS(a.amount - b.amount) <= {band} * b.amount)
SELECT n.src, n.dst, n.t_us, n.amount FROM nxt n
JOIN prv p ON p.src = n.src AND p.dst = n.dst AND p.t_us = n.t_us AND p.amount = n.amount"""


def prepare(engine: SqlEngine, t: Typologies) -> None:
    engine.prepare(preparation(t))
    engine.materialize("funds_pairs", pairs_sql())
    engine.materialize("funds_activity", activity_sql(t))
