"""The network dimension: captures, flow records, sensor logs and DNS.

    capture/     the compiled packet engine only (numba decode and flow table)
    protocols/   payload parsers: mining protocols, DNS, TLS ClientHello, HTTP heads, node protocols
    readers/     capture files and live interfaces, NetFlow/IPFIX, nfdump, Zeek, Suricata, mapped CSV/Parquet,
                 and partitioned flow datasets → the tables of ``tables``
    tables.py    the flows, dns and alerts tables
    detectors/   payload (needs packets), flowlog (SQL on any engine), behaviour (SQL + a scored model)
    kinds.py     mining_session, pool_contact, encrypted_mining_suspect, crypto_node, mining_behaviour_suspect
"""
