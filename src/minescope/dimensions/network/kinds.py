"""The finding kinds of the network dimension. Labels, colours, case policy, the JSON schema's enum and
the reports' sections all derive from these declarations (``minescope.registry``)."""

from minescope.model import Severity, Text
from minescope.registry import KindSpec

MINING_SESSION = KindSpec(
    "mining_session", dimension="network", label=Text("挖矿会话", "Mining session"), colour="#c0392b",
    mining=True, opens_case=True, severity=Severity.HIGH, section="sessions",
    doc="a host speaks a mining protocol to a pool (Stratum, CryptoNote/XMRig JSON-RPC, Ethereum getwork and "
        "EthereumStratum, getwork/getblocktemplate over HTTP), also captured mid-session")
POOL_CONTACT = KindSpec(
    "pool_contact", dimension="network", label=Text("矿池连接", "Pool contact"), colour="#e67e22",
    mining=True, opens_case=True, severity=Severity.MEDIUM, section="contacts",
    doc="a host asks DNS for a listed pool, or contacts a listed or learned pool endpoint without a readable "
        "protocol")
ENCRYPTED_MINING_SUSPECT = KindSpec(
    "encrypted_mining_suspect", dimension="network", label=Text("疑似加密挖矿", "Encrypted mining suspect"),
    colour="#8e44ad", mining=True, opens_case=True, severity=Severity.MEDIUM, section="contacts",
    doc="a TLS (or Stratum V2) connection whose shape, ClientHello and endpoint score as a miner's: share "
        "exchanges and job pushes, a miner TLS stack, no SNI, a pool port or a listed, learned or confirmed pool")
CRYPTO_NODE = KindSpec(
    "crypto_node", dimension="network", label=Text("区块链节点", "Blockchain node"), colour="#2980b9",
    mining=False, opens_case=False, severity=Severity.INFO, section="nodes",
    doc="blockchain node peer-to-peer traffic (Bitcoin family, Ethereum devp2p, Monero levin, Nano): not mining")
MINING_BEHAVIOUR_SUSPECT = KindSpec(
    "mining_behaviour_suspect", dimension="network",
    label=Text("疑似挖矿行为（待核实）", "Mining behaviour suspect (lead)"),
    colour="#b7950b", mining=False, opens_case=False, severity=Severity.LOW, section="leads",
    doc="flows behaving like a pool session (long-lived, low-rate, small packets) with no list match and no "
        "payload: a lead to verify")

EXCHANGE_ACCESS = KindSpec(
    "exchange_access", dimension="network", label=Text("访问虚拟货币交易所", "Exchange access"), colour="#16a085",
    mining=False, opens_case=True, severity=Severity.MEDIUM, section="trading",
    doc="a host reaches a virtual-currency exchange (DNS, TLS server name, HTTP Host, or a listed address): per "
        "host and exchange its sessions, bytes, first and last seen, and whether it used the app API, websocket "
        "streams, downloads or the web site; trading, never mining")

KINDS = (MINING_SESSION, POOL_CONTACT, ENCRYPTED_MINING_SUSPECT, CRYPTO_NODE, MINING_BEHAVIOUR_SUSPECT,
         EXCHANGE_ACCESS)
