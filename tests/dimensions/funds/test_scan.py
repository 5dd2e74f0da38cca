"""Bank exports through ``minescope scan``: a statement with Chinese headers and the bank's account file, each
with its mapping, go to the funds dimension and give one finding about the 跑分 card; a bad line is one problem
line and the rest is kept."""

from __future__ import annotations

from pathlib import Path

from helpers import write_funds_statement
from minescope.pipeline import Scanner, ScanOptions, split_inputs
from minescope.readers.mapped import Mapping

DATA = Path(__file__).resolve().parents[2] / "data" / "funds"


def test_a_statement_and_its_accounts_give_the_mule_card(tmp_path: Path) -> None:
    statement = write_funds_statement(tmp_path / "交易流水.csv")
    accounts = tmp_path / "开户信息.csv"
    accounts.write_text("卡号,客户号,账户类型,客户类型,开户网点\n"
                        "MULE1,C9,借记卡,person,320505\nSHOP1,C8,对公,company,320505\n", encoding="utf-8")
    account_mapping = Mapping.load({"table": "bank_accounts", "columns": {
        "account": "卡号", "holder": "客户号", "account_type": "账户类型", "owner_type": "客户类型",
        "region": "开户网点"}})
    mappings = [Mapping.load(DATA / "statement.toml"), account_mapping]
    split = split_inputs([statement, accounts], mappings)
    assert split.funds == [statement, accounts]
    result = Scanner(ScanOptions(mappings=mappings)).scan([statement, accounts])
    assert [i.dimension for i in result.inputs] == ["funds", "funds"]
    problem = result.inputs[0].problem
    assert problem is not None and "neither in nor out (冲正)" in problem.en
    mules = {f.subject.value: f for f in result.findings if f.kind == "money_mule_account"}
    assert "MULE1" in mules and "SHOP1" not in mules
    f = mules["MULE1"]
    assert f.attribution is not None and f.attribution.region_code == "320505"
    assert f.source.endswith("交易流水.csv")
    assert {"otc_merchant"} == {x.kind for x in result.findings if x.subject.value == "OTC1"} - {"money_mule_account"}
