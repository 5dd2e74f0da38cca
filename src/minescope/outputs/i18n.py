"""Every user-facing label of the reports, in zh-CN and en, in one place.

``t(key, lang)`` looks a label up; an unknown key raises ``KeyError`` so a missing label is a bug
found by the tests, not a blank cell in a report. ``lang`` is "zh" (default) or "en"; "zh-CN" and
"en-US" style tags are accepted too.
"""

from __future__ import annotations

from minescope import registry

LANGS = ("zh", "en")

LABELS: dict[str, tuple[str, str]] = {
    # titles
    "title": ("挖矿活动检测报告", "Cryptocurrency mining scan report"),
    "headline": ("结论", "Answer"),
    "generated_at": ("生成时间", "Generated at"),
    "tool": ("工具", "Tool"),
    "inputs": ("输入", "Inputs"),
    "input_path": ("文件", "File"),
    "input_format": ("格式", "Format"),
    "packets": ("报文数", "Packets"),
    "bytes": ("字节数", "Bytes"),
    "flows": ("流数", "Flows"),
    "capture_span": ("捕获时段", "Capture span"),
    "wall_time": ("耗时", "Wall time"),
    "problems": ("输入问题", "Input problems"),
    "no_problems": ("无", "none"),
    "no_findings": ("未发现挖矿相关活动。", "No mining-related activity found."),
    "times_note": ("时间为北京时间（UTC+8）。", "Times are China Standard Time (UTC+8)."),
    # headline answers
    "mining_hosts": ("挖矿主机（有挖矿会话）", "Mining hosts (with a mining session)"),
    "related_hosts": (
        "挖矿相关主机（会话、矿池连接、疑似加密挖矿）",
        "Mining-related hosts (session, pool contact, encrypted suspect)",
    ),
    "h.mining_hosts": ("挖矿主机", "Mining hosts"),
    "h.mining_hosts_note": ("有挖矿会话", "with a mining session"),
    "h.related_hosts": ("挖矿相关主机", "Mining-related hosts"),
    "h.related_hosts_note": ("会话、矿池连接、疑似加密挖矿", "session, pool contact, encrypted suspect"),
    "h.hashrate": ("算力（按算法）", "Hash rate (per algorithm)"),
    "h.energy": ("功率 / 日耗电", "Power / energy per day"),
    "h.energy_total": ("合计日耗电", "Total energy per day"),
    "h.energy_total_note": (
        "电量可跨算法相加，算力不可",
        "energy adds across algorithms; hash rate does not",
    ),
    "h.institutional": ("机构主机占比", "Institutional hosts"),
    "h.institutional_note": (
        "党政机关、高校、科研院所、国企、企业",
        "government, university, research, state-owned, enterprise",
    ),
    "hosts_col": ("主机数", "Hosts"),
    "subjects_col": ("对象数（主机、电表、商品…）", "Subjects (hosts, meters, listings …)"),
    "mining_hosts_col": ("挖矿主机数", "Mining hosts"),
    "by_org": ("按单位", "By organisation"),
    "pools": ("矿池", "Pools"),
    "pool_endpoints": ("矿池端点", "pool endpoints"),
    "pool_names": ("矿池域名", "pool host names"),
    "coins": ("币种", "Coins"),
    "traffic_to_pools": ("矿池流量", "Traffic to pools"),
    "mbps_capture": ("捕获时段平均", "average over the capture"),
    "mbps_active": ("挖矿流活跃期间平均", "average while mining flows were active"),
    "hashrate": ("算力", "Hash rate"),
    "hashrate_by_algorithm": (
        "各算法算力（不同算法不可相加）",
        "Hash rate per algorithm (different algorithms never add up)",
    ),
    "power": ("功率", "Power"),
    "energy": ("日耗电", "Energy per day"),
    "energy_by_algorithm": (
        "各算法功率与日耗电（低 / 最佳 / 高）",
        "Power and energy per algorithm (low / best / high)",
    ),
    "energy_total": (
        "合计日耗电（电量可相加，算力不可）",
        "Total energy per day (energy adds up; hash rates do not)",
    ),
    "institutional_share": (
        "机构主机占比（党政机关、高校、科研、国企、企业）",
        "Share of institutional hosts (government, university, research, state-owned, enterprise)",
    ),
    "of_mining_hosts": ("占挖矿主机", "of mining hosts"),
    "of_related_hosts": ("占挖矿相关主机", "of mining-related hosts"),
    "no_estimate": ("无估算", "no estimate"),
    "sessions": ("会话", "sessions"),
    "hosts": ("主机", "hosts"),
    "findings": ("发现", "Findings"),
    "count": ("数量", "Count"),
    "low": ("低", "low"),
    "best": ("最佳", "best"),
    "high": ("高", "high"),
    "range": ("范围", "range"),
    "basis": ("依据", "basis"),
    # tables
    "findings_by_kind": ("按类型统计的发现", "Findings by kind"),
    "kind": ("类型", "Kind"),
    "miner": ("矿机", "Miner"),
    "host": ("主机", "Host"),
    "pool": ("矿池", "Pool"),
    "peer": ("对端", "Peer"),
    "coin": ("币种", "Coin"),
    "algorithm": ("算法", "Algorithm"),
    "wallet": ("钱包", "Wallet"),
    "worker": ("矿工名", "Worker"),
    "shares": ("份额", "Shares"),
    "confidence": ("置信度", "Confidence"),
    "confidence_short": ("置信度", "Conf."),
    "severity": ("严重程度", "Severity"),
    "protocol": ("协议", "Protocol"),
    "node_protocol": ("节点协议", "Node protocol"),
    "evidence": ("证据", "Evidence"),
    "reasons": ("理由", "Reasons"),
    "organisation": ("单位", "Organisation"),
    "org_type": ("单位类型", "Organisation type"),
    "by_org_type": ("按单位类型", "By organisation type"),
    "by_region": ("按地区", "By region"),
    "province": ("省份", "Province"),
    "city": ("城市", "City"),
    "region": ("地区", "Region"),
    "isp": ("运营商", "ISP"),
    "first_seen": ("首次出现", "First seen"),
    "last_seen": ("最后出现", "Last seen"),
    "traffic": ("流量", "Traffic"),
    "source": ("来源", "Source"),
    "details": ("详情", "Details"),
    "crypto_nodes": ("区块链节点（非挖矿）", "Blockchain nodes (not mining)"),
    "exchanges_reached": ("哪些单位访问了哪些交易所（交易，非挖矿）", "Which organisations reach which exchanges "
                          "(trading, not mining)"),
    "exchange": ("交易所", "Exchange"),
    "app_hosts_col": ("用 App/API 的主机", "Hosts on app/API"),
    "sessions_col": ("连接", "Sessions"),
    "no_org": ("（单位未知）", "(organisation unknown)"),
    "unknown": ("未知", "unknown"),
    "known_pool": ("已知矿池", "known pool"),
    # charts
    "chart_hashrate": ("各矿机算力", "Hash rate by miner"),
    "chart_energy": ("各算法日耗电（须线为低–高）", "Energy per day by algorithm (whiskers: low–high)"),
    "chart_kinds": ("按类型统计的发现", "Findings by kind"),
    "chart_org_types": ("按单位类型统计的主机", "Hosts by organisation type"),
    "chart_regions": ("按地区统计的主机", "Hosts by region"),
    "chart_timeline": ("会话时间线（主机 × 时间）", "Session timeline (host × time)"),
    "more_rows": ("另有 {n} 行未显示", "{n} more rows not shown"),
    # what a finding is about (model.SubjectType)
    "subject": ("对象", "Subject"),
    "subject.ip": ("地址", "address"),
    "subject.host": ("主机", "host"),
    "subject.meter": ("电表", "meter"),
    "subject.account": ("账户", "account"),
    "subject.listing": ("商品", "listing"),
    "subject.post": ("内容", "post"),
    "subject.organisation": ("单位/地点", "organisation/place"),
    # organisation types (Attribution.org_type)
    "org.government": ("党政机关", "Party/government body"),
    "org.university": ("高校", "University"),
    "org.research": ("科研院所", "Research institute"),
    "org.state_owned": ("国有企业", "State-owned enterprise"),
    "org.enterprise": ("企业", "Enterprise"),
    "org.datacenter": ("数据中心/云", "Data centre / cloud"),
    "org.residential": ("家庭宽带", "Residential"),
    "org.internal": ("内网地址", "Internal address"),
    "org.unknown": ("未知", "Unknown"),
    # severities
    "severity.high": ("高", "high"),
    "severity.medium": ("中", "medium"),
    "severity.low": ("低", "low"),
    "severity.info": ("提示", "info"),
}

# finding kinds: the labels their declarations give (minescope.registry)
LABELS.update({f"kind.{name}": (spec.label.zh, spec.label.en) for name, spec in registry.kinds().items()})
LABELS["alg.metered"] = ("电表实测", "measured at meters")  # a meter's energy is measured, not estimated


def norm_lang(lang: str | None) -> str:
    """ "zh", "zh-CN", None → "zh"; "en", "en-US" → "en"."""
    return "en" if lang and lang.lower().startswith("en") else "zh"


def t(key: str, lang: str = "zh") -> str:
    zh, en = LABELS[key]
    return en if norm_lang(lang) == "en" else zh


def t_opt(prefix: str, value: str | None, lang: str = "zh") -> str:
    """Label of an enumerated value (``kind.``, ``org.``, ``severity.``); the raw value if unlabelled."""
    if not value:
        return t("unknown", lang)
    key = f"{prefix}.{value}"
    return t(key, lang) if key in LABELS else value


def html_lang(lang: str) -> str:
    return "en" if norm_lang(lang) == "en" else "zh-CN"
