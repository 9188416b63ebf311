"""Generated sequences of valid-but-extreme requests against every device
transport of a running gateway (issue 33, item 5: handler-level robustness
as a class). Raw sockets with hand-made bytes written from the
specifications (MQTT 3.1.1 and 5.0, RFC 7252/7641/7959 CoAP, RFC 9112
HTTP/1.1), independent of the gateway's codecs. Standard library only.

usage:
  extreme.py HOST MQTT_PORT HTTP_PORT COAP_PORT TOKEN SEED COUNT [--only T:N] [--verbose]
      For each transport, COUNT cases generated from random.Random of SEED
      and the transport's name (the same SEED gives the same bytes). Every
      case is bounded: at most 2 s of waiting (less for messages that need
      no answer), and each transport stops starting cases after 80 s. The
      three transports run side by side; then a normal device is checked
      on each ("health"). --only mqtt:17 runs that one case (then health);
      --verbose writes every case and its outcome to stderr.

      Prints one JSON object:
        {"mqtt": {"cases", "answered", "closed", "timeouts", ...},
         "http": {...}, "coap": {..., "con_valid", "con_valid_answered"},
         "health": {"mqtt": bool, "http": bool, "coap": bool},
         "hung": ["mqtt#17 ...", ...]}          (at most 20)
      answered: every answer the case waits for came (CONNACK refusals,
      DISCONNECT and error statuses included); closed: the server closed
      the connection first, or the case closed it itself mid-request
      ("abandoned" of those); timeouts: neither within the case's bound.
      CoAP has no connection: a case is answered or timed out. Only a CON
      of valid format must be answered (RFC 7252 §4.2); a NON may be
      ignored (§4.3), an ACK or RST needs no answer, and a format error may
      be rejected or, for a wrong version, is ignored (§3). "hung" lists
      the MQTT and HTTP time-outs and the time-outs of valid CONs.
"""
import json
import os
import random
import selectors
import socket
import struct
import sys
import threading
import time
from urllib.parse import quote

CASE_WAIT = 2.0        # the longest a case waits for its answers
OPTIONAL_WAIT = 0.5    # for a CoAP message the server may ignore
TRANSPORT_BUDGET = 80  # seconds: no case starts later than this

# --------------------------------------------------------------------------
# extreme values shared by the transports
# --------------------------------------------------------------------------

NUMBERS = [
    "1e308", "-1e308", "1e309", "-1e309", "4.9e-324", "1e-400", "-0", "0.0",
    str(2**63 - 1), str(2**63), str(-2**63), str(-2**63 - 1), str(2**64 - 1), str(2**64),
    "1" + "0" * 400, "-" + "9" * 400, "0." + "0" * 300 + "1", "1." + "5" * 1000 + "e-10",
    "123456789012345678901234567890.5e10", "1E+308", "2.2250738585072014e-308",
]
TIMESTAMPS = [
    "0", "-1", str(2**63 - 1), str(2**63), str(-2**63), str(2**64), "1e308", "-1e308",
    "1.5", "253402300799999", "253402300800000", "1e19", "9007199254740993",
]


def ids(rng):
    """Extreme request ids as text (bytes for the invalid-UTF-8 one)."""
    return rng.choice([
        "0", "1", "65535", str(2**31), str(2**32), str(2**63 - 1), str(2**63), str(2**64),
        "-1", str(-2**63), "-" + str(2**64), "abc", "1e308", "1.5", "", " ", "x" * 60_000,
        "9" * 60_000, "9" * rng.randint(1, 5000), "%00", "\u00e9\u4e2d", "\U0001F600", "a/b", "..",
        b"\xff\xfe", "0x10", "+1", "007",
    ])


def as_bytes(value) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def nested(depth: int, array: bool) -> bytes:
    if array:
        return b"[" * depth + b"1" + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def payload(rng):
    """(description, JSON-ish bytes) for telemetry or attributes."""
    kind = rng.choice([
        "number", "number", "ts", "ts-array", "nested", "long-key", "many-keys", "empty",
        "invalid-utf8", "long-string", "max-size", "dup-keys", "escapes", "whitespace",
        "scalars", "empty-key", "top-array", "deep-values",
    ])
    if kind == "number":
        number = rng.choice(NUMBERS)
        return f"num={number[:12]}", b'{"v":' + number.encode() + b"}"
    if kind == "ts":
        ts = rng.choice(TIMESTAMPS)
        return f"ts={ts[:12]}", b'{"ts":' + ts.encode() + b',"values":{"v":' + rng.choice(NUMBERS).encode() + b"}}"
    if kind == "ts-array":
        n = rng.choice([1, 1000, 3000])
        entry = b'{"ts":' + rng.choice(TIMESTAMPS).encode() + b',"values":{"k":1}}'
        return f"ts-array={n}", b"[" + b",".join([entry] * n) + b"]"
    if kind == "nested":
        depth = rng.choice([63, 64, 65, 1000, 10_000, 30_000])
        array = rng.random() < 0.5
        body = nested(depth, array)
        return f"nested={depth}{'[' if array else '{'}", b'{"v":' + body + b"}" if rng.random() < 0.5 else body
    if kind == "long-key":
        n = rng.choice([60_000, 65_000, 65_526])
        return f"key={n}", b'{"' + b"k" * n + b'":1}'
    if kind == "many-keys":
        n = rng.choice([1000, 5000, 9000])
        return f"keys={n}", b"{" + b",".join(b'"k%d":%d' % (i, i) for i in range(n)) + b"}"
    if kind == "empty":
        return "empty", b""
    if kind == "invalid-utf8":
        return "bad-utf8", rng.choice([b'{"v":"\xff\xfe"}', b'{"\xc3\x28":1}', b"\xff" * 100, b'{"v":"\xed\xa0\x80"}'])
    if kind == "long-string":
        n = rng.choice([30_000, 60_000])
        return f"str={n}", b'{"v":"' + b"s" * n + b'"}'
    if kind == "max-size":
        total = rng.choice([65_535, 65_536, 65_537, 69_632])
        return f"size={total}", b'{"v":"' + b"m" * (total - 9) + b'"}'
    if kind == "dup-keys":
        return "dup-keys=2000", b"{" + b",".join([b'"d":1'] * 2000) + b"}"
    if kind == "escapes":
        return "escapes", rng.choice([
            b'{"v":"\\ud800"}', b'{"\\u0000":"\\u0000"}', b'{"v":"\\udc00\\ud800"}', b'{"v":"\\uZZZZ"}',
            b'{"v":"' + b"\\n" * 20_000 + b'"}', b'{"v":"\x01\x02"}'])
    if kind == "whitespace":
        return "whitespace", b" " * 60_000 + b'{"w":1}' + b"\n" * 10
    if kind == "scalars":
        return "scalars", rng.choice([b"1e308", b"null", b'"s"', b"true", b"[]", b"{}", b"[{}]"])
    if kind == "empty-key":
        return "empty-key", b'{"":1}'
    if kind == "top-array":
        return "top-array", b"[" + b",".join([b'{"a":1}'] * 3000) + b"]"
    return "deep-values", b'{"ts":1,"values":' + nested(rng.choice([10, 62, 200]), False) + b"}"


def keys_list(rng) -> bytes:
    n = rng.choice([0, 1, 1000, 5000, 12_000])
    width = rng.choice([1, 8, 60_000 // max(n, 1)])
    return b",".join(b"k" * width + str(i).encode() for i in range(n))


def attribute_request(rng):
    kind = rng.choice(["keys", "keys", "long-key", "empty", "types", "garbage"])
    if kind == "keys":
        client, shared = keys_list(rng), keys_list(rng)
        return f"keys={client.count(b',') + 1}/{shared.count(b',') + 1}", (
            b'{"clientKeys":"' + client + b'","sharedKeys":"' + shared + b'"}')
    if kind == "long-key":
        return "key=60000", b'{"sharedKeys":"' + b"z" * 60_000 + b'"}'
    if kind == "empty":
        return "empty", rng.choice([b"", b"{}", b'{"clientKeys":"","sharedKeys":""}', b'{"sharedKeys":",,,,"}'])
    if kind == "types":
        return "types", rng.choice([b'{"clientKeys":1e308}', b'{"sharedKeys":["a","b"]}', b'{"clientKeys":null}',
                                    b'{"sharedKeys":{"a":1}}', b"[1,2]", b"1"])
    return "garbage", rng.choice([b"\xff\xfe", b"{", nested(5000, True)])


def rpc_request(rng):
    kind = rng.choice(["limits", "method", "params", "types"])
    if kind == "limits":
        return "getSessionLimits", b'{"method":"getSessionLimits","params":{}}'
    if kind == "method":
        n = rng.choice([0, 1, 60_000])
        return f"method={n}", b'{"method":"' + b"m" * n + b'","params":{}}'
    if kind == "params":
        return "params=deep", b'{"method":"x","params":' + nested(rng.choice([63, 64, 1000]), False) + b"}"
    return "types", rng.choice([b'{"method":1e308}', b'{"method":null}', b"[]", b"", b'{"params":1}'])


# --------------------------------------------------------------------------
# a TCP connection with deadlines: writes and reads interleaved, so a peer
# that stops reading while it answers can never wedge the script
# --------------------------------------------------------------------------

class Timeout(Exception):
    pass


class Conn:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=CASE_WAIT)
        self.sock.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.sock, selectors.EVENT_READ)
        self.inbound = bytearray()
        self.eof = False

    def _pump(self, outbound: memoryview, deadline: float):
        """Reads what has come; writes from `outbound`; returns the rest."""
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if len(outbound) else 0)
        self.selector.modify(self.sock, events)
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout
        for _, mask in self.selector.select(left):
            if mask & selectors.EVENT_READ and not self.eof:
                try:
                    data = self.sock.recv(262_144)
                except BlockingIOError:
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    self.eof = True
                elif data:
                    self.inbound += data
            if mask & selectors.EVENT_WRITE and len(outbound):
                try:
                    outbound = outbound[self.sock.send(outbound):]
                except BlockingIOError:
                    pass
                except OSError:
                    self.eof = True
        return outbound

    def send(self, data: bytes, deadline: float):
        """False when the server closed before everything was written."""
        outbound = memoryview(data)
        while len(outbound):
            if self.eof:
                return False
            outbound = self._pump(outbound, deadline)
        return True

    def fill(self, deadline: float):
        """Waits for more bytes; False at end of stream."""
        if self.eof:
            return False
        before = len(self.inbound)
        while len(self.inbound) == before and not self.eof:
            self._pump(memoryview(b""), deadline)
        return len(self.inbound) > before

    def shutdown_write(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self, reset=False):
        if reset:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.selector.close()
        self.sock.close()


# --------------------------------------------------------------------------
# MQTT 3.1.1 (OASIS 2014) and 5.0 (OASIS 2019) packets
# --------------------------------------------------------------------------

def varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n % 128, n // 128
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def mstr(value) -> bytes:
    value = as_bytes(value)
    return struct.pack(">H", len(value)) + value


def packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + varint(len(body)) + body


def properties(items) -> bytes:
    body = b"".join(items)
    return varint(len(body)) + body


def p_byte(ident, value):
    return bytes([ident, value])


def p_u16(ident, value):
    return bytes([ident]) + struct.pack(">H", value)


def p_u32(ident, value):
    return bytes([ident]) + struct.pack(">I", value)


def p_str(ident, value):
    return bytes([ident]) + mstr(value)


def p_user(key, value):
    return b"\x26" + mstr(key) + mstr(value)


def connect_packet(level, token, client_id=b"extreme", keepalive=60, props=b"", will=None):
    flags = 0x80 | 0x02
    payload = mstr(client_id)
    if will:
        topic, message, qos = will
        flags |= 0x04 | qos << 3
        payload += (b"\x00" if level == 5 else b"") + mstr(topic) + mstr(message)
    payload += mstr(token)
    variable = mstr(b"MQTT") + bytes([level, flags]) + struct.pack(">H", keepalive)
    if level == 5:
        variable += props or b"\x00"
    return packet(0x10, variable + payload)


def publish_packet(level, topic, body, qos=0, pid=0, props=b"", retain=False, dup=False):
    variable = mstr(topic) + (struct.pack(">H", pid) if qos else b"")
    if level == 5:
        variable += props or b"\x00"
    return packet(0x30 | dup << 3 | qos << 1 | retain, variable + body)


def subscribe_packet(level, pid, filters, props=b""):
    body = struct.pack(">H", pid) + ((props or b"\x00") if level == 5 else b"")
    for topic, options in filters:
        body += mstr(topic) + bytes([options])
    return packet(0x82, body)


def unsubscribe_packet(level, pid, filters):
    body = struct.pack(">H", pid) + (b"\x00" if level == 5 else b"")
    return packet(0xA2, body + b"".join(mstr(f) for f in filters))


PINGREQ = b"\xc0\x00"
TOPICS = {
    "telemetry": b"v1/devices/me/telemetry",
    "attributes": b"v1/devices/me/attributes",
    "attr-request": b"v1/devices/me/attributes/request/",
    "rpc-request": b"v1/devices/me/rpc/request/",
    "rpc-response": b"v1/devices/me/rpc/response/",
}


def mqtt_connect_props(rng):
    """(description, CONNECT properties) at their bounds (MQTT 5.0 §3.1.2.11)."""
    choices = []
    described = []
    kinds = rng.sample(["session", "recvmax", "maxpacket", "aliasmax", "users", "reqinfo", "auth"],
                       rng.choice([0, 1, 2, 3]))
    if kinds and rng.random() < 0.05:
        kinds.append(kinds[0])  # a protocol error: the server may refuse or close
    for what in kinds:
        if what == "session":
            value = rng.choice([0, 1, 0xFFFFFFFF])
            choices.append(p_u32(0x11, value))
        elif what == "recvmax":
            value = rng.choice([1, 2, 65535])
            choices.append(p_u16(0x21, value))
        elif what == "maxpacket":
            value = rng.choice([1, 2, 4, 5, 64, 65_536, 268_435_460, 0xFFFFFFFF])
            choices.append(p_u32(0x27, value))
        elif what == "aliasmax":
            value = rng.choice([0, 1, 65535])
            choices.append(p_u16(0x22, value))
        elif what == "users":
            value = rng.choice([1, 1000, 4000])
            choices += [p_user(b"k%d" % i, b"v" * rng.choice([0, 1, 8])) for i in range(value)]
        elif what == "reqinfo":
            value = rng.choice([0, 1])
            choices += [p_byte(0x17, value), p_byte(0x19, value)]
        else:
            value = 1
            choices.append(p_str(0x15, b"SCRAM-SHA-1"))
        described.append(f"{what}={value}")
    return ",".join(described), properties(choices)


def mqtt_publish_props(rng, state):
    """(description, PUBLISH properties); state["alias"] remembers an alias
    this connection has set, so a later PUBLISH may use it with an empty topic."""
    items, described, empty_topic = [], [], False
    kinds = rng.sample(["alias", "expiry", "format", "response", "correlation", "users", "ctype", "subid"],
                       rng.choice([0, 0, 1, 1, 2]))
    for what in kinds:
        if what == "alias":
            alias = rng.choice([0, 1, 16, 17, 65535])
            items.append(p_u16(0x23, alias))
            if alias in state["aliases"] and rng.random() < 0.5:
                empty_topic = True
            state["aliases"].add(alias)
            described.append(f"alias={alias}{'(empty topic)' if empty_topic else ''}")
        elif what == "expiry":
            items.append(p_u32(0x02, 0xFFFFFFFF))
            described.append("expiry=max")
        elif what == "format":
            items.append(p_byte(0x01, 1))
            described.append("utf8-format")
        elif what == "response":
            items.append(p_str(0x08, b"r" * rng.choice([1, 30_000])))
            described.append("response-topic")
        elif what == "correlation":
            items.append(p_str(0x09, b"\x00" * rng.choice([0, 30_000])))
            described.append("correlation")
        elif what == "users":
            n = rng.choice([1, 2000])
            items += [p_user(b"u", b"%d" % i) for i in range(n)]
            described.append(f"users={n}")
        elif what == "ctype":
            items.append(p_str(0x03, b"application/json" * rng.choice([1, 1000])))
            described.append("content-type")
        else:
            items.append(b"\x0b" + varint(268_435_455))
            described.append("subid=max")
    return ",".join(described), properties(items), empty_topic


def mqtt_request(rng, level, state):
    """One generated request: (description, bytes, what answers it)."""
    kind = rng.choice(["publish"] * 6 + ["subscribe", "subscribe", "unsubscribe", "ping", "burst", "stray", "dup"])
    if kind == "ping":
        return "PINGREQ", PINGREQ, []
    if kind == "burst" and state["pids"] == {0}:
        # Receive Maximum is 100 (docs/mqtt-device-api.md): at it and past it.
        n = rng.choice([100, 101, 500])
        pids = list(range(1, n + 1))
        state["pids"].update(pids)
        data = b"".join(publish_packet(level, TOPICS["telemetry"], b'{"burst":%d}' % pid, 1, pid) for pid in pids)
        return f"{n} x PUBLISH q1", data, [("puback", pid) for pid in pids]
    pid = rng.choice([1, 65535, rng.randint(2, 65534)])
    while pid in state["pids"]:
        pid = rng.randint(2, 65534)
    state["pids"].add(pid)
    if kind == "stray":
        # PUBREL for an id never used: PUBCOMP (0x92 on 5.0, MQTT-4.3.3); a
        # PUBACK and a PUBCOMP the server never asked for: nothing.
        return (f"PUBREL/PUBACK/PUBCOMP stray pid={pid}",
                b"\x40\x02" + struct.pack(">H", pid) + b"\x70\x02" + struct.pack(">H", pid)
                + b"\x62\x02" + struct.pack(">H", pid), [("pubcomp", pid)])
    if kind == "dup":
        qos = rng.choice([1, 2])
        first = publish_packet(level, TOPICS["telemetry"], b'{"dup":1}', qos, pid)
        again = bytes([first[0] | 0x08]) + first[1:]
        return (f"PUBLISH q{qos} pid={pid} twice (DUP)", first + again,
                [("puback" if qos == 1 else "pubcomp", pid)])
    if kind == "subscribe":
        what = rng.choice(["many", "long", "hash", "plus", "api", "api"])
        if what == "many":
            filters = [b"v1/devices/me/rpc/request/%d" % i for i in range(rng.choice([40, 1000, 3000]))]
        elif what == "long":
            filters = [b"v1/devices/me/attributes/response/" + b"l" * (65_535 - 34)]
        elif what == "hash":
            filters = [b"#"]
        elif what == "plus":
            filters = [b"+/+/+", b"+/#", b"v1/+/me/#"]
        else:
            filters = [rng.choice([b"v1/devices/me/attributes", b"v1/devices/me/attributes/response/+",
                                   b"v1/devices/me/rpc/request/+", b"v1/devices/me/rpc/response/+"])]
        options = rng.choice([0, 1, 2, 3, 0x2E if level == 5 else 1])
        props = b""
        if level == 5 and rng.random() < 0.2:
            props = properties([b"\x0b" + varint(rng.choice([1, 268_435_455]))])
        return (f"SUBSCRIBE {what}x{len(filters)} opt={options}{' subid' if props else ''}",
                subscribe_packet(level, pid, [(f, options) for f in filters], props), [("suback", pid)])
    if kind == "unsubscribe":
        filters = rng.choice([[b"#"], [b"v1/devices/me/attributes"], [b"u/%d" % i for i in range(2000)],
                              [b"x" * 65_535]])
        return f"UNSUBSCRIBE x{len(filters)}", unsubscribe_packet(level, pid, filters), [("unsuback", pid)]
    topic_kind = rng.choice(list(TOPICS))
    topic = TOPICS[topic_kind]
    if topic_kind in ("telemetry", "attributes"):
        body_desc, body = payload(rng)
    elif topic_kind == "attr-request":
        body_desc, body = attribute_request(rng)
    elif topic_kind == "rpc-request":
        body_desc, body = rpc_request(rng)
    else:
        body_desc, body = payload(rng)
    id_desc = ""
    if topic_kind.startswith(("attr-", "rpc-")):
        ident = as_bytes(ids(rng))
        topic += ident
        if len(topic) > 65_535:
            topic = topic[:65_535]
        id_desc = f" id={ident[:10]!r}{'...' if len(ident) > 10 else ''}({len(ident)})"
    qos = rng.choice([0, 1, 1, 2])
    props_desc, props, empty_topic = ("", b"", False)
    if level == 5:
        props_desc, props, empty_topic = mqtt_publish_props(rng, state)
    retain = rng.random() < 0.05
    desc = (f"PUBLISH q{qos} pid={pid} {topic_kind}{id_desc} {body_desc}"
            f"{' ' + props_desc if props_desc else ''}{' retain' if retain else ''}")
    data = publish_packet(level, b"" if empty_topic else topic, body, qos, pid, props, retain)
    if not qos:
        state["pids"].discard(pid)
    return desc, data, ([("puback", pid)] if qos == 1 else [("pubcomp", pid)] if qos == 2 else [])


def mqtt_case(rng):
    level = rng.choice([4, 5])
    client_id = rng.choice([b"extreme", b"", b"c" * 23, b"c" * 65_535])
    keepalive = rng.choice([0, 1, 60, 65535])
    props_desc, props = mqtt_connect_props(rng) if level == 5 else ("", b"")
    will = None
    if rng.random() < 0.1:
        will = (rng.choice([b"v1/devices/me/telemetry", b"w" * 65_535]), b"w" * rng.choice([0, 60_000]), rng.choice([0, 1, 2]))
    connect = connect_packet(level, TOKEN, client_id, keepalive, props, will)
    header = (f"v{level} connect={len(connect)}B cid={len(client_id)} ka={keepalive}"
              f"{' ' + props_desc if props_desc else ''}"
              f"{' will' if will else ''}")
    special = rng.random()
    if special < 0.03:
        # CONNECT of another protocol level: CONNACK 1 (3.1.1) / 0x84 (5.0), or a close.
        other = rng.choice([0, 3, 6, 255])
        name = b"MQIsdp" if other == 3 else b"MQTT"
        body = mstr(name) + bytes([other, 0x82]) + struct.pack(">H", 60) + mstr(b"x") + mstr(TOKEN)
        return {"desc": f"CONNECT protocol level {other}", "connect": packet(0x10, body), "level": 4,
                "requests": [], "end": "ping"}
    if special < 0.06:
        # After CONNACK: a second CONNECT, or an AUTH packet (5.0 only): protocol errors, closed.
        data = connect if rng.random() < 0.5 else b"\xf0\x00"
        return {"desc": header + f" | {'second CONNECT' if data is connect else 'AUTH'}", "connect": connect,
                "level": level, "requests": [(data, [])], "end": "ping"}
    if special < 0.09:
        # The largest remaining length there is (MQTT §2.2.3: 268,435,455),
        # of which only the first bytes are ever sent.
        data = b"\x30" + varint(268_435_455) + mstr(TOPICS["telemetry"]) + b"p" * 4096
        return {"desc": header + " | PUBLISH remaining-length=268435455", "connect": connect, "level": level,
                "requests": [(data, [])], "end": "ping"}
    state = {"pids": set(), "aliases": set()}
    requests, parts = [], []
    state["pids"].add(0)
    for _ in range(rng.choice([1, 1, 2, 3, 5])):
        desc, data, expect = mqtt_request(rng, level, state)
        requests.append((data, expect))
        parts.append(desc)
    end = rng.choice(["ping"] * 6 + ["disconnect", "abandon", "abandon-rst", "partial"])
    return {"desc": header + " | " + "; ".join(parts) + f" | {end}", "connect": connect, "level": level,
            "requests": requests, "end": end, "cut": rng.random()}


def mqtt_read(conn: Conn, deadline: float):
    """The next packet (first byte, body), or None at end of stream."""
    while True:
        buf = conn.inbound
        if len(buf) >= 2:
            length, shift, index = 0, 0, 1
            complete = False
            while index < len(buf) and index <= 4:
                byte = buf[index]
                length |= (byte & 0x7F) << shift
                shift += 7
                index += 1
                if not byte & 0x80:
                    complete = True
                    break
            if complete and len(buf) >= index + length:
                first, body = buf[0], bytes(buf[index:index + length])
                del buf[:index + length]
                return first, body
        if not conn.fill(deadline):
            return None


def run_mqtt_case(case, host, port):
    """"answered" | "closed" | "abandoned" | "timeout", and a note."""
    deadline = time.monotonic() + CASE_WAIT
    try:
        conn = Conn(host, port)
    except OSError as error:
        return "closed", f"connect: {error}"
    notes = []
    try:
        if not conn.send(case["connect"], deadline):
            return "closed", "closed during CONNECT"
        got = mqtt_read(conn, deadline)
        if got is None:
            return "closed", "no CONNACK"
        if got[0] != 0x20 or len(got[1]) < 2:
            return "answered", f"first packet {got[0]:#04x}"
        if got[1][1] != 0:
            return "answered", f"CONNACK {got[1][1]:#04x}"
        waiting = {}
        for data, expects in case["requests"]:
            for what, pid in expects:
                waiting[pid] = what
        data = b"".join(d for d, _ in case["requests"])
        end = case["end"]
        if end == "partial":
            data = data[:max(1, int(len(data) * case["cut"]))]
        if end == "disconnect":
            data += b"\xe0\x00"
        if not conn.send(data, deadline):
            return "closed", "closed while sending"
        if end in ("abandon", "abandon-rst", "partial"):
            conn.close(reset=end != "abandon")
            conn = None
            return "abandoned", end
        if end == "ping":
            conn.send(PINGREQ, deadline)
        pong = end != "ping"
        while waiting or not pong:
            got = mqtt_read(conn, deadline)
            if got is None:
                return "closed", " ".join(notes) or "closed"
            first, body = got
            kind = first >> 4
            pid = struct.unpack(">H", body[:2])[0] if len(body) >= 2 else None
            code = body[2] if len(body) > 2 else 0
            if kind == 4:
                waiting.pop(pid, None)
                notes.append(f"PUBACK:{code:#x}")
            elif kind == 5:
                if code < 0x80:
                    conn.send(b"\x62\x02" + body[:2], deadline)
                else:
                    waiting.pop(pid, None)
                notes.append(f"PUBREC:{code:#x}")
            elif kind == 7:
                waiting.pop(pid, None)
                notes.append("PUBCOMP")
            elif kind in (9, 11):
                waiting.pop(pid, None)
                notes.append("SUBACK" if kind == 9 else "UNSUBACK")
            elif kind == 13:
                pong = True
            elif kind == 3:
                qos = first >> 1 & 3
                if qos:
                    topic_length = struct.unpack(">H", body[:2])[0]
                    ident = body[2 + topic_length:4 + topic_length]
                    conn.send((b"\x40\x02" if qos == 1 else b"\x50\x02") + ident, deadline)
                notes.append("PUBLISH")
            elif kind == 14:
                notes.append(f"DISCONNECT:{body[0] if body else 0:#x}")
            elif kind == 6:
                conn.send(b"\x70\x02" + body[:2], deadline)
        return "answered", " ".join(notes[-4:]) + (f" ({len(notes)})" if len(notes) > 4 else "")
    except Timeout:
        return "timeout", f"waiting for {sorted(waiting.values()) if 'waiting' in locals() else 'CONNACK'}" \
            f"{'' if 'pong' not in locals() or pong else ' + PINGRESP'}"
    finally:
        if conn:
            conn.close()


# --------------------------------------------------------------------------
# HTTP/1.1 (RFC 9112)
# --------------------------------------------------------------------------

def http_request(method, target, body=None, headers=(), version=b"HTTP/1.1", length=True):
    head = method + b" " + target + b" " + version + b"\r\nHost: gw\r\n"
    for name, value in headers:
        head += name + b": " + value + b"\r\n"
    if body is not None and length:
        head += b"Content-Length: " + str(len(body)).encode() + b"\r\n"
    return head + b"\r\n" + (body or b"")


def api(path) -> bytes:
    return b"/api/v1/" + TOKEN.encode() + path


def http_one(rng):
    """One request: (description, bytes, answers expected, long-poll)."""
    kind = rng.choice(["telemetry", "telemetry", "attributes", "get-attributes", "get-attributes",
                       "rpc-poll", "rpc-reply", "rpc-reply", "length", "length", "chunked", "chunked",
                       "long-url", "long-header", "many-headers", "updates-poll", "continue", "http10",
                       "target", "framing"])
    json_type = [(b"Content-Type", b"application/json")]
    if kind in ("telemetry", "attributes"):
        desc, body = payload(rng)
        return f"POST {kind} {desc}", http_request(b"POST", api(b"/" + kind.encode()), body, json_type), 1, False
    if kind == "get-attributes":
        client, shared = keys_list(rng), keys_list(rng)
        query = []
        if rng.random() < 0.8:
            query.append(b"clientKeys=" + client)
        if rng.random() < 0.8:
            query.append(b"sharedKeys=" + shared)
        if rng.random() < 0.1:
            query += [b"clientKeys=a"] * 2000
        target = api(b"/attributes") + (b"?" + b"&".join(query) if query else b"")
        return f"GET attributes url={len(target)}", http_request(b"GET", target), 1, False
    if kind in ("rpc-poll", "updates-poll"):
        timeout = rng.choice(["0", "1", "-1", str(2**63), str(2**64), "1e308", "abc", "", "3600000", "3600001",
                              "1.5", "-" + str(2**63), "0x10", "1" * 1000])
        path = b"/rpc" if kind == "rpc-poll" else b"/attributes/updates"
        return (f"GET {path.decode()[1:]} timeout={timeout[:12]}",
                http_request(b"GET", api(path) + b"?timeout=" + timeout.encode()), 1, True)
    if kind == "rpc-reply":
        ident = as_bytes(ids(rng))
        desc, body = payload(rng)
        target = api(b"/rpc/" + quote(ident, safe="").encode())
        return (f"POST rpc/{ident[:10]!r}({len(ident)}) {desc}",
                http_request(b"POST", target, body, json_type), 1, False)
    body = b'{"n":1}'
    if kind == "length":
        value = rng.choice([b"0", b"7", b"1000", str(2**63).encode(), str(2**64).encode(), b"9" * 100, b"-1",
                            b"abc", b"7, 7", b"7,8", b"", b" 7 ", b"+7", b"0x7", b"65536", b"65537"])
        dup = rng.choice([None, None, value, b"8"])
        headers = json_type + [(b"Content-Length", value)] + ([(b"Content-Length", dup)] if dup else [])
        desc = f"POST telemetry content-length={value[:12]!r}{' dup=' + repr(dup[:12]) if dup else ''}"
        short = any(v.strip().isdigit() and len(body) < int(v) <= 65_536 for v in (value, dup or b""))
        # A body shorter than a Content-Length within the limit is waited
        # for (HTTP_REQUEST_TIMEOUT): the request is ended by a FIN instead.
        return desc, http_request(b"POST", api(b"/telemetry"), body, headers, length=False), 1, "fin" if short else False
    if kind == "chunked":
        shape = rng.choice(["ok", "tiny", "huge-size", "ext", "trailer", "bad-hex", "zero-only", "with-length"])
        if shape == "ok":
            chunks = b"3\r\n{\"n\r\n4\r\n\":1}\r\n0\r\n\r\n"
        elif shape == "tiny":
            data = b"{" + b",".join(b'"k%d":1' % i for i in range(1000)) + b"}"
            chunks = b"".join(b"1\r\n" + data[i:i + 1] + b"\r\n" for i in range(len(data))) + b"0\r\n\r\n"
        elif shape == "huge-size":
            chunks = rng.choice([b"FFFFFFFFFFFFFFFF", b"10000000000000000", b"7FFFFFFFFFFFFFFF", b"F" * 100]) + b"\r\n{}\r\n0\r\n\r\n"
        elif shape == "ext":
            chunks = b"7;" + b"e" * rng.choice([10, 10_000]) + b"=v\r\n{\"n\":1}\r\n0\r\n\r\n"
        elif shape == "trailer":
            chunks = b"7\r\n{\"n\":1}\r\n0\r\n" + b"".join(b"T%d: v\r\n" % i for i in range(rng.choice([1, 500]))) + b"\r\n"
        elif shape == "bad-hex":
            chunks = b"0x7\r\n{\"n\":1}\r\n0\r\n\r\n"
        elif shape == "zero-only":
            chunks = b"0\r\n\r\n"
        else:
            chunks = b"7\r\n{\"n\":1}\r\n0\r\n\r\n"
        headers = json_type + [(b"Transfer-Encoding", b"chunked")]
        if shape == "with-length":
            headers.append((b"Content-Length", b"7"))
        return (f"POST telemetry chunked {shape}",
                http_request(b"POST", api(b"/telemetry"), None, headers) + chunks, 1, False)
    if kind == "long-url":
        n = rng.choice([8_000, 16_000, 65_000])
        target = api(b"/attributes?clientKeys=" + b"u" * n)
        return f"GET url={n}", http_request(b"GET", target), 1, False
    if kind == "long-header":
        n = rng.choice([8_000, 16_300, 16_384, 65_000])
        return (f"POST telemetry header={n}",
                http_request(b"POST", api(b"/telemetry"), body, json_type + [(b"X-Long", b"h" * n)]), 1, False)
    if kind == "many-headers":
        n = rng.choice([100, 1000, 3000])
        headers = json_type + [(b"X-%d" % i, b"v") for i in range(n)]
        return f"POST telemetry headers={n}", http_request(b"POST", api(b"/telemetry"), body, headers), 1, False
    if kind == "target":
        method, target = rng.choice([
            (b"HEAD", api(b"/attributes")), (b"OPTIONS", b"*"), (b"DELETE", api(b"/telemetry")),
            (b"PUT", api(b"/attributes")), (b"POST", b"http://gw" + api(b"/telemetry")),
            (b"POST", b"/api/v1/" + TOKEN.encode() + b"%2Ftelemetry"), (b"POST", b"//api/v1//" + TOKEN.encode() + b"//telemetry"),
            (b"POST", b"/api/v1/../v1/" + TOKEN.encode() + b"/telemetry"), (b"POST", api(b"/telemetry?") + b"&" * 5000),
            (b"POST", api(b"/telemetry#frag")), (b"GET", b"/api/v1/%" + b"41" * 10), (b"BREW", api(b"/telemetry")),
            (b"P" * 5000, api(b"/telemetry")), (b"POST", b"/" + b"a/" * 5000)])
        return (f"{method[:10].decode()} {target[:40]!r}({len(target)})",
                http_request(method, target, body, json_type), 1, False)
    if kind == "framing":
        headers = rng.choice([
            [(b"Transfer-Encoding", b"chunked, chunked")], [(b"Transfer-Encoding", b"gzip, chunked")],
            [(b"Transfer-Encoding", b"chunked"), (b"Transfer-Encoding", b"chunked")], [(b"Transfer-Encoding", b"")],
            [(b"X-Fold", b"a\r\n b")], [(b"X-Nul", b"a\x00b")], [(b"Bad Name", b"v")], [(b"", b"v")],
            [(b"Connection", b"close, keep-alive, upgrade"), (b"Upgrade", b"h2c")], [(b"Host", b"a"), (b"Host", b"b")]])
        chunked = any(name == b"Transfer-Encoding" and b"chunked" in value for name, value in headers)
        data = http_request(b"POST", api(b"/telemetry"), None if chunked else body, json_type + headers)
        if chunked:
            data += b"7\r\n" + body + b"\r\n0\r\n\r\n"
        return f"POST telemetry headers {headers[0][0][:12]!r}: {headers[0][1][:24]!r}", data, 1, False
    if kind == "continue":
        return ("POST telemetry expect-100",
                http_request(b"POST", api(b"/telemetry"), body, json_type + [(b"Expect", b"100-continue")]), 1, False)
    return ("POST telemetry HTTP/1.0",
            http_request(b"POST", api(b"/telemetry"), body, json_type, version=b"HTTP/1.0"), 1, False)


def http_case(rng):
    shape = rng.choice(["single"] * 5 + ["pipelined", "pipelined", "mid-body", "mid-head", "half-close"])
    if shape == "pipelined":
        requests = [http_one(rng) for _ in range(rng.choice([2, 5, 17, 40, 100]))]
        # A long-poll in a pipeline holds up every request behind it.
        requests = [r for r in requests if not r[3]]  # long-polls and short bodies hold up the rest
        if not requests:
            requests = [("POST telemetry", http_request(b"POST", api(b"/telemetry"), b'{"n":1}'), 1, False)]
        return {"desc": f"pipelined x{len(requests)}: " + "; ".join(r[0] for r in requests[:4]),
                "data": b"".join(r[1] for r in requests), "answers": len(requests), "end": "read",
                "poll": False}
    desc, data, answers, poll = http_one(rng)
    if poll == "fin":
        return {"desc": f"{desc} | FIN after request", "data": data, "answers": answers, "end": "half-close",
                "poll": False}
    if shape in ("mid-body", "mid-head"):
        split = data.find(b"\r\n\r\n") + 4
        cut = int(len(data) * rng.random()) if shape == "mid-head" else split + (len(data) - split) // 2
        return {"desc": f"{desc} | close {shape} at {cut}", "data": data[:max(cut, 1)], "answers": 0,
                "end": rng.choice(["close", "reset"]), "poll": poll}
    if shape == "half-close":
        return {"desc": f"{desc} | FIN after request", "data": data, "answers": answers, "end": "half-close",
                "poll": poll}
    return {"desc": desc, "data": data, "answers": answers, "end": "read", "poll": poll}


def http_parse(conn: Conn, deadline: float):
    """One final response's status, or None at end of stream. Interim 1xx
    responses are skipped."""
    while True:
        while b"\r\n\r\n" not in conn.inbound:
            if not conn.fill(deadline):
                return None
        head, _, _ = bytes(conn.inbound).partition(b"\r\n\r\n")
        del conn.inbound[:len(head) + 4]
        lines = head.split(b"\r\n")
        try:
            status = int(lines[0].split(b" ")[1])
        except (IndexError, ValueError):
            return -1
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200:
            continue
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            while True:
                while b"\r\n" not in conn.inbound:
                    if not conn.fill(deadline):
                        return status
                size_line, _, _ = bytes(conn.inbound).partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                while len(conn.inbound) < len(size_line) + 2 + size + 2:
                    if not conn.fill(deadline):
                        return status
                del conn.inbound[:len(size_line) + 2 + size + 2]
                if size == 0:
                    return status  # trailers are not sent by the gateway
        if b"content-length" in headers:
            length = int(headers[b"content-length"])
            while len(conn.inbound) < length:
                if not conn.fill(deadline):
                    return status
            del conn.inbound[:length]
            return status
        if status in (204, 304):
            return status
        while conn.fill(deadline):
            pass
        return status


def run_http_case(case, host, port):
    wait = 1.0 if case["poll"] else CASE_WAIT
    deadline = time.monotonic() + wait
    try:
        conn = Conn(host, port)
    except OSError as error:
        return "closed", f"connect: {error}"
    statuses = []
    try:
        sent = conn.send(case["data"], deadline)
        if case["end"] in ("close", "reset"):
            conn.close(reset=case["end"] == "reset")
            conn = None
            return "abandoned", case["end"]
        if case["end"] == "half-close":
            conn.shutdown_write()
        while len(statuses) < case["answers"]:
            status = http_parse(conn, deadline)
            if status is None:
                break
            statuses.append(status)
        note = ",".join(str(s) for s in statuses[-6:]) + (f" ({len(statuses)})" if len(statuses) > 6 else "")
        if len(statuses) == case["answers"]:
            return "answered", note
        return "closed", (note + " then closed" if statuses else "closed") + ("" if sent else " while sending")
    except Timeout:
        if case["poll"]:
            return "held", "long-poll held open"
        return "timeout", f"{len(statuses)} of {case['answers']} answers ({','.join(map(str, statuses[-3:]))})"
    finally:
        if conn:
            conn.close()


# --------------------------------------------------------------------------
# CoAP (RFC 7252, Observe RFC 7641, Block RFC 7959)
# --------------------------------------------------------------------------

CON, NON, ACK, RST = 0, 1, 2, 3
GET, POST, PUT, DELETE = 1, 2, 3, 4
IF_MATCH, URI_HOST, OBSERVE, URI_PORT, URI_PATH, CONTENT_FORMAT, MAX_AGE, URI_QUERY, ACCEPT = 1, 3, 6, 7, 11, 12, 14, 15, 17
BLOCK2, BLOCK1, SIZE2, SIZE1 = 23, 27, 28, 60


def nibble(value):
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes([value - 13])
    return 14, struct.pack("!H", value - 269)


def coap_options(options) -> bytes:
    out, previous = bytearray(), 0
    for number, value in sorted(options, key=lambda option: option[0]):
        delta, delta_ext = nibble(number - previous)
        length, length_ext = nibble(len(value))
        out.append(delta << 4 | length)
        out += delta_ext + length_ext + value
        previous = number
    return bytes(out)


def uint(value: int) -> bytes:
    out = b""
    while value:
        out, value = bytes([value & 0xFF]) + out, value >> 8
    return out


def block(num, more, szx) -> bytes:
    return uint(num << 4 | more << 3 | szx)


def coap_message(mtype, code, mid, token=b"", options=(), body=b"", marker=None):
    data = bytes([0x40 | mtype << 4 | len(token), code, mid >> 8, mid & 0xFF]) + token + coap_options(options)
    if body or marker:
        data += b"\xff" + body
    return data


def coap_path(*segments):
    return [(URI_PATH, as_bytes(s)) for s in segments]


def coap_case(rng):
    """{"desc", "data", "mid", "token", "class"}: class "con" must be
    answered; "optional" may be ignored."""
    mtype = rng.choice([CON, CON, CON, NON])
    mid = rng.choice([0, 65535, rng.randint(1, 65534)])
    token = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 4, 8, rng.randint(0, 8)])))
    base = ["api", "v1", TOKEN]
    json_cf = [(CONTENT_FORMAT, uint(50))]
    kind = rng.choice(["telemetry", "telemetry", "attributes", "get-attributes", "observe", "rpc-observe",
                       "rpc-reply", "block1", "block2", "dup-option", "critical", "content-format",
                       "big", "format-error", "uri", "other-method", "ping", "reserved-class", "ack-rst"])
    valid = True
    options, body, marker, desc = [], b"", None, kind
    if kind in ("telemetry", "attributes"):
        desc_body, body = payload(rng)
        body = body[:rng.choice([1000, 4000, 60_000])]
        options = coap_path(*base, kind) + json_cf
        desc = f"POST {kind} {desc_body} ({len(body)})"
        code = POST
    elif kind == "get-attributes":
        code = GET
        options = coap_path(*base, "attributes")
        keys = keys_list(rng)[:rng.choice([255, 1000, 3000])]
        if rng.random() < 0.8:
            options.append((URI_QUERY, b"clientKeys=" + keys))
        if rng.random() < 0.5:
            options += [(URI_QUERY, b"sharedKeys=k%d" % i) for i in range(rng.choice([1, 200]))]
        desc = f"GET attributes query={sum(len(v) for n, v in options if n == URI_QUERY)}"
    elif kind in ("observe", "rpc-observe"):
        code = GET
        value = rng.choice([0, 1, 2, 0xFFFFFF, 0xFFFFFFFF])
        options = coap_path(*base, "attributes" if kind == "observe" else "rpc") + [(OBSERVE, uint(value))]
        desc = f"GET {'attributes' if kind == 'observe' else 'rpc'} observe={value}"
    elif kind == "rpc-reply":
        code = POST
        ident = as_bytes(ids(rng))[:rng.choice([255, 256, 1000])]
        desc_body, body = payload(rng)
        body = body[:1000]
        options = coap_path(*base, "rpc", ident) + json_cf
        desc = f"POST rpc/{ident[:10]!r}({len(ident)}) {desc_body}"
    elif kind == "block1":
        code = POST
        num = rng.choice([0, 1, 2**20 - 1, 2**16])
        more = rng.choice([0, 1])
        szx = rng.choice([0, 2, 6, 7])
        size = 16 << min(szx, 6)
        body = (b'{"b":"' + b"x" * size)[:size] if more else b'{"b":1}'
        options = coap_path(*base, "telemetry") + json_cf + [(BLOCK1, block(num, more, szx))]
        if rng.random() < 0.3:
            options.append((SIZE1, uint(rng.choice([0, 2**32 - 1]))))
        desc = f"POST telemetry block1 num={num} m={more} szx={szx}"
    elif kind == "block2":
        code = GET
        num = rng.choice([0, 1, 2**20 - 1])
        szx = rng.choice([0, 6, 7])
        options = coap_path(*base, "attributes") + [(BLOCK2, block(num, 0, szx))]
        desc = f"GET attributes block2 num={num} szx={szx}"
    elif kind == "dup-option":
        code = rng.choice([GET, POST])
        number = rng.choice([CONTENT_FORMAT, ACCEPT, OBSERVE, BLOCK1, BLOCK2, URI_HOST, URI_PORT, MAX_AGE])
        options = coap_path(*base, "telemetry" if code == POST else "attributes") + [(number, uint(50))] * rng.choice([2, 30])
        body = b'{"d":1}' if code == POST else b""
        desc = f"{'POST telemetry' if code == POST else 'GET attributes'} option {number} repeated"
    elif kind == "critical":
        code = POST
        number = rng.choice([9, 13, 25, 2049, 65001, 65535])
        options = coap_path(*base, "telemetry") + json_cf + [(number, b"c" * rng.choice([0, 1, 300]))]
        body = b'{"c":1}'
        desc = f"POST telemetry critical option {number}"
    elif kind == "content-format":
        code = POST
        value = rng.choice([0, 50, 60, 65535, 11542, 2**16, 2**32 - 1])
        raw = uint(value) if rng.random() < 0.8 else b"\x00\x00"  # 0 in two bytes: not the shortest form
        options = coap_path(*base, "telemetry") + [(CONTENT_FORMAT, raw)]
        body = b'{"cf":1}'
        desc = f"POST telemetry content-format=0x{raw.hex() or '(empty)'}"
    elif kind == "big":
        code = POST
        size = rng.choice([1024, 4000, 4080, 4096, 8192, 65_000])
        options = coap_path(*base, "telemetry") + json_cf
        body = (b'{"big":"' + b"g" * size)[:size - 2] + b'"}'
        desc = f"POST telemetry datagram~{size}"
    elif kind == "format-error":
        valid = False
        code = POST
        what = rng.choice(["marker-no-payload", "token-9", "token-15", "nibble-15", "truncated", "version-2"])
        options = coap_path(*base, "telemetry")
        if what == "marker-no-payload":
            marker = True
        desc = f"format error {what}"
        data = coap_message(mtype, code, mid, token, options, b"", marker)
        if what.startswith("token-"):
            n = int(what.split("-")[1])
            data = bytes([0x40 | mtype << 4 | n, code, mid >> 8, mid & 0xFF]) + b"t" * n + coap_options(options)
        elif what == "nibble-15":
            data = coap_message(mtype, code, mid, token) + b"\xf1a"
        elif what == "truncated":
            data = coap_message(mtype, code, mid, token) + b"\xbaabc"
        elif what == "version-2":
            data = bytes([0x80 | data[0] & 0x3F]) + data[1:]
        return {"desc": f"{'CON' if mtype == CON else 'NON'} mid={mid} tkl={len(token)} {desc}", "data": data,
                "mid": mid, "token": token, "class": "optional", "type": mtype}
    elif kind == "uri":
        code = POST
        shape = rng.choice(["segment-255", "segment-256", "many-segments", "empty-segments", "host-port"])
        options = coap_path(*base, "telemetry") + json_cf
        if shape == "segment-255":
            options = coap_path("api", "v1", TOKEN, "t" * 255) + json_cf
        elif shape == "segment-256":
            options = coap_path("api", "v1", TOKEN, "t" * 256) + json_cf
        elif shape == "many-segments":
            options = coap_path(*base, "telemetry", *["s"] * 500) + json_cf
        elif shape == "empty-segments":
            options = coap_path("", "api", "", "v1", TOKEN, "telemetry", "") + json_cf
        else:
            options += [(URI_HOST, b"h" * 255), (URI_PORT, uint(65535))]
        body = b'{"u":1}'
        desc = f"POST uri {shape}"
    elif kind == "other-method":
        code = rng.choice([PUT, DELETE, 5, 6, 7, 31])
        options = coap_path(*base, rng.choice(["telemetry", "attributes", "rpc"])) + json_cf
        body = b'{"m":1}'
        desc = f"method 0.{code:02d}"
    elif kind == "ping":
        # An empty message has no token and no options (§4.1).
        return {"desc": f"{'CON' if mtype == CON else 'NON'} mid={mid} empty (ping)",
                "data": coap_message(mtype, 0, mid), "mid": mid, "token": b"",
                "class": "con" if mtype == CON else "optional", "type": mtype}
    elif kind == "reserved-class":
        code = rng.choice([0x20 | 1, 0x45, 0xC0, 0xE1, 0xFF])  # 1.01, 2.05 as a request, 6.00, 7.01, 7.31
        options = coap_path(*base, "telemetry")
        desc = f"code {code >> 5}.{code & 31:02d}"
    else:
        mtype = rng.choice([ACK, RST])
        code = rng.choice([0, 0x45])
        options = coap_path(*base, "telemetry") if code else []
        return {"desc": f"{'ACK' if mtype == ACK else 'RST'} mid={mid} code={code >> 5}.{code & 31:02d}",
                "data": coap_message(mtype, code, mid, token if code else b"", options), "mid": mid,
                "token": token, "class": "optional", "type": mtype}
    data = coap_message(mtype, code, mid, token, options, body, marker)
    cls = "con" if mtype == CON and valid else "optional"
    return {"desc": f"{'CON' if mtype == CON else 'NON'} mid={mid} tkl={len(token)} {desc}", "data": data,
            "mid": mid, "token": token, "class": cls, "type": mtype}


def coap_code(code):
    return f"{code >> 5}.{code & 31:02d}"


# The server remembers (peer, message id) for EXCHANGE_LIFETIME and answers
# a repeat with the first answer (RFC 7252 §4.5). A case's socket is kept
# open till its transport is done, so no later case gets its port; cases
# come from a loopback address of their own for each run (not 127.0.0.1,
# which the health check uses), so neither does a case of an earlier run.
COAP_SOURCE = "127.%d.%d.%d" % tuple(b % 250 + 2 for b in os.urandom(3))
COAP_SOCKETS = []


def run_coap_case(case, host, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if host.startswith("127."):
        sock.bind((COAP_SOURCE, 0))
    sock.connect((host, port))
    COAP_SOCKETS.append(sock)
    if len(COAP_SOCKETS) > 500:
        COAP_SOCKETS.pop(0).close()
    wait = CASE_WAIT if case["class"] == "con" else OPTIONAL_WAIT
    deadline = time.monotonic() + wait
    try:
        try:
            sock.send(case["data"])
        except OSError as error:
            return "timeout", f"send: {error}"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout", "nothing"
            sock.settimeout(left)
            try:
                data = sock.recv(70_000)
            except socket.timeout:
                return "timeout", "nothing"
            except ConnectionRefusedError:
                return "closed", "ICMP port unreachable"
            if len(data) < 4 or data[0] >> 6 != 1:
                continue
            mtype, tkl, code = data[0] >> 4 & 3, data[0] & 15, data[1]
            mid = data[2] << 8 | data[3]
            token = data[4:4 + tkl]
            if mtype in (ACK, RST) and mid == case["mid"]:
                return "answered", ("RST" if mtype == RST else "ACK " + coap_code(code))
            if mtype in (CON, NON) and token == case["token"] and code >> 5 in (2, 4, 5):
                if mtype == CON:
                    sock.send(bytes([0x60, 0, data[2], data[3]]))
                return "answered", f"{'CON' if mtype == CON else 'NON'} {coap_code(code)}"
            if mtype == CON:
                sock.send(bytes([0x70, 0, data[2], data[3]]))
    except OSError as error:
        return "timeout", f"socket: {error}"


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------

def run_transport(name, generate, run, port, count, only, verbose, host, out):
    rng = random.Random(f"{SEED}:{name}")
    cases = [generate(rng) for _ in range(count)]
    started = time.monotonic()
    tally = {"cases": 0, "answered": 0, "closed": 0, "timeouts": 0, "abandoned": 0}
    if name == "http":
        tally["held"] = 0
    if name == "coap":
        tally.update({"con_valid": 0, "con_valid_answered": 0, "optional_silent": 0})
    hung, notes = [], {}
    for index, case in enumerate(cases):
        if only is not None and index != only:
            continue
        if time.monotonic() - started > TRANSPORT_BUDGET:
            tally["skipped"] = len(cases) - index
            break
        outcome, note = run(case, host, port)
        tally["cases"] += 1
        if outcome == "abandoned":
            tally["closed"] += 1
            tally["abandoned"] += 1
        elif outcome == "held":
            tally["held"] += 1
        elif outcome == "timeout":
            if name == "coap" and case["class"] != "con":
                tally["optional_silent"] += 1
            else:
                tally["timeouts"] += 1
                hung.append(f"{name}#{index} {case['desc'][:200]}")
        else:
            tally[outcome] += 1
        if name == "coap" and case["class"] == "con":
            tally["con_valid"] += 1
            tally["con_valid_answered"] += outcome == "answered"
        first = note.split(" ")[0].split(":")[0] if note else outcome
        notes[first] = notes.get(first, 0) + 1
        if verbose:
            with PRINT_LOCK:
                print(f"{name}#{index} {outcome} [{note}] {case['desc'][:300]}", file=sys.stderr, flush=True)
    for sock in COAP_SOCKETS if name == "coap" else []:
        sock.close()
    tally["seconds"] = round(time.monotonic() - started, 1)
    tally["outcomes"] = dict(sorted(notes.items(), key=lambda kv: -kv[1])[:25])
    out[name] = (tally, hung)


def health_mqtt(host, port):
    try:
        conn = Conn(host, port)
        deadline = time.monotonic() + 5
        conn.send(connect_packet(4, TOKEN, b"extreme-health"), deadline)
        got = mqtt_read(conn, deadline)
        if not got or got[0] != 0x20 or got[1][1] != 0:
            return False
        conn.send(publish_packet(4, TOPICS["telemetry"], b'{"extreme_health":"mqtt"}', 1, 7), deadline)
        while True:
            got = mqtt_read(conn, deadline)
            if not got:
                return False
            if got[0] >> 4 == 4 and got[1][:2] == b"\x00\x07":
                conn.send(b"\xe0\x00", deadline)
                conn.close()
                return True
    except (OSError, Timeout):
        return False


def health_http(host, port):
    try:
        conn = Conn(host, port)
        deadline = time.monotonic() + 5
        conn.send(http_request(b"POST", api(b"/telemetry"), b'{"extreme_health":"http"}',
                               [(b"Content-Type", b"application/json")]), deadline)
        status = http_parse(conn, deadline)
        conn.close()
        return status == 200
    except (OSError, Timeout, ValueError):
        return False


def health_coap(host, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((host, port))
    mid, token = 4242, b"health"
    sock.send(coap_message(CON, POST, mid, token, coap_path("api", "v1", TOKEN, "telemetry")
                           + [(CONTENT_FORMAT, uint(50))], b'{"extreme_health":"coap"}'))
    deadline = time.monotonic() + 5
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            sock.settimeout(left)
            data = sock.recv(70_000)
            mtype, tkl, code = data[0] >> 4 & 3, data[0] & 15, data[1]
            if mtype == ACK and data[2:4] == struct.pack("!H", mid) and code:
                return code == 0x44  # 2.04 Changed
            if mtype in (CON, NON) and data[4:4 + tkl] == token:
                if mtype == CON:
                    sock.send(bytes([0x60, 0, data[2], data[3]]))
                return code == 0x44
    except OSError:
        return False
    finally:
        sock.close()


def main():
    global TOKEN, SEED
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    verbose = "--verbose" in sys.argv
    only = None
    if "--only" in sys.argv:
        only = sys.argv[sys.argv.index("--only") + 1]
        args.remove(only)
    if len(args) != 7:
        sys.exit(__doc__)
    host, mqtt_port, http_port, coap_port, TOKEN, SEED, count = args
    count = int(count)
    plan = [("mqtt", mqtt_case, run_mqtt_case, int(mqtt_port)),
            ("http", http_case, run_http_case, int(http_port)),
            ("coap", coap_case, run_coap_case, int(coap_port))]
    if only:
        transport, index = only.split(":")
        plan = [p for p in plan if p[0] == transport]
        only = int(index)
    started = time.monotonic()
    out, threads = {}, []
    for name, generate, run, port in plan:
        thread = threading.Thread(target=run_transport,
                                  args=(name, generate, run, port, count, only, verbose, host, out), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(TRANSPORT_BUDGET + 30)
    result, hung = {}, []
    for name, *_ in plan:
        tally, transport_hung = out.get(name, ({"cases": 0, "error": "did not finish"}, [f"{name}: did not finish"]))
        result[name] = tally
        hung += transport_hung
    result["health"] = {"mqtt": health_mqtt(host, int(mqtt_port)), "http": health_http(host, int(http_port)),
                        "coap": health_coap(host, int(coap_port))}
    result["hung"] = hung[:20]
    result["seed"] = SEED
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))


TOKEN = ""
SEED = "0"
PRINT_LOCK = threading.Lock()

if __name__ == "__main__":
    main()
