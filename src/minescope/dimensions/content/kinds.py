"""The finding kinds of the content dimension, about a ``listing`` subject (a product offered) or a ``post``
subject (a post, comment or app), with the seller or author as organisation. Labels, colours, case policy and
the reports' sections derive from these declarations."""

from minescope.model import Severity, Text
from minescope.registry import KindSpec

PROHIBITED_LISTING = KindSpec(
    "prohibited_listing", dimension="content", label=Text("违规挖矿商品或信息", "Mining offer"), colour="#8e44ad",
    mining=True, opens_case=True, severity=Severity.HIGH,
    doc="a listing, post, comment or app that offers mining machines (brand, model, 矿机, and euphemisms such as "
        "算力服务器 beside a brand, model or coin), mining software, hosting or tutorials — written plainly or "
        "evasively (traditional, full-width, pinyin, homophones, look-alikes, split by symbols); a listing of a "
        "mining machine under another category is marked misplaced")

TRADING_PROMOTION = KindSpec(
    "trading_promotion", dimension="content", label=Text("虚拟货币交易推广", "Crypto trading promotion"),
    colour="#c0392b", mining=False, opens_case=True, severity=Severity.MEDIUM,
    doc="a listing, post, comment or app that promotes a virtual-currency exchange (币安/Binance, BN, 火币, 欧易 …), "
        "OTC and USDT trade (收U, 出U, 承兑, 搬砖 beside a coin) or payment laundering for commission (跑分 beside "
        "a coin, not a phone's benchmark score)")

KINDS = (PROHIBITED_LISTING, TRADING_PROMOTION)
