#!/usr/bin/env python3
"""Minimal, self-contained OMA LwM2M 1.0/1.1 client for integration tests.

The client uses ONE aiocoap context bound to a UDP socket (127.0.0.1 and an
ephemeral port unless --local-host/--local-port say otherwise).  That socket
both serves the LwM2M object tree and sends the Register / Update /
De-register requests, so the LwM2M server reaches the client at the source
address of the registration.

Every event is printed as one compact JSON object per line on stdout (flushed).
Diagnostics (aiocoap logging) go to stderr.

Usage:
  lwm2m_client.py --server-port P [--server-host 127.0.0.1] --endpoint NAME
                  [--lifetime 60] [--binding U] [--version 1.1]
                  [--script STEPS] [--timeout 60] [--notify-interval 1.0]
                  [--no-answer] [--queue-mode] [--notify-non]
                  [--local-host 127.0.0.1] [--local-port 0]

Script steps (comma separated, run in order after a successful registration):
  sleep:S              sleep S seconds (float)
  update               Update (POST to the registration location, no params)
  update:LT            Update with lt=LT
  deregister           De-register (DELETE the registration location)
  register             register again (e.g. after deregister)
  wait-event:NAME      wait until an event NAME has been printed (since start)
  wait-event:NAME:N    ... until N events NAME have been printed (since start)
  set:/O/I/R=VALUE     change a resource value locally (no request sent)
  wait-forever         wait until --timeout
  exit                 print done and exit 0 immediately (no de-registration)
Without --script the client registers and waits until --timeout (exit 3).
When the script ends without "exit", {"event":"done"} is printed, exit 0.

Exit codes: 0 done (or SIGTERM/SIGINT -> "terminated"), 2 registration
failed/refused (argparse usage errors also exit 2, before "started"),
3 timeout.

Events (field "event" plus):
  started port endpoint | registered code location | register_refused code payload
  register_failed error | updated code | update_refused code | update_failed error
  deregistered code | deregister_refused code | deregister_failed error
  read path accept format code [observe=1] [error]
  write path method mode(replace|update) format value code [error]
  execute path args code [error] | discover path payload code [error]
  write_attributes path query code [error] | request path method code error
  unknown_request method path code | ignored method path mtype (--no-answer)
  observe path accept format token code value | notify path value format seq
  notify_skipped path value reason | observe_cancel path how token
  (how: rst | deregister | replaced | error) | transport_error error
  set path value | done | timeout | terminated
"""

import argparse
import asyncio
import base64
import json
import logging
import math
import signal
import struct
import sys
import time

import aiocoap
from aiocoap import Message
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import NON, RST

# ---------------------------------------------------------------------------
# output

EVENT_COUNTS = {}
_EVENT_WAITERS = []  # list of (name, count, future)


def emit(event, **fields):
    obj = {"event": event}
    obj.update(fields)
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    EVENT_COUNTS[event] = EVENT_COUNTS.get(event, 0) + 1
    for item in list(_EVENT_WAITERS):
        name, count, fut = item
        if EVENT_COUNTS.get(name, 0) >= count and not fut.done():
            fut.set_result(None)
            _EVENT_WAITERS.remove(item)


async def wait_event(name, count=1):
    if EVENT_COUNTS.get(name, 0) >= count:
        return
    fut = asyncio.get_running_loop().create_future()
    _EVENT_WAITERS.append((name, count, fut))
    await fut


def code_str(code):
    return "%d.%02d" % divmod(int(code), 32)


# ---------------------------------------------------------------------------
# content formats

CF_TEXT = 0
CF_LINK = 40
CF_OPAQUE = 42
CF_SENML_JSON = 110
CF_TLV = 11542
CF_OMA_JSON = 11543


# ---------------------------------------------------------------------------
# object model

# (object id, resource id) -> (name, type, operations, multiple)
# operations: "R" read, "W" write, "E" execute
DEFS = {
    (1, 0): ("Short Server ID", "integer", "R", False),
    (1, 1): ("Lifetime", "integer", "RW", False),
    (1, 6): ("Notification Storing", "boolean", "RW", False),
    (1, 7): ("Binding", "string", "RW", False),
    (1, 8): ("Registration Update Trigger", "none", "E", False),
    (3, 0): ("Manufacturer", "string", "R", False),
    (3, 1): ("Model Number", "string", "R", False),
    (3, 2): ("Serial Number", "string", "R", False),
    (3, 3): ("Firmware Version", "string", "R", False),
    (3, 4): ("Reboot", "none", "E", False),
    (3, 9): ("Battery Level", "integer", "R", False),
    (3, 11): ("Error Code", "integer", "R", True),
    (3, 13): ("Current Time", "time", "RW", False),
    (3, 16): ("Supported Binding and Modes", "string", "R", False),
    (3303, 5601): ("Min Measured Value", "float", "R", False),
    (3303, 5605): ("Reset Min and Max Measured Values", "none", "E", False),
    (3303, 5700): ("Sensor Value", "float", "R", False),
    (3303, 5701): ("Sensor Units", "string", "R", False),
}

EXEC = object()  # marker value for executable resources


def build_model(args):
    return {
        1: {0: {0: 1, 1: args.lifetime, 6: True, 7: args.reg_binding, 8: EXEC}},
        3: {
            0: {
                0: "tb-test",
                1: "lwm2m-py",
                2: "SN-1",
                3: "1.0",
                4: EXEC,
                9: 87,
                11: {0: 0},
                13: int(time.time()),
                16: "U",
            }
        },
        3303: {0: {5601: 21.5, 5605: EXEC, 5700: 21.5, 5701: "Cel"}},
    }


def rdef(oid, rid):
    return DEFS.get((oid, rid), ("?", "opaque", "R", False))


def path_str(path):
    return "/" + "/".join(str(p) for p in path)


class LwError(Exception):
    def __init__(self, code, why=""):
        super().__init__(why)
        self.code = code
        self.why = why


# ---------------------------------------------------------------------------
# TLV (OMA-TS-LightweightM2M Core 1.x, 7.4.3)

TLV_INSTANCE, TLV_RES_INSTANCE, TLV_MULTI_RES, TLV_RESOURCE = 0, 1, 2, 3


def tlv_entry(kind, ident, value):
    first = kind << 6
    if ident > 0xFF:
        first |= 0x20
        idb = ident.to_bytes(2, "big")
    else:
        idb = ident.to_bytes(1, "big")
    n = len(value)
    if n < 8:
        first |= n
        lb = b""
    elif n < 0x100:
        first |= 0x08
        lb = n.to_bytes(1, "big")
    elif n < 0x10000:
        first |= 0x10
        lb = n.to_bytes(2, "big")
    else:
        first |= 0x18
        lb = n.to_bytes(3, "big")
    return bytes([first]) + idb + lb + value


def enc_int(v):
    for size in (1, 2, 4, 8):
        lo, hi = -(1 << (size * 8 - 1)), (1 << (size * 8 - 1)) - 1
        if lo <= v <= hi:
            return v.to_bytes(size, "big", signed=True)
    raise ValueError("integer out of range")


def enc_float(v):
    v = float(v)
    four = struct.pack(">f", v) if math.isfinite(v) and abs(v) < 3.4e38 else None
    if four is not None and struct.unpack(">f", four)[0] == v:
        return four
    return struct.pack(">d", v)


def tlv_value(typ, v):
    if typ in ("integer", "time"):
        return enc_int(int(v))
    if typ == "float":
        return enc_float(v)
    if typ == "boolean":
        return b"\x01" if v else b"\x00"
    if typ == "string":
        return str(v).encode("utf-8")
    if typ == "objlnk":
        o, i = v
        return o.to_bytes(2, "big") + i.to_bytes(2, "big")
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    return str(v).encode()


def tlv_resource(oid, rid, value):
    typ, multi = rdef(oid, rid)[1], rdef(oid, rid)[3]
    if multi:
        inner = b"".join(
            tlv_entry(TLV_RES_INSTANCE, ri, tlv_value(typ, v))
            for ri, v in sorted(value.items())
        )
        return tlv_entry(TLV_MULTI_RES, rid, inner)
    return tlv_entry(TLV_RESOURCE, rid, tlv_value(typ, value))


def tlv_instance_body(oid, inst):
    return b"".join(
        tlv_resource(oid, rid, v) for rid, v in sorted(inst.items()) if v is not EXEC
    )


def tlv_parse(data):
    """-> list of (kind, id, bytes_value_or_children)"""
    out = []
    pos = 0
    while pos < len(data):
        first = data[pos]
        pos += 1
        kind = first >> 6
        idlen = 2 if first & 0x20 else 1
        ltype = (first >> 3) & 0x03
        if pos + idlen > len(data):
            raise LwError(Code.BAD_REQUEST, "truncated TLV id")
        ident = int.from_bytes(data[pos : pos + idlen], "big")
        pos += idlen
        if ltype == 0:
            length = first & 0x07
        else:
            if pos + ltype > len(data):
                raise LwError(Code.BAD_REQUEST, "truncated TLV length")
            length = int.from_bytes(data[pos : pos + ltype], "big")
            pos += ltype
        if pos + length > len(data):
            raise LwError(Code.BAD_REQUEST, "truncated TLV value")
        value = data[pos : pos + length]
        pos += length
        if kind in (TLV_INSTANCE, TLV_MULTI_RES):
            value = tlv_parse(value)
        out.append((kind, ident, value))
    return out


def tlv_decode_value(typ, b):
    if typ in ("integer", "time"):
        if len(b) not in (1, 2, 4, 8):
            raise LwError(Code.BAD_REQUEST, "bad integer length")
        return int.from_bytes(b, "big", signed=True)
    if typ == "float":
        if len(b) == 4:
            return struct.unpack(">f", b)[0]
        if len(b) == 8:
            return struct.unpack(">d", b)[0]
        raise LwError(Code.BAD_REQUEST, "bad float length")
    if typ == "boolean":
        if len(b) != 1 or b[0] > 1:
            raise LwError(Code.BAD_REQUEST, "bad boolean")
        return b[0] == 1
    if typ == "string":
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            raise LwError(Code.BAD_REQUEST, "bad utf-8")
    if typ == "objlnk":
        if len(b) != 4:
            raise LwError(Code.BAD_REQUEST, "bad objlnk")
        return (int.from_bytes(b[:2], "big"), int.from_bytes(b[2:], "big"))
    return bytes(b)


def tlv_to_writes(target, payload):
    """Decode a TLV write payload aimed at target (/O/I or /O/I/R[/RI]) into
    a list of (full path tuple, raw bytes) leaves."""
    entries = tlv_parse(payload)
    oid = target[0]
    leaves = []

    def resource_entries(iid, items):
        for kind, ident, val in items:
            if kind == TLV_RESOURCE:
                leaves.append(((oid, iid, ident), val))
            elif kind == TLV_MULTI_RES:
                if not val:
                    leaves.append(((oid, iid, ident), {}))
                for k2, ri, v2 in val:
                    if k2 != TLV_RES_INSTANCE:
                        raise LwError(Code.BAD_REQUEST, "bad TLV nesting")
                    leaves.append(((oid, iid, ident, ri), v2))
            elif kind == TLV_RES_INSTANCE and len(target) >= 3:
                leaves.append(((oid, iid, target[2], ident), val))
            else:
                raise LwError(Code.BAD_REQUEST, "unexpected TLV type %d" % kind)

    if len(target) == 2:
        if len(entries) == 1 and entries[0][0] == TLV_INSTANCE:
            if entries[0][1] != target[1]:
                raise LwError(Code.BAD_REQUEST, "instance id mismatch")
            resource_entries(target[1], entries[0][2])
        else:
            resource_entries(target[1], entries)
    elif len(target) >= 3:
        resource_entries(target[1], entries)
    else:
        raise LwError(Code.METHOD_NOT_ALLOWED, "write on object")
    return [(p, ("tlv", v)) for p, v in leaves]


# ---------------------------------------------------------------------------
# SenML JSON (RFC 8428, LwM2M 1.1 7.4.4) and OMA LwM2M JSON (1.0, 11543)


def leaves_of(model, path):
    """Readable leaves below path: list of (full path tuple, type, value)."""
    oid = path[0]
    out = []

    def add_res(iid, rid, v):
        typ, multi = rdef(oid, rid)[1], rdef(oid, rid)[3]
        if v is EXEC:
            return
        if multi:
            for ri, rv in sorted(v.items()):
                out.append(((oid, iid, rid, ri), typ, rv))
        else:
            out.append(((oid, iid, rid), typ, v))

    if len(path) == 1:
        for iid, inst in sorted(model[oid].items()):
            for rid, v in sorted(inst.items()):
                add_res(iid, rid, v)
    elif len(path) == 2:
        for rid, v in sorted(model[oid][path[1]].items()):
            add_res(path[1], rid, v)
    elif len(path) == 3:
        add_res(path[1], path[2], model[oid][path[1]][path[2]])
    else:
        typ = rdef(oid, path[2])[1]
        out.append((path, typ, model[oid][path[1]][path[2]][path[3]]))
    return out


def base_and_names(path, leaves):
    target = path_str(path)
    if len(leaves) == 1 and leaves[0][0] == tuple(path):
        return target, [None]
    bn = target + "/"
    return bn, [path_str(p)[len(bn):] for p, _, _ in leaves]


def senml_value(typ, v):
    if typ in ("integer", "time"):
        return "v", int(v)
    if typ == "float":
        return "v", float(v)
    if typ == "boolean":
        return "vb", bool(v)
    if typ == "string":
        return "vs", str(v)
    if typ == "objlnk":
        return "vlo", "%d:%d" % v
    return "vd", base64.b64encode(bytes(v)).decode()


def oma_json_value(typ, v):
    key, val = senml_value(typ, v)
    return {"v": "v", "vb": "bv", "vs": "sv", "vlo": "ov", "vd": "sv"}[key], val


def encode_senml(path, leaves):
    bn, names = base_and_names(path, leaves)
    recs = []
    for i, ((p, typ, v), n) in enumerate(zip(leaves, names)):
        rec = {}
        if i == 0:
            rec["bn"] = bn
        if n is not None:
            rec["n"] = n
        k, val = senml_value(typ, v)
        rec[k] = val
        recs.append(rec)
    return json.dumps(recs, separators=(",", ":")).encode()


def encode_oma_json(path, leaves):
    bn, names = base_and_names(path, leaves)
    es = []
    for (p, typ, v), n in zip(leaves, names):
        e = {}
        if n is not None:
            e["n"] = n
        k, val = oma_json_value(typ, v)
        e[k] = val
        es.append(e)
    return json.dumps({"bn": bn, "e": es}, separators=(",", ":")).encode()


def parse_path_string(s):
    s = s.strip("/")
    if not s:
        return ()
    try:
        return tuple(int(x) for x in s.split("/"))
    except ValueError:
        raise LwError(Code.BAD_REQUEST, "bad name %r" % s)


def senml_to_writes(payload):
    try:
        recs = json.loads(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise LwError(Code.BAD_REQUEST, "bad JSON")
    if not isinstance(recs, list):
        raise LwError(Code.BAD_REQUEST, "SenML must be an array")
    bn = ""
    out = []
    for rec in recs:
        if not isinstance(rec, dict):
            raise LwError(Code.BAD_REQUEST, "bad SenML record")
        if "bn" in rec:
            bn = rec["bn"]
        full = parse_path_string(bn + rec.get("n", ""))
        for k in ("v", "vs", "vb", "vd", "vlo"):
            if k in rec:
                out.append((full, ("json", k, rec[k])))
                break
        else:
            raise LwError(Code.BAD_REQUEST, "SenML record without value")
    return out


def oma_json_to_writes(target, payload):
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise LwError(Code.BAD_REQUEST, "bad JSON")
    if not isinstance(doc, dict) or not isinstance(doc.get("e"), list):
        raise LwError(Code.BAD_REQUEST, "bad LwM2M JSON")
    bn = doc.get("bn", path_str(target) + "/")
    out = []
    keymap = {"v": "v", "sv": "vs", "bv": "vb", "ov": "vlo"}
    for e in doc["e"]:
        full = parse_path_string(bn + e.get("n", ""))
        for k, sk in keymap.items():
            if k in e:
                out.append((full, ("json", sk, e[k])))
                break
        else:
            raise LwError(Code.BAD_REQUEST, "record without value")
    return out


def json_decode_value(typ, key, val):
    try:
        if typ in ("integer", "time"):
            if key != "v" or isinstance(val, bool) or float(val) != int(val):
                raise ValueError
            return int(val)
        if typ == "float":
            if key != "v" or isinstance(val, bool):
                raise ValueError
            return float(val)
        if typ == "boolean":
            if key != "vb" or not isinstance(val, bool):
                raise ValueError
            return val
        if typ == "string":
            if key != "vs" or not isinstance(val, str):
                raise ValueError
            return val
        if typ == "objlnk":
            o, i = str(val).split(":")
            return (int(o), int(i))
        return base64.b64decode(val)
    except (ValueError, TypeError):
        raise LwError(Code.BAD_REQUEST, "value %r does not fit type %s" % (val, typ))


def text_decode_value(typ, payload):
    try:
        s = payload.decode("utf-8")
        if typ in ("integer", "time"):
            return int(s.strip())
        if typ == "float":
            return float(s.strip())
        if typ == "boolean":
            if s.strip() in ("1", "true"):
                return True
            if s.strip() in ("0", "false"):
                return False
            raise ValueError
        if typ == "objlnk":
            o, i = s.split(":")
            return (int(o), int(i))
        return s
    except (ValueError, UnicodeDecodeError):
        raise LwError(Code.BAD_REQUEST, "bad text value for %s" % typ)


def text_encode_value(typ, v):
    if typ == "boolean":
        return b"1" if v else b"0"
    if typ in ("integer", "time"):
        return str(int(v)).encode()
    if typ == "float":
        return repr(float(v)).encode()
    if typ == "objlnk":
        return ("%d:%d" % v).encode()
    return str(v).encode("utf-8")


def jsonable(v):
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(bytes(v)).decode()
    if isinstance(v, tuple):
        return "%d:%d" % v
    return v


# ---------------------------------------------------------------------------
# the LwM2M client


class Observation:
    def __init__(self, path, accept, remote, token, task):
        self.path = path
        self.accept = accept
        self.remote = remote
        self.token = token
        self.task = task
        self.wakeup = asyncio.Event()
        self.how = None
        self.reported = False


class Client:
    def __init__(self, args):
        self.args = args
        self.model = build_model(args)
        self.attributes = {}  # path tuple -> dict
        self.ctx = None
        self.location = None  # tuple of Location-Path segments
        self.observations = {}  # (remote, token) -> Observation
        self.ended = {}  # (remote, token) -> Observation (cancel pending)
        self.obs_seq = 0
        self.ticker = None
        self.recent_rst = {}  # remote -> time
        self.recent_error = {}  # remote -> time
        self.shutting_down = False
        self.background = set()

    # ----- registration interface (client -> server)

    def server_uri(self):
        host = self.args.server_host
        if ":" in host:
            host = "[%s]" % host
        return "coap://%s:%d" % (host, self.args.server_port)

    def registration_payload(self):
        links = []
        if self.args.version != "1.0" and self.args.root_link:
            links.append(self.args.root_link)
        for oid in sorted(self.model):
            for iid in sorted(self.model[oid]):
                links.append("</%d/%d>" % (oid, iid))
        return ",".join(links)

    async def _request(self, msg):
        try:
            return await self.ctx.request(msg).response
        except aiocoap.error.Error as e:
            return e

    async def register(self):
        query = [
            "ep=" + self.args.endpoint,
            "lt=%d" % self.args.lifetime,
            "lwm2m=" + self.args.version,
            "b=" + self.args.reg_binding,
        ]
        if self.args.queue_param:
            query.append("Q")
        msg = Message(code=Code.POST, uri=self.server_uri())
        msg.opt.uri_path = ("rd",)
        msg.opt.uri_query = tuple(query)
        msg.opt.content_format = CF_LINK
        msg.payload = self.registration_payload().encode()
        resp = await self._request(msg)
        if isinstance(resp, Exception):
            emit("register_failed", error=repr(resp))
            return False
        if resp.code == Code.CREATED:
            self.location = tuple(resp.opt.location_path)
            emit("registered", code=code_str(resp.code),
                 location="/" + "/".join(self.location))
            return True
        emit("register_refused", code=code_str(resp.code),
             payload=resp.payload.decode("utf-8", "replace"))
        return False

    async def update(self, lifetime=None):
        if self.location is None:
            emit("update_skipped", reason="not registered")
            return
        msg = Message(code=Code.POST, uri=self.server_uri())
        msg.opt.uri_path = self.location
        if lifetime is not None:
            msg.opt.uri_query = ("lt=%d" % lifetime,)
        resp = await self._request(msg)
        if isinstance(resp, Exception):
            emit("update_failed", error=repr(resp))
        elif resp.code.is_successful():
            if lifetime is not None:
                self.args.lifetime = lifetime
                self.model[1][0][1] = lifetime
            emit("updated", code=code_str(resp.code))
        else:
            emit("update_refused", code=code_str(resp.code))

    async def deregister(self):
        if self.location is None:
            emit("deregister_skipped", reason="not registered")
            return
        msg = Message(code=Code.DELETE, uri=self.server_uri())
        msg.opt.uri_path = self.location
        resp = await self._request(msg)
        if isinstance(resp, Exception):
            emit("deregister_failed", error=repr(resp))
        elif resp.code.is_successful():
            self.location = None
            emit("deregistered", code=code_str(resp.code))
        else:
            emit("deregister_refused", code=code_str(resp.code))

    def spawn(self, coro):
        t = asyncio.ensure_future(coro)
        self.background.add(t)
        t.add_done_callback(self.background.discard)

    # ----- device management interface (server -> client)

    def resolve(self, path, *, allow_exec=False):
        """Check that path exists; raise 4.04 otherwise."""
        if not path:
            raise LwError(Code.METHOD_NOT_ALLOWED, "root")
        if len(path) > 4:
            raise LwError(Code.NOT_FOUND)
        oid = path[0]
        if oid not in self.model:
            raise LwError(Code.NOT_FOUND)
        if len(path) >= 2 and path[1] not in self.model[oid]:
            raise LwError(Code.NOT_FOUND)
        if len(path) >= 3:
            inst = self.model[oid][path[1]]
            if path[2] not in inst:
                raise LwError(Code.NOT_FOUND)
            if inst[path[2]] is EXEC and not allow_exec:
                raise LwError(Code.METHOD_NOT_ALLOWED, "executable")
        if len(path) == 4:
            if not rdef(oid, path[2])[3] or path[3] not in self.model[oid][path[1]][path[2]]:
                raise LwError(Code.NOT_FOUND)

    def render_read(self, path, accept):
        """-> (content format, payload bytes, json-able value)"""
        self.resolve(path)
        single = len(path) == 4 or (len(path) == 3 and not rdef(path[0], path[2])[3])
        if accept is None:
            accept = CF_TEXT if single else CF_TLV
        leaves = leaves_of(self.model, path)
        if len(path) >= 3:
            value = self.model[path[0]][path[1]][path[2]]
            if len(path) == 4:
                value = value[path[3]]
        elif len(path) == 2:
            value = {r: v for r, v in self.model[path[0]][path[1]].items() if v is not EXEC}
        else:
            value = {i: {r: v for r, v in inst.items() if v is not EXEC}
                     for i, inst in self.model[path[0]].items()}
        if accept == CF_TEXT:
            if not single:
                raise LwError(Code.NOT_ACCEPTABLE, "text/plain needs a single value")
            typ = rdef(path[0], path[2])[1]
            if typ == "opaque":
                raise LwError(Code.NOT_ACCEPTABLE)
            payload = text_encode_value(typ, value)
        elif accept == CF_TLV:
            oid = path[0]
            if len(path) == 1:
                payload = b"".join(
                    tlv_entry(TLV_INSTANCE, iid, tlv_instance_body(oid, inst))
                    for iid, inst in sorted(self.model[oid].items())
                )
            elif len(path) == 2:
                payload = tlv_instance_body(oid, self.model[oid][path[1]])
            elif len(path) == 3:
                payload = tlv_resource(oid, path[2], self.model[oid][path[1]][path[2]])
            else:
                payload = tlv_entry(TLV_RES_INSTANCE, path[3],
                                    tlv_value(rdef(oid, path[2])[1], value))
        elif accept == CF_SENML_JSON:
            payload = encode_senml(path, leaves)
        elif accept == CF_OMA_JSON:
            payload = encode_oma_json(path, leaves)
        elif accept == CF_OPAQUE and single and rdef(path[0], path[2])[1] == "opaque":
            payload = bytes(value)
        else:
            raise LwError(Code.NOT_ACCEPTABLE, "unsupported accept %s" % accept)
        return accept, payload, jsonable(value)

    def discover(self, path):
        self.resolve(path, allow_exec=True)
        if len(path) > 3:
            raise LwError(Code.BAD_REQUEST, "discover on resource instance")
        oid = path[0]
        links = []

        def link(p):
            s = "<%s>" % path_str(p)
            if len(p) == 3 and rdef(p[0], p[2])[3] and self.args.version != "1.0":
                s += ";dim=%d" % len(self.model[p[0]][p[1]][p[2]])
            for k, v in self.attributes.get(tuple(p), {}).items():
                s += ";%s=%s" % (k, v) if v is not None else ";" + k
            links.append(s)

        if len(path) == 1:
            link((oid,))
            for iid in sorted(self.model[oid]):
                link((oid, iid))
                for rid in sorted(self.model[oid][iid]):
                    link((oid, iid, rid))
        elif len(path) == 2:
            link(path)
            for rid in sorted(self.model[oid][path[1]]):
                link((oid, path[1], rid))
        else:
            link(path)
        return ",".join(links).encode()

    def write_attributes(self, path, query):
        self.resolve(path, allow_exec=True)
        attrs = self.attributes.setdefault(tuple(path), {})
        for q in query:
            k, sep, v = q.partition("=")
            if k not in ("pmin", "pmax", "gt", "lt", "st", "epmin", "epmax", "edge", "con", "hqmax"):
                raise LwError(Code.BAD_REQUEST, "unknown attribute %s" % k)
            if not sep:
                attrs.pop(k, None)  # "pmin" without value removes it
                continue
            try:
                float(v)
            except ValueError:
                raise LwError(Code.BAD_REQUEST, "bad attribute value %s" % q)
            attrs[k] = v

    def decode_write(self, path, cf, payload):
        if cf == CF_TLV:
            raw = tlv_to_writes(path, payload)
        elif cf == CF_SENML_JSON:
            raw = senml_to_writes(payload)
        elif cf == CF_OMA_JSON:
            raw = oma_json_to_writes(path, payload)
        elif cf == CF_TEXT:
            if len(path) == 4 or (len(path) == 3 and not rdef(path[0], path[2])[3]):
                raw = [(tuple(path), ("text", payload))]
            else:
                raise LwError(Code.BAD_REQUEST, "text/plain only for single values")
        else:
            raise LwError(Code.UNSUPPORTED_CONTENT_FORMAT, "content format %s" % cf)
        if not raw:
            raise LwError(Code.BAD_REQUEST, "empty write")
        leaves = []
        for full, enc in raw:
            if len(full) < 3 or full[: len(path)] != tuple(path) or len(full) > 4:
                raise LwError(Code.BAD_REQUEST, "record %s outside %s" % (path_str(full), path_str(path)))
            oid, iid, rid = full[:3]
            if iid not in self.model[oid] or rid not in self.model[oid][iid]:
                raise LwError(Code.NOT_FOUND, "no resource %s" % path_str(full))
            _, typ, ops, multi = rdef(oid, rid)
            if "W" not in ops:
                raise LwError(Code.METHOD_NOT_ALLOWED, "%s is not writable" % path_str(full))
            if (len(full) == 4) != multi and not (multi and enc[-1] == {}):
                raise LwError(Code.BAD_REQUEST, "instance mismatch at %s" % path_str(full))
            if enc[0] == "tlv":
                value = enc[1] if enc[1] == {} else tlv_decode_value(typ, enc[1])
            elif enc[0] == "json":
                value = json_decode_value(typ, enc[1], enc[2])
            else:
                value = text_decode_value(typ, enc[1])
            leaves.append((full, value))
        return leaves

    def apply_write(self, path, leaves, replace):
        touched_multi = set()
        for full, value in leaves:
            oid, iid, rid = full[:3]
            inst = self.model[oid][iid]
            if len(full) == 4:
                if replace and (oid, iid, rid) not in touched_multi:
                    inst[rid] = {}
                touched_multi.add((oid, iid, rid))
                inst[rid][full[3]] = value
            elif value == {} and rdef(oid, rid)[3]:
                inst[rid] = {}
            else:
                inst[rid] = value
        # value for the event: shaped like the target
        if len(path) >= 3:
            v = self.model[path[0]][path[1]][path[2]]
            if len(path) == 4:
                v = v[path[3]]
            return jsonable(v)
        out = {}
        for full, value in leaves:
            if len(full) == 4:
                out.setdefault(str(full[2]), {})[str(full[3])] = jsonable(value)
            else:
                out[str(full[2])] = jsonable(value)
        return out

    def execute(self, path, args):
        self.resolve(path, allow_exec=True)
        if len(path) != 3 or self.model[path[0]][path[1]][path[2]] is not EXEC:
            raise LwError(Code.METHOD_NOT_ALLOWED, "not executable")
        oid, iid, rid = path
        if (oid, rid) == (3303, 5605):
            self.model[3303][iid][5601] = self.model[3303][iid][5700]
        elif (oid, rid) == (1, 8):
            self.spawn(self.update())

    # ----- CoAP dispatch

    async def render_to_pipe(self, pipe):
        req = pipe.request
        try:
            path = tuple(int(p) for p in req.opt.uri_path)
            if any(p < 0 or p > 65535 for p in path):
                raise ValueError
        except ValueError:
            emit("unknown_request", method=str(req.code), path="/" + "/".join(req.opt.uri_path), code="4.04")
            pipe.add_response(Message(code=Code.NOT_FOUND), is_last=True)
            return
        ps = path_str(path)
        accept = None if req.opt.accept is None else int(req.opt.accept)
        cf = None if req.opt.content_format is None else int(req.opt.content_format)
        query = list(req.opt.uri_query)
        ev = None
        fields = {"path": ps}
        try:
            if req.code == Code.GET:
                if accept == CF_LINK:
                    ev = "discover"
                    payload = self.discover(path)
                    fields["payload"] = payload.decode()
                    resp = Message(code=Code.CONTENT, payload=payload, content_format=CF_LINK)
                elif req.opt.observe == 0:
                    return await self.observe(pipe, path, accept)
                elif req.opt.observe == 1:
                    ev = "read"
                    fields["observe"] = 1
                    fields["accept"] = accept
                    self.cancel_observation(req, path)
                    fmt, payload, value = self.render_read(path, accept)
                    fields["format"] = fmt
                    resp = Message(code=Code.CONTENT, payload=payload, content_format=fmt)
                else:
                    ev = "read"
                    fields["accept"] = accept
                    fmt, payload, value = self.render_read(path, accept)
                    fields["format"] = fmt
                    resp = Message(code=Code.CONTENT, payload=payload, content_format=fmt)
            elif req.code == Code.PUT and not req.payload and cf is None:
                ev = "write_attributes"
                fields["query"] = "&".join(query)
                if not query:
                    raise LwError(Code.BAD_REQUEST, "neither payload nor attributes")
                self.write_attributes(path, query)
                resp = Message(code=Code.CHANGED)
            elif req.code == Code.PUT or (req.code == Code.POST and self.is_partial_update(path, cf)):
                ev = "write"
                fields["method"] = str(req.code)
                fields["mode"] = "replace" if req.code == Code.PUT else "update"
                fields["format"] = cf
                self.resolve(path)
                if len(path) < 2:
                    raise LwError(Code.METHOD_NOT_ALLOWED, "write on object")
                leaves = self.decode_write(path, cf, req.payload)
                fields["value"] = self.apply_write(path, leaves, req.code == Code.PUT)
                resp = Message(code=Code.CHANGED)
            elif req.code == Code.POST:
                ev = "execute"
                fields["args"] = req.payload.decode("utf-8", "replace")
                self.execute(path, fields["args"])
                resp = Message(code=Code.CHANGED)
            else:
                ev = "request"
                fields["method"] = str(req.code)
                raise LwError(Code.METHOD_NOT_ALLOWED, "unsupported method")
        except LwError as e:
            resp = Message(code=e.code, payload=e.why.encode() if e.why else b"")
        fields["code"] = code_str(resp.code)
        if resp.code.is_successful():
            fields.pop("error", None)
        elif resp.payload:
            fields["error"] = resp.payload.decode("utf-8", "replace")
        emit(ev, **fields)
        pipe.add_response(resp, is_last=True)

    def is_partial_update(self, path, cf):
        """POST with a payload format on /O/I, or on a multi-instance /O/I/R,
        is a Write (partial update); otherwise POST is Execute (or Create)."""
        if cf is None or cf == CF_TEXT and len(path) == 3:
            return False
        if len(path) == 2:
            return True
        if len(path) == 3 and rdef(path[0], path[2])[3]:
            return True
        return False

    # ----- observe

    async def observe(self, pipe, path, accept):
        req = pipe.request
        key = (req.remote, req.token)
        old = self.ended.get(key)
        if old is not None and old.how is None:
            old.how = "replaced"
            self.report_cancel(key, old)
        try:
            fmt, payload, value = self.render_read(path, accept)
        except LwError as e:
            extra = {"error": e.why} if e.why else {}
            emit("observe", path=path_str(path), accept=accept, token=req.token.hex(),
                 code=code_str(e.code), **extra)
            pipe.add_response(Message(code=e.code), is_last=True)
            return
        obs = Observation(path, accept, req.remote, req.token, asyncio.current_task())
        self.observations[key] = obs
        emit("observe", path=path_str(path), accept=accept, format=fmt,
             token=req.token.hex(), code="2.05", value=value)
        try:
            first = Message(code=Code.CONTENT, payload=payload, content_format=fmt)
            first.opt.observe = self.next_seq()
            pipe.add_response(first, is_last=False)
            self.ensure_ticker()
            while True:
                await obs.wakeup.wait()
                obs.wakeup.clear()
                if obs.how is not None:
                    break
                try:
                    fmt, payload, value = self.render_read(path, accept)
                except LwError as e:
                    pipe.add_response(Message(code=e.code), is_last=True)
                    obs.how = "error"
                    break
                if not self.args.notify_non and self.con_in_flight(obs.remote):
                    # RFC 7641 4.5.2: no new CON notification while the
                    # previous one (or any CON to that peer) is unacknowledged;
                    # aiocoap would otherwise queue it behind the pending one.
                    emit("notify_skipped", path=path_str(path), value=value,
                         reason="CON to server still unacknowledged")
                    continue
                msg = Message(code=Code.CONTENT, payload=payload, content_format=fmt)
                seq = self.next_seq()
                msg.opt.observe = seq
                if self.args.notify_non:
                    msg.mtype = NON
                pipe.add_response(msg, is_last=False)
                emit("notify", path=path_str(path), value=value, format=fmt, seq=seq)
        finally:
            if self.observations.get(key) is obs:
                del self.observations[key]
            if not self.shutting_down:
                self.ended[key] = obs
                # The reason (Observe=1 GET on the same token, RST, ...) may be
                # learned only right after aiocoap cancelled this task.
                asyncio.get_running_loop().call_later(0.05, self.report_cancel, key, obs)

    def report_cancel(self, key, obs):
        if self.ended.get(key) is obs:
            del self.ended[key]
        if self.shutting_down or obs.reported:
            return
        obs.reported = True
        how = obs.how
        now = time.monotonic()
        if how is None:
            if now - self.recent_rst.get(obs.remote, -10) < 1:
                how = "rst"
            elif now - self.recent_error.get(obs.remote, -10) < 1:
                how = "error"
            else:
                how = "rst"
        emit("observe_cancel", path=path_str(obs.path), how=how, token=obs.token.hex())

    def cancel_observation(self, req, path):
        key = (req.remote, req.token)
        obs = self.ended.get(key)
        if obs is not None:  # aiocoap already stopped it (same token)
            if obs.how is None:
                obs.how = "deregister"
            self.report_cancel(key, obs)
            return
        obs = self.observations.get(key)
        if obs is None:  # other token: match by remote and path
            for o in self.observations.values():
                if o.path == path and o.remote == req.remote:
                    obs = o
                    break
        if obs is not None:
            obs.how = "deregister"
            obs.wakeup.set()
            self.report_cancel(key, obs)

    def con_in_flight(self, remote):
        mm = self.ctx.request_interfaces[0].token_interface
        return any(r == remote for (r, _mid) in mm._active_exchanges) or bool(
            mm._backlogs.get(remote))

    def next_seq(self):
        self.obs_seq = (self.obs_seq + 1) & 0xFFFFFF
        return self.obs_seq

    def ensure_ticker(self):
        if self.ticker is None or self.ticker.done():
            self.ticker = asyncio.ensure_future(self.tick())

    async def tick(self):
        while self.observations:
            await asyncio.sleep(self.args.notify_interval)
            if not self.observations:
                break
            temp = self.model[3303][0]
            temp[5700] = temp[5700] + 0.5
            temp[5601] = min(temp[5601], temp[5700])
            for obs in list(self.observations.values()):
                obs.wakeup.set()

    # ----- aiocoap plumbing hooks

    def install_hooks(self):
        tm = self.ctx.request_interfaces[0]
        mm = tm.token_interface
        client = self

        if self.args.no_answer:
            def drop_request(request):
                emit("ignored", method=str(request.code),
                     path="/" + "/".join(request.opt.uri_path),
                     mtype=str(request.mtype))
            mm._process_request = drop_request

        # RST handling for NON notifications (aiocoap only tracks CONs) and
        # bookkeeping of why an observation ended.
        non_monitors = {}
        orig_send_initially = mm._send_initially
        orig_remove_exchange = mm._remove_exchange

        def send_initially(message, messageerror_monitor=None):
            if (message.mtype is NON and messageerror_monitor is not None
                    and message.code.is_response() and message.opt.observe is not None):
                non_monitors[(message.remote, message.mid)] = messageerror_monitor
                if len(non_monitors) > 256:
                    non_monitors.pop(next(iter(non_monitors)))
            return orig_send_initially(message, messageerror_monitor)

        def remove_exchange(message):
            if message.mtype is RST:
                client.recent_rst[message.remote] = time.monotonic()
                mon = non_monitors.pop((message.remote, message.mid), None)
                if mon is not None:
                    mon()
                    return
            return orig_remove_exchange(message)

        mm._send_initially = send_initially
        mm._remove_exchange = remove_exchange

        orig_dispatch_error = tm.dispatch_error

        def dispatch_error(exception, remote):
            client.recent_error[remote] = time.monotonic()
            emit("transport_error", error=repr(exception))
            return orig_dispatch_error(exception, remote)

        tm.dispatch_error = dispatch_error

    def local_port(self):
        mi = self.ctx.request_interfaces[0].token_interface.message_interface
        return mi.transport.get_extra_info("socket").getsockname()[1]

    # ----- script

    async def run_script(self, steps):
        for step in steps:
            cmd, _, arg = step.partition(":")
            if cmd == "sleep":
                await asyncio.sleep(float(arg))
            elif cmd == "update":
                await self.update(int(arg) if arg else None)
            elif cmd == "deregister":
                await self.deregister()
            elif cmd == "register":
                await self.register()
            elif cmd == "wait-event":
                name, _, count = arg.partition(":")
                await wait_event(name, int(count) if count else 1)
            elif cmd == "wait-forever":
                await asyncio.Future()
            elif cmd == "set":
                p, _, v = arg.partition("=")
                path = parse_path_string(p)
                self.resolve(path)
                typ = rdef(path[0], path[2])[1]
                val = text_decode_value(typ, v.encode())
                if len(path) == 4:
                    self.model[path[0]][path[1]][path[2]][path[3]] = val
                else:
                    self.model[path[0]][path[1]][path[2]] = val
                emit("set", path=p, value=jsonable(val))
            elif cmd == "exit":
                return
            else:
                raise ValueError("unknown step %r" % step)
        return


def parse_steps(text):
    steps = [s.strip() for s in text.split(",") if s.strip()]
    known = ("sleep", "update", "deregister", "register", "wait-event",
             "wait-forever", "set", "exit")
    for s in steps:
        cmd, _, arg = s.partition(":")
        if cmd not in known:
            raise ValueError("unknown script step %r" % s)
        if cmd == "sleep":
            float(arg)
        if cmd == "update" and arg:
            int(arg)
        if cmd in ("wait-event", "set") and not arg:
            raise ValueError("step %r needs an argument" % s)
    return steps


async def amain(args, steps):
    client = Client(args)
    client.ctx = await aiocoap.Context.create_server_context(
        client, bind=(args.local_host, args.local_port), transports=["udp6"])
    client.install_hooks()
    emit("started", port=client.local_port(), endpoint=args.endpoint)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result("signal"))

    async def body():
        if not await client.register():
            return 2
        if args.auto_update:
            async def auto():
                while True:
                    await asyncio.sleep(max(1.0, args.lifetime * 0.8))
                    await client.update()
            client.spawn(auto())
        await client.run_script(steps)
        emit("done")
        return 0

    task = asyncio.ensure_future(body())
    done, _ = await asyncio.wait({task, stop}, timeout=args.timeout,
                                 return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        rc = task.result()
    elif stop in done:
        emit("terminated")
        rc = 0
    else:
        emit("timeout")
        rc = 3
    client.shutting_down = True
    for t in [task, client.ticker, *client.background]:
        if t is not None and not t.done():
            t.cancel()
    try:
        await asyncio.wait_for(client.ctx.shutdown(), 2)
    except (asyncio.TimeoutError, Exception):
        pass
    return rc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server-host", default="127.0.0.1")
    ap.add_argument("--server-port", type=int, required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--lifetime", type=int, default=60)
    ap.add_argument("--binding", default="U")
    # Any version string, so a test can register with one the server does not support.
    ap.add_argument("--version", default="1.1")
    ap.add_argument("--script", default=None)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--notify-interval", type=float, default=1.0)
    ap.add_argument("--notify-non", action="store_true",
                    help="send notifications as NON instead of CON")
    ap.add_argument("--no-answer", action="store_true",
                    help="never answer (nor ACK) requests from the server")
    ap.add_argument("--queue-mode", action="store_true",
                    help="1.0: b=<binding>Q; 1.1: b=<binding> plus the Q query parameter")
    ap.add_argument("--auto-update", action="store_true",
                    help="send an Update every 0.8*lifetime seconds")
    ap.add_argument("--root-link", default='</>;rt="oma.lwm2m";ct=11543',
                    help="first link of a 1.1 registration payload ('' to omit)")
    ap.add_argument("--local-host", default="127.0.0.1")
    ap.add_argument("--local-port", type=int, default=0)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.ERROR,
                        stream=sys.stderr)
    args.reg_binding = args.binding
    args.queue_param = False
    if args.queue_mode:
        if args.version == "1.0":
            if "Q" not in args.reg_binding:
                args.reg_binding += "Q"
        else:
            args.queue_param = True
    try:
        steps = parse_steps(args.script) if args.script else ["wait-forever"]
    except ValueError as e:
        ap.error(str(e))
    sys.exit(asyncio.run(amain(args, steps)))


if __name__ == "__main__":
    main()
