"""Blockchain node peer-to-peer protocols: what the first messages of a node flow say.

These flows are **not mining**: a node relays blocks and transactions. The compiled classifier
(``engine.packets.classify_payload``) recognises them by their framing; this module reads the
details that go into a finding's evidence.
"""

from __future__ import annotations

BTC_NETWORKS = {
    0xF9BEB4D9: ("bitcoin", "Bitcoin mainnet"), 0x0B110907: ("bitcoin", "Bitcoin testnet3"),
    0xFABFB5DA: ("bitcoin", "Bitcoin regtest"), 0x0A03CF40: ("bitcoin", "Bitcoin signet"),
    0x1C163F28: ("bitcoin", "Bitcoin testnet4"), 0xFBC0B6DB: ("litecoin", "Litecoin mainnet"),
    0xC0C0C0C0: ("dogecoin", "Dogecoin mainnet"), 0xE3E1F3E8: ("bitcoincash", "Bitcoin Cash mainnet"),
    0xBF0C6BBD: ("dash", "Dash mainnet"),
}
LEVIN_COMMANDS = {1001: "handshake", 1002: "timed_sync", 1003: "ping", 1007: "support_flags",
                  2001: "notify_new_block", 2002: "notify_new_transactions", 2003: "request_get_objects",
                  2004: "response_get_objects", 2006: "request_chain", 2007: "response_chain_entry",
                  2008: "notify_new_fluffy_block"}


def describe(node_class: str, payload: bytes) -> dict[str, str]:
    """Protocol, network and message details of a node flow's first payload."""
    if node_class == "bitcoin" and len(payload) >= 24:
        coin, network = BTC_NETWORKS.get(int.from_bytes(payload[:4], "big"), ("bitcoin", "unknown"))
        command = payload[4:16].split(b"\0", 1)[0].decode("ascii", "replace")
        out = {"protocol": coin, "network": network, "message": command}
        if command == "version" and len(payload) > 24 + 81:
            ua_len = payload[24 + 80]
            if ua_len < 0xFD:
                out["user_agent"] = payload[24 + 81 : 24 + 81 + ua_len].decode("ascii", "replace")
        return out
    if node_class == "monero" and len(payload) >= 33:
        command_id = int.from_bytes(payload[25:29], "little")
        return {"protocol": "monero", "network": "Monero levin",
                "message": LEVIN_COMMANDS.get(command_id, str(command_id))}
    if node_class == "ethereum":
        return {"protocol": "ethereum", "network": "Ethereum devp2p",
                "message": "discv4" if len(payload) >= 98 and payload[98:99] >= b"\xc0" else "RLPx handshake"}
    if node_class == "nano":
        net_id = payload[1] if len(payload) > 1 else 0
        network = {0x43: "live", 0x42: "beta", 0x41: "test", 0x58: "dev"}.get(net_id, "?")
        return {"protocol": "nano", "network": f"Nano {network}"}
    return {"protocol": node_class}
