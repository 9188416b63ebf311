#!/usr/bin/env python3
"""Minimal OMA LwM2M 1.1 *server* test peer (Core TS section 6, CoAP over
UDP, RFC 7252) built on aiocoap 0.4.14, for the gateway's LwM2M client.

ONE aiocoap context bound to --host/--port (UDP) serves the registration
interface and sends the device-management requests, so requests reach the
client from the address it registered with.  Every event is one compact JSON
object per line on stdout (flushed); diagnostics go to stderr.

Usage:
  lwm2m_server.py --port P [--host 127.0.0.1] [--timeout 120] [--verbose]
      --port 0 picks a free port.  Runs until stdin reaches EOF, a
      {"op":"quit"} command, SIGTERM/SIGINT or --timeout; then exits 0.

Registration interface (served):
  POST /rd?ep=..&lt=..&lwm2m=..&b=..  -> 2.01, Location-Path "rd" "<n>"
      {"event":"register","ep","lt"(int|null),"lwm2m","b","links",
       "location":"/rd/<n>","query":{..}}
  POST /rd/<n> (Update)  -> 2.04, or 4.04 once after "reject-next-update"
      (the registration is then forgotten) and for an unknown n
      {"event":"update","location","query","links"(text|null),"answer"}
  DELETE /rd/<n>         -> 2.02 (4.04 unknown)
      {"event":"deregister","location","answer"}
  POST /bs?ep=..          -> 2.04 (Bootstrap-Request); prints {"event":"bootstrap-request",
       "ep":..,"query":{..}}; later commands go to that client (bootstrap server role)
  anything else          -> 4.04 / 4.05, {"event":"unknown_request",...}
  The source address of the latest Register is the target of all commands.

Commands (JSON lines on stdin, "id" is echoed; each runs as its own task):
  {"id","op":"read","path":"/3/0/0"[,"accept":11542]}         GET
  {"id","op":"observe","path",["accept"]}                     GET Observe=0
  {"id","op":"cancel","observe":"<observe id>"}               GET Observe=1
  {"id","op":"write","path","format":11542|110|0|42,"value",
        ["type":"string|integer|float|boolean|opaque"],["method":"PUT|POST"]}
  {"id","op":"execute","path"[,"args":"text"]}                POST
  {"id","op":"discover","path"}                               GET Accept 40
  {"id","op":"write-attributes","path","query":"pmin=1&pmax=2"}  PUT
  {"id","op":"create","path","format":11542[,"payload_hex"]}  POST
  {"op":"reject-next-update"} -> {"event":"ok","op":"reject-next-update"}
  {"op":"quit"}
  Optional in every request command: "timeout" (seconds; without it an
  unanswered CON fails only after aiocoap's retransmissions, up to ~93 s).
  cancel forgets the observation locally, then sends GET Observe=1 with the
  observation's token, path and Accept (RFC 7641 section 3.6).

Events for commands:
  {"event":"result","id","code":"2.05","format"(int|null),"payload_hex",
   "decoded"}   (observe/cancel results also carry "observe": option|null)
  {"event":"notify","id","code","observe","format","payload_hex","decoded"}
  {"event":"observe_end","id","reason"}  the client ended an observation
  {"event":"error","id","error"}         invalid command / transport error
  {"event":"exit","reason":"eof|quit|timeout|signal"}   last line

"decoded": TLV (11542) -> list of {"type","id",...}; SenML JSON (110) and
LwM2M JSON (11543) -> parsed JSON; SenML CBOR (112) -> JSON (map keys as
strings, byte strings as hex); text (0) / link format (40) -> text; else
null; undecodable -> {"error": "..."}.
"""

import argparse
import asyncio
import base64
import json
import logging
import math
import os
import signal
import struct
import sys
import threading
import warnings

import aiocoap
import aiocoap.error
import aiocoap.resource
from aiocoap import Code, Message
from aiocoap.numbers.types import CON

CF_TEXT = 0
CF_LINK = 40
CF_OPAQUE = 42
CF_SENML_JSON = 110
CF_SENML_CBOR = 112
CF_TLV = 11542
CF_LWM2M_JSON = 11543

LOG = logging.getLogger("lwm2m_server")


# ---------------------------------------------------------------------------
# output


def emit(event, **fields):
    obj = {"event": event}
    obj.update(fields)
    try:
        sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # the test went away: keep running quietly until stdin EOF / timeout
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def finite(value):
    """JSON has no NaN / infinity: such floats become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def sanitize(obj):
    if isinstance(obj, float):
        return finite(obj)
    if isinstance(obj, list):
        return [sanitize(x) for x in obj]
    if isinstance(obj, dict):
        return {k: sanitize(v) for k, v in obj.items()}
    return obj


# ---------------------------------------------------------------------------
# decoding of response payloads

TLV_KINDS = ("object_instance", "resource_instance", "multiple_resource", "resource")
TLV_CHILD_KINDS = {
    "object_instance": ("resource", "multiple_resource"),
    "multiple_resource": ("resource_instance",),
}


def value_views(value):
    """The ways a TLV value can be read (the resource type is unknown here)."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    number = None
    if len(value) in (1, 2, 4, 8):
        number = int.from_bytes(value, "big", signed=True)
    real = None
    if len(value) == 4:
        real = finite(struct.unpack(">f", value)[0])
    elif len(value) == 8:
        real = finite(struct.unpack(">d", value)[0])
    return {"hex": value.hex(), "text": text, "int": number, "float": real}


def tlv_decode(data, parent=None):
    """OMA-TS-LightweightM2M Core section 7.4.3 TLV; raises ValueError."""
    entries = []
    pos = 0
    end = len(data)
    while pos < end:
        start = pos
        type_byte = data[pos]
        pos += 1
        kind = TLV_KINDS[type_byte >> 6]
        id_size = 2 if type_byte & 0x20 else 1
        length_size = (type_byte >> 3) & 0x03
        if pos + id_size > end:
            raise ValueError("TLV at offset %d: identifier truncated" % start)
        ident = int.from_bytes(data[pos:pos + id_size], "big")
        pos += id_size
        if length_size == 0:
            length = type_byte & 0x07
        else:
            if pos + length_size > end:
                raise ValueError("TLV at offset %d: length truncated" % start)
            length = int.from_bytes(data[pos:pos + length_size], "big")
            pos += length_size
        if pos + length > end:
            raise ValueError("TLV at offset %d: value of %d bytes exceeds the payload"
                             % (start, length))
        value = bytes(data[pos:pos + length])
        pos += length
        if parent is not None and kind not in TLV_CHILD_KINDS[parent]:
            raise ValueError("TLV at offset %d: %s inside %s" % (start, kind, parent))
        entry = {"type": kind, "id": ident}
        if kind in TLV_CHILD_KINDS:
            entry["children"] = tlv_decode(value, kind)
        else:
            entry.update(value_views(value))
        entries.append(entry)
    return entries


class CborReader:
    """Just enough CBOR (RFC 8949) for SenML CBOR payloads."""

    BREAK = object()

    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    def take(self, count):
        if self.pos + count > len(self.data):
            raise ValueError("CBOR truncated at offset %d" % self.pos)
        chunk = self.data[self.pos:self.pos + count]
        self.pos += count
        return chunk

    def item(self, depth=0, allow_break=False):
        if depth > 100:
            raise ValueError("CBOR nested too deeply")
        start = self.pos
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if info < 24:
            arg = info
        elif info <= 27:
            arg = int.from_bytes(self.take(1 << (info - 24)), "big")
        elif info == 31:
            arg = None  # indefinite length / break
        else:
            raise ValueError("CBOR reserved additional information at offset %d" % start)

        if arg is None and major in (0, 1, 6):
            raise ValueError("CBOR indefinite length not allowed at offset %d" % start)
        if major == 0:
            return arg
        if major == 1:
            return -1 - arg
        if major in (2, 3):
            if arg is None:
                raw = b""
                while True:
                    chunk_start = self.pos
                    if self.take(1)[0] == 0xFF:
                        break
                    self.pos = chunk_start
                    if self.data[self.pos] >> 5 != major:
                        raise ValueError("CBOR bad string chunk at offset %d" % chunk_start)
                    chunk = self.item(depth + 1)
                    raw += bytes.fromhex(chunk) if major == 2 else chunk.encode("utf-8")
            else:
                raw = self.take(arg)
            if major == 2:
                return raw.hex()
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError("CBOR text string at offset %d is not UTF-8" % start)
        if major == 4:
            out = []
            while arg is None or len(out) < arg:
                value = self.item(depth + 1, allow_break=arg is None)
                if value is self.BREAK:
                    break
                out.append(value)
            return out
        if major == 5:
            out = {}
            count = 0
            while arg is None or count < arg:
                key = self.item(depth + 1, allow_break=arg is None)
                if key is self.BREAK:
                    break
                out[self.json_key(key)] = self.item(depth + 1)
                count += 1
            return out
        if major == 6:
            return self.item(depth + 1)  # tags are ignored
        # major 7: simple values and floats
        if info == 20:
            return False
        if info == 21:
            return True
        if info in (22, 23):
            return None
        if info == 25:
            return finite(struct.unpack(">e", arg.to_bytes(2, "big"))[0])
        if info == 26:
            return finite(struct.unpack(">f", arg.to_bytes(4, "big"))[0])
        if info == 27:
            return finite(struct.unpack(">d", arg.to_bytes(8, "big"))[0])
        if info == 31:
            if allow_break:
                return self.BREAK
            raise ValueError("CBOR unexpected break at offset %d" % start)
        raise ValueError("CBOR unsupported simple value %d at offset %d" % (arg, start))

    @staticmethod
    def json_key(key):
        if isinstance(key, str):
            return key
        if isinstance(key, bool) or key is None:
            return json.dumps(key)
        if isinstance(key, int):
            return str(key)
        return json.dumps(key, separators=(",", ":"))


def cbor_decode(data):
    reader = CborReader(data)
    value = reader.item()
    if reader.pos != len(reader.data):
        raise ValueError("CBOR: %d trailing bytes" % (len(reader.data) - reader.pos))
    return value


def decode_payload(fmt, payload):
    try:
        if fmt == CF_TLV:
            return tlv_decode(payload)
        if fmt in (CF_SENML_JSON, CF_LWM2M_JSON):
            return sanitize(json.loads(payload.decode("utf-8")))
        if fmt == CF_SENML_CBOR:
            return cbor_decode(payload)
        if fmt in (CF_TEXT, CF_LINK):
            return payload.decode("utf-8", errors="replace")
        return None
    except (ValueError, UnicodeDecodeError) as exc:
        return {"error": str(exc)}


def response_fields(response):
    fmt = response.opt.content_format
    fmt = None if fmt is None else int(fmt)
    return {
        "code": response.code.dotted,
        "format": fmt,
        "payload_hex": response.payload.hex(),
        "decoded": decode_payload(fmt, response.payload),
    }


# ---------------------------------------------------------------------------
# encoding of Write payloads


class CommandError(Exception):
    pass


def coerce(vtype, value):
    """Returns (type, python value) for a single resource value."""
    if vtype is None:
        if isinstance(value, bool):
            vtype = "boolean"
        elif isinstance(value, int):
            vtype = "integer"
        elif isinstance(value, float):
            vtype = "float"
        elif isinstance(value, str):
            vtype = "string"
        else:
            raise CommandError("cannot infer the type of value %r" % (value,))
    try:
        if vtype == "string":
            return vtype, value if isinstance(value, str) else json.dumps(value)
        if vtype == "integer":
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError("not an integer")
                return vtype, int(value)
            return vtype, int(value)
        if vtype == "float":
            return vtype, float(value)
        if vtype == "boolean":
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered in ("true", "1"):
                    return vtype, True
                if lowered in ("false", "0"):
                    return vtype, False
                raise ValueError("not a boolean")
            if value in (0, 1):
                return vtype, bool(value)
            raise ValueError("not a boolean")
        if vtype == "opaque":
            return vtype, bytes.fromhex(value)
    except (ValueError, TypeError) as exc:
        raise CommandError("value %r is no %s: %s" % (value, vtype, exc))
    raise CommandError("unknown type %r" % (vtype,))


def tlv_int(number):
    for size in (1, 2, 4, 8):
        limit = 1 << (8 * size - 1)
        if -limit <= number < limit:
            return number.to_bytes(size, "big", signed=True)
    raise CommandError("integer %d does not fit in 8 bytes" % number)


def tlv_entry(kind, ident, value):
    if not 0 <= ident <= 0xFFFF:
        raise CommandError("TLV identifier %d out of range" % ident)
    type_byte = TLV_KINDS.index(kind) << 6
    if ident > 0xFF:
        type_byte |= 0x20
        ident_bytes = ident.to_bytes(2, "big")
    else:
        ident_bytes = bytes([ident])
    length = len(value)
    if length < 8:
        type_byte |= length
        length_bytes = b""
    elif length < 1 << 8:
        type_byte |= 0x08
        length_bytes = length.to_bytes(1, "big")
    elif length < 1 << 16:
        type_byte |= 0x10
        length_bytes = length.to_bytes(2, "big")
    elif length < 1 << 24:
        type_byte |= 0x18
        length_bytes = length.to_bytes(3, "big")
    else:
        raise CommandError("TLV value too long")
    return bytes([type_byte]) + ident_bytes + length_bytes + value


def encode_write(fmt, segments, path, vtype, value):
    vtype, value = coerce(vtype, value)
    if fmt == CF_TLV:
        if vtype == "string":
            raw = value.encode("utf-8")
        elif vtype == "integer":
            raw = tlv_int(value)
        elif vtype == "float":
            raw = struct.pack(">d", value)
        elif vtype == "boolean":
            raw = b"\x01" if value else b"\x00"
        else:
            raw = value
        try:
            ident = int(segments[-1])
        except (IndexError, ValueError):
            raise CommandError("TLV write needs a numeric last path segment")
        # /O/I/R -> resource with value; /O/I/R/RI -> resource instance
        kind = "resource_instance" if len(segments) == 4 else "resource"
        return tlv_entry(kind, ident, raw)
    if fmt == CF_SENML_JSON:
        record = {"bn": path}
        if vtype == "string":
            record["vs"] = value
        elif vtype == "boolean":
            record["vb"] = value
        elif vtype == "opaque":
            record["vd"] = base64.urlsafe_b64encode(value).decode().rstrip("=")
        else:
            if vtype == "float" and not math.isfinite(value):
                raise CommandError("SenML JSON cannot carry %r" % value)
            record["v"] = value
        return json.dumps([record], separators=(",", ":")).encode()
    if fmt == CF_TEXT:
        if vtype == "boolean":
            return b"1" if value else b"0"
        if vtype == "opaque":
            raise CommandError("opaque values need format 42 (or TLV / SenML)")
        return str(value).encode("utf-8")
    if fmt == CF_OPAQUE:
        if vtype != "opaque":
            raise CommandError("format 42 needs type opaque (value as hex)")
        return value
    raise CommandError("unsupported write format %r" % (fmt,))


# ---------------------------------------------------------------------------
# registration interface


def parse_query(options):
    query = {}
    for item in options:
        key, _, value = item.partition("=")
        query[key] = value
    return query


class RegistrationSite(aiocoap.resource.Resource, aiocoap.resource.PathCapable):
    """Root resource: dispatches on the whole Uri-Path itself."""

    def __init__(self, server):
        super().__init__()
        self.server = server

    async def needs_blockwise_assembly(self, request):
        return True

    async def render(self, request):
        return self.server.handle_incoming(request)


class Observation:
    def __init__(self, cid, request, message):
        self.id = cid
        self.request = request
        self.message = message
        self.first = None           # first response
        self.started = asyncio.get_running_loop().create_future()
        self.pending = []           # events that arrived before the result
        self.cancelled = False      # cancelled by a "cancel" command

    def on_notify(self, response):
        self.dispatch(("notify", response))

    def on_error(self, exc):
        self.dispatch(("end", exc))

    def dispatch(self, item):
        if not self.started.done():
            self.pending.append(item)
        else:
            self.show(item)

    def show(self, item):
        if self.cancelled:
            return
        kind, value = item
        if kind == "notify":
            emit("notify", id=self.id, observe=value.opt.observe, **response_fields(value))
        else:
            reason = type(value).__name__ if value is not None else "cancelled"
            if value is not None and str(value):
                reason += ": " + str(value)
            emit("observe_end", id=self.id, reason=reason)

    def flush(self):
        pending, self.pending = self.pending, []
        for item in pending:
            self.show(item)


class Server:
    def __init__(self, args):
        self.args = args
        self.ctx = None
        self.loop = None
        self.client = None          # remote of the latest Register
        self.registrations = {}     # "<n>" -> endpoint name
        self.counter = 0
        self.reject_next_update = False
        self.observations = {}
        self.tasks = set()

    # ----- served side

    def later(self, event, **fields):
        # printed after the answer has been handed to the socket
        self.loop.call_soon(lambda: emit(event, **fields))

    def handle_incoming(self, request):
        path = tuple(request.opt.uri_path)
        query = parse_query(request.opt.uri_query)
        links = request.payload.decode("utf-8", errors="replace")
        LOG.debug("incoming %s %s from %s", request.code, path, request.remote)
        if path == ("rd",) and request.code == Code.POST:
            self.counter += 1
            reg = str(self.counter)
            ep = query.get("ep")
            # a new registration of an endpoint replaces its older ones
            for old in [k for k, v in self.registrations.items() if v == ep]:
                del self.registrations[old]
            self.registrations[reg] = ep
            self.client = request.remote
            try:
                lifetime = int(query["lt"])
            except (KeyError, ValueError):
                lifetime = None
            response = Message(code=Code.CREATED)
            response.opt.location_path = ("rd", reg)
            self.later("register", ep=ep, lt=lifetime, lwm2m=query.get("lwm2m"),
                       b=query.get("b"), links=links, location="/rd/" + reg, query=query)
            return response
        if path == ("bs",) and request.code == Code.POST:
            # Bootstrap-Request (Core 6.1.3): this script then plays the
            # bootstrap server; its commands go to the requesting client.
            self.client = request.remote
            self.later("bootstrap-request", ep=query.get("ep"), query=query)
            return Message(code=Code.CHANGED)
        if len(path) == 2 and path[0] == "rd" and request.code in (Code.POST, Code.DELETE):
            reg = path[1]
            location = "/rd/" + reg
            known = reg in self.registrations
            if request.code == Code.POST:
                if known and self.reject_next_update:
                    self.reject_next_update = False
                    del self.registrations[reg]
                    known = False
                code = Code.CHANGED if known else Code.NOT_FOUND
                self.later("update", location=location, query=query,
                           links=links or None, answer=code.dotted)
            else:
                if known:
                    del self.registrations[reg]
                code = Code.DELETED if known else Code.NOT_FOUND
                self.later("deregister", location=location, answer=code.dotted)
            return Message(code=code)
        code = Code.METHOD_NOT_ALLOWED if path[:1] == ("rd",) and len(path) <= 2 else Code.NOT_FOUND
        self.later("unknown_request", method=str(request.code), path="/" + "/".join(path),
                   query=query, answer=code.dotted)
        return Message(code=code)

    # ----- commands

    def spawn(self, coro):
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def handle_line(self, line):
        """Returns "quit" for the quit command, else None."""
        text = line.decode("utf-8", errors="replace").strip()
        if not text:
            return None
        try:
            cmd = json.loads(text)
        except ValueError as exc:
            emit("error", id=None, error="invalid JSON: %s" % exc)
            return None
        if not isinstance(cmd, dict):
            emit("error", id=None, error="command is not a JSON object")
            return None
        cid = cmd.get("id")
        op = cmd.get("op")
        if op == "quit":
            return "quit"
        if op == "reject-next-update":
            self.reject_next_update = True
            fields = {"op": op}
            if cid is not None:
                fields["id"] = cid
            emit("ok", **fields)
            return None
        handler = {
            "read": self.do_read,
            "observe": self.do_observe,
            "cancel": self.do_cancel,
            "write": self.do_write,
            "execute": self.do_execute,
            "discover": self.do_discover,
            "write-attributes": self.do_write_attributes,
            "create": self.do_create,
        }.get(op)
        if handler is None:
            emit("error", id=cid, error="unknown op %r" % (op,))
            return None
        self.spawn(self.run_command(handler, cid, cmd))
        return None

    async def run_command(self, handler, cid, cmd):
        try:
            await handler(cid, cmd)
        except CommandError as exc:
            emit("error", id=cid, error=str(exc))
        except asyncio.TimeoutError:
            emit("error", id=cid, error="timeout")
        except asyncio.CancelledError:
            raise
        except aiocoap.error.Error as exc:
            text = str(exc)
            emit("error", id=cid, error=type(exc).__name__ + (": " + text if text else ""))
        except Exception as exc:  # report instead of dying
            LOG.exception("command %r failed", cmd)
            emit("error", id=cid, error="%s: %s" % (type(exc).__name__, exc))

    @staticmethod
    def segments(cmd):
        path = cmd.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise CommandError("missing or invalid path (must start with '/')")
        stripped = path.strip("/")
        segments = tuple(stripped.split("/")) if stripped else ()
        if any(s == "" for s in segments):
            raise CommandError("empty segment in path %r" % path)
        return segments

    @staticmethod
    def int_field(cmd, name, default=None):
        value = cmd.get(name, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
            raise CommandError("%s must be an integer 0..65535" % name)
        return value

    def new_request(self, cmd, code, payload=b"", content_format=None, accept=None,
                    observe=None, query=()):
        segments = self.segments(cmd)
        if self.client is None:
            raise CommandError("no client registered")
        msg = Message(code=code, mtype=CON, payload=payload)
        msg.remote = self.client
        msg.opt.uri_path = segments
        if query:
            msg.opt.uri_query = tuple(query)
        if content_format is not None:
            msg.opt.content_format = content_format
        if accept is not None:
            msg.opt.accept = accept
        if observe is not None:
            msg.opt.observe = observe
        return msg

    @staticmethod
    def timeout_of(cmd):
        value = cmd.get("timeout")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise CommandError("timeout must be a positive number")
        return float(value)

    async def exchange(self, cid, cmd, msg):
        timeout = self.timeout_of(cmd)
        LOG.debug("%s: sending %s %s", cid, msg.code, msg.opt.uri_path)
        response = await asyncio.wait_for(self.ctx.request(msg).response, timeout)
        emit("result", id=cid, **response_fields(response))

    async def do_read(self, cid, cmd):
        msg = self.new_request(cmd, Code.GET, accept=self.int_field(cmd, "accept"))
        await self.exchange(cid, cmd, msg)

    async def do_discover(self, cid, cmd):
        await self.exchange(cid, cmd, self.new_request(cmd, Code.GET, accept=CF_LINK))

    async def do_execute(self, cid, cmd):
        args = cmd.get("args")
        if args is not None and not isinstance(args, str):
            raise CommandError("args must be a string")
        payload = b"" if args is None else args.encode("utf-8")
        await self.exchange(cid, cmd, self.new_request(cmd, Code.POST, payload=payload))

    async def do_write_attributes(self, cid, cmd):
        query = cmd.get("query") or ""
        if isinstance(query, str):
            query = [part for part in query.split("&") if part]
        elif not (isinstance(query, list) and all(isinstance(q, str) for q in query)):
            raise CommandError("query must be a string (or a list of strings)")
        await self.exchange(cid, cmd, self.new_request(cmd, Code.PUT, query=query))

    async def do_create(self, cid, cmd):
        fmt = self.int_field(cmd, "format", CF_TLV)
        try:
            payload = bytes.fromhex(cmd.get("payload_hex") or "")
        except (TypeError, ValueError):
            raise CommandError("payload_hex is not hex")
        msg = self.new_request(cmd, Code.POST, payload=payload, content_format=fmt)
        await self.exchange(cid, cmd, msg)

    async def do_write(self, cid, cmd):
        fmt = self.int_field(cmd, "format", CF_TLV)
        method = str(cmd.get("method") or "PUT").upper()
        if method not in ("PUT", "POST"):
            raise CommandError("method must be PUT or POST")
        if "value" not in cmd:
            raise CommandError("missing value")
        segments = self.segments(cmd)
        path = "/" + "/".join(segments)
        payload = encode_write(fmt, segments, path, cmd.get("type"), cmd["value"])
        msg = self.new_request(cmd, Code.PUT if method == "PUT" else Code.POST,
                               payload=payload, content_format=fmt)
        await self.exchange(cid, cmd, msg)

    async def do_observe(self, cid, cmd):
        msg = self.new_request(cmd, Code.GET, accept=self.int_field(cmd, "accept"), observe=0)
        timeout = self.timeout_of(cmd)
        # No blockwise wrapper: the plain Request keeps the token and pipe the
        # cancel command needs.  LwM2M notifications fit into one datagram.
        request = self.ctx.request(msg, handle_blockwise=False)
        obs = Observation(cid, request, msg)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            request.observation.register_callback(obs.on_notify)
            request.observation.register_errback(obs.on_error)
        if cid in self.observations:
            LOG.warning("observe id %r reused; the older observation is no longer addressable", cid)
        self.observations[cid] = obs
        try:
            first = await asyncio.wait_for(request.response, timeout)
        except BaseException as exc:
            obs.cancelled = True
            if self.observations.get(cid) is obs:
                del self.observations[cid]
            obs.started.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            obs.started.exception()  # retrieved: no "never retrieved" warning
            raise
        obs.first = first
        emit("result", id=cid, observe=first.opt.observe, **response_fields(first))
        obs.started.set_result(first)
        obs.flush()

    async def do_cancel(self, cid, cmd):
        target = cmd.get("observe")
        obs = self.observations.get(target)
        if obs is None:
            raise CommandError("unknown observation %r" % (target,))
        try:
            await asyncio.shield(obs.started)
        except Exception:
            raise CommandError("observation %r was not established" % (target,))
        if self.observations.get(target) is obs:
            del self.observations[target]
        obs.cancelled = True
        request = obs.request
        # Forget the observation locally first (the token is then free; later
        # notifications with it get a Reset from aiocoap) ...
        if not request.observation.cancelled:
            request.observation.cancel()
        stop_interest = getattr(request, "_stop_interest", None)
        if stop_interest is not None:
            stop_interest()
        # ... then deregister actively (RFC 7641 section 3.6): GET with
        # Observe=1, the same token and the same options.
        msg = Message(code=Code.GET, mtype=CON)
        msg.remote = obs.message.remote
        msg.opt.uri_path = obs.message.opt.uri_path
        if obs.message.opt.accept is not None:
            msg.opt.accept = obs.message.opt.accept
        msg.opt.observe = 1
        response = await asyncio.wait_for(
            self.request_with_token(msg, obs.first.token), self.timeout_of(cmd))
        emit("result", id=cid, observe=response.opt.observe, **response_fields(response))

    async def request_with_token(self, msg, token):
        """Sends msg with a given token.  aiocoap has no API for that, so this
        does what Context.request(handle_blockwise=False) does, with the token
        manager's token generator replaced for exactly this one (synchronous)
        call (aiocoap 0.4.14 internals)."""
        from aiocoap.pipe import Pipe
        from aiocoap.protocol import Request
        from aiocoap.tokenmanager import TokenManager

        pipe = Pipe(msg, self.ctx.log)
        request = Request(pipe, self.loop, self.ctx.log)
        interface = await self.ctx.find_remote_and_interface(msg)
        if not isinstance(interface, TokenManager):
            raise CommandError("cannot choose the token on %r" % (interface,))
        had_own = "next_token" in vars(interface)
        previous = vars(interface).get("next_token")
        interface.next_token = lambda: token
        try:
            interface.request(pipe)
        finally:
            if had_own:
                interface.next_token = previous
            else:
                del interface.next_token
        return await request.response


# ---------------------------------------------------------------------------
# main


def bound_port(ctx):
    for interface in ctx.request_interfaces:
        try:
            mi = interface.token_interface.message_interface
            return mi.transport.get_extra_info("socket").getsockname()[1]
        except AttributeError:
            continue
    raise RuntimeError("no UDP transport found")


def start_stdin_reader(loop, queue):
    """Reads stdin in a daemon thread with os.read (no buffered-reader lock
    that could block interpreter shutdown); None marks EOF."""

    def put(item):
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # loop already closed
            pass

    def run():
        buffer = b""
        while True:
            try:
                chunk = os.read(0, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                put(line)
        if buffer.strip():
            put(buffer)
        put(None)

    threading.Thread(target=run, name="stdin", daemon=True).start()


async def amain(args):
    loop = asyncio.get_running_loop()
    server = Server(args)
    server.loop = loop
    server.ctx = await aiocoap.Context.create_server_context(
        RegistrationSite(server), bind=(args.host, args.port), transports=["udp6"])
    emit("listening", port=bound_port(server.ctx))

    stop = loop.create_future()

    def finish(reason):
        if not stop.done():
            stop.set_result(reason)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, finish, "signal")

    queue = asyncio.Queue()
    start_stdin_reader(loop, queue)

    async def commands():
        while True:
            line = await queue.get()
            if line is None:
                finish("eof")
                return
            if server.handle_line(line) == "quit":
                finish("quit")
                return

    reader = asyncio.ensure_future(commands())
    try:
        reason = await asyncio.wait_for(asyncio.shield(stop), args.timeout)
    except asyncio.TimeoutError:
        reason = "timeout"
    emit("exit", reason=reason)

    reader.cancel()
    for task in list(server.tasks):
        task.cancel()
    await asyncio.gather(reader, *server.tasks, return_exceptions=True)
    try:
        await asyncio.wait_for(server.ctx.shutdown(), 2)
    except Exception:  # shutting down is best effort
        pass
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True, help="UDP port, 0 = any free port")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="exit (0) after this many seconds")
    ap.add_argument("--verbose", action="store_true", help="debug log on stderr")
    args = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.ERROR,
                        stream=sys.stderr)
    sys.exit(asyncio.run(amain(args)))


if __name__ == "__main__":
    main()
