"""The evidence tables of the host dimension (Apache Arrow): what endpoint logs and live checks say about a
machine, one schema per kind of fact whatever the source (Sysmon EVTX or JSON, Security 4688, auditd, osquery,
``minescope host check``, a mapped JSONL/CSV), so a rule written once (Sigma compiled to SQL, on DuckDB or
Spark) runs on all of them. Field by field:

Columns of every table:
  ts            timestamp[us, UTC]  when the event happened or the fact was observed
  host          string     the machine's name as the source gives it (Sysmon ``Computer``, auditd ``node``,
                           osquery ``hostIdentifier``, the checked machine's name), lower-case
  event         string     the source's own event: ``sysmon:1``, ``security:4688``, ``auditd:execve``,
                           ``osquery:processes``, ``check:process`` …
  source        string     the reader kind (see ``SOURCES``)
  input         string     the file the row came from (or ``host-check`` for a live check)

``processes`` — one row per process start (or running process, for live checks and osquery snapshots):
  pid           int64      process id; null when the source has none
  ppid          int64      parent's process id
  user          string     account that runs it (``DOMAIN\\user`` on Windows, the name or uid on Linux)
  image         string     executable path as logged (``C:\\Users\\a\\xmrig.exe``, ``/tmp/.x/xmrig``)
  name          string     the executable's file name, lower-case (``xmrig.exe``): what rules on names match
  command_line  string     the whole command line (auditd's execve arguments joined, hex decoded)
  cwd           string     working directory, when logged
  parent_image  string     the parent's executable path
  parent_command_line string
  sha256        string     hashes of the executable (lower-case hex) when logged (Sysmon ``Hashes``) or hashed
  md5           string
  original_name string     the PE header's original file name (Sysmon ``OriginalFileName``): a renamed binary
                           keeps it

``connections`` — one row per network connection by a process (Sysmon 3, osquery process_open_sockets,
live checks) or name a process looked up (Sysmon 22: ``remote_name`` set, ``remote_ip`` from its answer or
null):
  pid, image, name, user   as in ``processes``
  proto         string     ``tcp`` or ``udp``
  local_ip      string     the machine's own address of the connection (RFC 5952 text for IPv6)
  local_port    int32
  remote_ip     string
  remote_port   int32
  remote_name   string     the name the process connected to or looked up, lower-case, no trailing dot

``files`` — one row per file seen (Sysmon 11 creation, a live check's scan, a file at rest):
  path          string     the file's path
  size          int64      bytes; null when not known
  file_type     string     ``elf``, ``pe``, ``macho``, ``script`` (``#!``), ``json``, or null when not looked at
  sha256, md5   string     its hashes when known
  pid, image    as in ``processes``: who wrote it (Sysmon 11)
  matches       list<string>  YARA rules and hash lists it matched, as ``source:rule`` (``yara:XMRIG_Monero_Miner``,
                           ``hash:VT_miners``); empty when scanned and clean, null when not scanned

``persistence`` — one row per thing that starts a program again: cron entries, systemd units and timers,
shell profiles; Windows Run keys (Sysmon 13), services, scheduled tasks, WMI subscriptions, startup items:
  kind          string     one of ``PERSISTENCE_KINDS``
  name          string     the entry's name (unit, task, value or job name)
  location      string     where it lives (file path, registry key)
  command       string     what it runs (ExecStart, the cron command, the registry value's data)
  user          string     whose it is, when known

``resources`` — one row per sample of how busy the machine is and how it is tuned (live checks):
  cpu_percent   float64    whole-machine CPU load, percent of all cores
  gpu_percent   float64    busiest GPU's load, percent; null without a readable GPU
  hugepages     int64      huge pages reserved (``HugePages_Total``); RandomX miners reserve them
  msr_loaded    bool       the ``msr`` kernel module is loaded (XMRig writes MSRs for RandomX)
  top_pid       int64      the busiest process and its share of one core, percent
  top_image     string
  top_cpu_percent float64
  addresses     list<string>  the machine's own interface addresses (loopback and link-local left out)
"""

from __future__ import annotations

import pyarrow as pa

from minescope.dimensions.network.tables import TS

COMMON = [("ts", TS), ("host", pa.string()), ("event", pa.string())]
TAIL = [("source", pa.string()), ("input", pa.string())]

PROCESSES = pa.schema([
    *COMMON, ("pid", pa.int64()), ("ppid", pa.int64()), ("user", pa.string()), ("image", pa.string()),
    ("name", pa.string()), ("command_line", pa.string()), ("cwd", pa.string()), ("parent_image", pa.string()),
    ("parent_command_line", pa.string()), ("sha256", pa.string()), ("md5", pa.string()),
    ("original_name", pa.string()), *TAIL,
])

CONNECTIONS = pa.schema([
    *COMMON, ("pid", pa.int64()), ("image", pa.string()), ("name", pa.string()), ("user", pa.string()),
    ("proto", pa.string()), ("local_ip", pa.string()), ("local_port", pa.int32()), ("remote_ip", pa.string()),
    ("remote_port", pa.int32()), ("remote_name", pa.string()), *TAIL,
])

FILES = pa.schema([
    *COMMON, ("path", pa.string()), ("size", pa.int64()), ("file_type", pa.string()), ("sha256", pa.string()),
    ("md5", pa.string()), ("pid", pa.int64()), ("image", pa.string()), ("matches", pa.list_(pa.string())), *TAIL,
])

PERSISTENCE = pa.schema([
    *COMMON, ("kind", pa.string()), ("name", pa.string()), ("location", pa.string()), ("command", pa.string()),
    ("user", pa.string()), *TAIL,
])

RESOURCES = pa.schema([
    *COMMON, ("cpu_percent", pa.float64()), ("gpu_percent", pa.float64()), ("hugepages", pa.int64()),
    ("msr_loaded", pa.bool_()), ("top_pid", pa.int64()), ("top_image", pa.string()),
    ("top_cpu_percent", pa.float64()), ("addresses", pa.list_(pa.string())), *TAIL,
])

TABLES: dict[str, pa.Schema] = {"processes": PROCESSES, "connections": CONNECTIONS, "files": FILES,
                                "persistence": PERSISTENCE, "resources": RESOURCES}

PERSISTENCE_KINDS = ("cron", "systemd_unit", "systemd_timer", "shell_profile", "run_key", "service",
                     "scheduled_task", "wmi_subscription", "startup_item")

def host_of(host: str | None, input_name: str | None) -> str:
    """The machine a finding is about: its name; for a log that names none (auditd without ``node=``), the
    log file's, in brackets — one file is one machine's log."""
    if host:
        return host
    name = (input_name or "").replace("\\", "/").rsplit("/", 1)[-1]
    return f"({name or 'unknown'})"


SOURCES = ("evtx", "sysmon_json", "auditd", "osquery", "host_check", "mapped")
