"""Console labels in zh-CN (default) and en: key → (zh, en)."""

from __future__ import annotations

from minescope.cases.workflow import STATE_LABELS

__all__ = ["LABELS", "STATE_LABELS", "t"]

LABELS: dict[str, tuple[str, str]] = {
    "title": ("挖矿处置平台", "Mining disposal console"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "bad_login": ("用户名或密码错误", "wrong username or password"),
    "cases": ("案件", "Cases"),
    "case": ("案件", "Case"),
    "all": ("全部", "All"),
    "overdue": ("逾期", "Overdue"),
    "state": ("状态", "State"),
    "subject": ("对象", "Subject"),
    "org_type": ("单位类型", "Organisation type"),
    "region": ("地区", "Region"),
    "owner": ("责任人", "Owner"),
    "due": ("期限", "Due"),
    "findings": ("发现", "Findings"),
    "tasks": ("任务", "Tasks"),
    "comments": ("意见", "Comments"),
    "history": ("历史（哈希链）", "History (hash chain)"),
    "assign": ("分派", "Assign"),
    "days": ("天", "days"),
    "advance_to": ("推进到", "Move to"),
    "close": ("结案", "Close"),
    "reason": ("原因", "Reason"),
    "force": ("仍有未完成任务时也结案", "close even with open tasks"),
    "add_task": ("添加任务", "Add task"),
    "add_comment": ("添加意见", "Add comment"),
    "done": ("完成", "Done"),
    "kind": ("类型", "Kind"),
    "peer": ("对端", "Peer"),
    "seen": ("时间", "Seen"),
    "actor": ("操作人", "Actor"),
    "action": ("操作", "Action"),
    "before": ("之前", "Before"),
    "after": ("之后", "After"),
    "none": ("无", "none"),
    "jurisdiction": ("辖区", "Jurisdiction"),
    "national": ("全国", "national"),
    "ledger": ("台账 (xlsx)", "Ledger (xlsx)"),
    "tips": ("举报", "Public reports"),
    "report_title": ("虚拟货币挖矿举报", "Report cryptocurrency mining"),
    "report_intro": ("发现单位或场所从事虚拟货币“挖矿”，可在此举报。提交后会得到查询码，凭码查询处理进度。",
                     "Seen an organisation or a site mining cryptocurrency? Report it here. You get a tracking "
                     "code to follow what happens."),
    "place": ("地区", "Place"),
    "report_subject": ("对象（单位名称或地址）", "Subject (organisation or address)"),
    "report_description": ("情况说明", "What you saw"),
    "contact": ("联系方式（选填）", "Contact (optional)"),
    "submit": ("提交", "Submit"),
    "tracking_code": ("查询码", "Tracking code"),
    "report_thanks": ("已受理。请保存查询码：", "Received. Keep your tracking code:"),
    "check_status": ("查询进度", "Check status"),
    "status": ("进度", "Status"),
    "unknown_code": ("查询码不存在", "no such tracking code"),
    "set_status": ("设置", "Set"),
}



def t(key: str, lang: str) -> str:
    zh, en = LABELS[key]
    return en if lang == "en" else zh
