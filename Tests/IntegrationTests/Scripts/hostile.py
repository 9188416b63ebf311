"""Hostile peers for the hardening tests: raw sockets with hand-made bytes
(from the MQTT 3.1.1 and 5.0 specifications and RFC 9112), independent of
the gateway's codecs. Each mode prints one JSON object.

usage:
  hostile.py long-reply HOST PORT TOKEN LEVEL QOS KIND
      KIND attributes|session-limits. CONNECT (LEVEL 4 or 5), SUBSCRIBE to
      the reply topics, then PUBLISH a request whose id makes the reply
      topic 65,536 bytes long (one more than MQTT-1.5.3 allows). Prints what
      the server answered: {"suback":..., "answer": "closed" | "puback:0x90"
      | "disconnect:0x90" | "none", "packets": [...]}.
  close-during-lookup PORT TOKEN [TOKEN ...]
      Each token (not yet in the gateway's cache) is used once, on a
      connection reset right after the request is written, while the token
      is being looked up: even ones POST client attributes, odd ones GET.
  slowloris HOST MQTT_PORT HTTP_PORT TOKEN N_HTTP N_MQTT SOURCES WAIT
      Opens N_HTTP connections that send half a request line and N_MQTT
      sockets that send nothing, spread over SOURCES source addresses
      127.0.0.2..; then, from 127.0.0.1, a real device publishes over MQTT
      (QoS 1) and POSTs over HTTP. Waits up to WAIT seconds for the idle
      sockets to be answered or closed and counts what happened to them.
  coap-stranger HOST PORT SOURCE
      From SOURCE (a loopback address, any port) a CON PUT /1/0/1 "60"
      (text/plain) to the gateway's LwM2M client port; prints the answer's
      code ("4.03") or "none".
  attr-flood HOST PORT TOKEN SECONDS
      MQTT 3.1.1 with a 4 KiB receive buffer: subscribes to the attribute
      replies, then sends attribute requests for SECONDS and never reads.
      Prints how many requests the gateway took.
  subscribe-many HOST PORT TOKEN FILTER...
      MQTT 5.0: one SUBSCRIBE per filter at QoS 1; prints the reason codes.
  pending-per-address HOST PORT N
      Opens N sockets from 127.0.0.2 that send nothing; then one from
      127.0.0.3. Reports how many of the first were closed at once and
      whether the last stays open.
"""
import json
import resource
import select
import selectors
import socket
import struct
import sys
import time


def varint(n: int) -> bytes:
    out = b""
    while True:
        byte = n % 128
        n //= 128
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def string(s: bytes) -> bytes:
    return struct.pack(">H", len(s)) + s


def packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + varint(len(body)) + body


def connect_packet(token: str, level: int) -> bytes:
    variable = string(b"MQTT") + bytes([level, 0x82]) + struct.pack(">H", 60)
    if level == 5:
        variable += b"\x00"
    return packet(0x10, variable + string(b"hostile") + string(token.encode()))


def subscribe_packet(identifier: int, topic: bytes, level: int) -> bytes:
    body = struct.pack(">H", identifier) + (b"\x00" if level == 5 else b"") + string(topic) + b"\x01"
    return packet(0x82, body)


def publish_packet(topic: bytes, payload: bytes, qos: int, identifier: int, level: int) -> bytes:
    body = string(topic)
    if qos:
        body += struct.pack(">H", identifier)
    if level == 5:
        body += b"\x00"
    return packet(0x30 | qos << 1, body + payload)


def read_packet(sock: socket.socket):
    """One packet as (type byte, body), or None when the server closed."""
    def exact(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError
            data += chunk
        return data
    try:
        first = exact(1)[0]
        length, shift = 0, 0
        while True:
            byte = exact(1)[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        return first, exact(length)
    except (ConnectionError, ConnectionResetError):
        return None


def mqtt_session(host: str, port: int, token: str, level: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection((host, port), timeout=10, source_address=(source, 0))
    sock.sendall(connect_packet(token, level))
    answer = read_packet(sock)
    assert answer and answer[0] == 0x20 and answer[1][1] == 0, answer
    return sock


def long_reply(host, port, token, level, qos, kind):
    if kind == "attributes":
        request, reply = b"v1/devices/me/attributes/request/", b"v1/devices/me/attributes/response/"
        payload = b'{"sharedKeys":"mode"}'
    else:
        request, reply = b"v1/devices/me/rpc/request/", b"v1/devices/me/rpc/response/"
        payload = b'{"method":"getSessionLimits","params":{}}'
    ident = b"9" * (65_536 - len(reply))
    topic = request + ident
    assert len(topic) <= 65_535 and len(reply + ident) == 65_536
    sock = mqtt_session(host, port, token, level)
    sock.sendall(subscribe_packet(1, reply + b"+", level))
    suback = read_packet(sock)
    sock.sendall(publish_packet(topic, payload, qos, 2, level))
    packets, answer = [], "none"
    sock.settimeout(3)
    try:
        while True:
            got = read_packet(sock)
            if got is None:
                answer = "closed" if answer == "none" else answer
                break
            kind_byte, body = got
            packets.append(f"{kind_byte:#04x}")
            if kind_byte >> 4 == 4:  # PUBACK
                code = body[2] if len(body) > 2 else 0
                answer = f"puback:{code:#04x}"
            elif kind_byte >> 4 == 14:  # DISCONNECT
                answer = f"disconnect:{body[0]:#04x}" if body else "disconnect:0x00"
            elif kind_byte >> 4 == 3:
                answer = "publish"
    except socket.timeout:
        pass
    print(json.dumps({"suback": suback[1][-1] if suback else None, "answer": answer, "packets": packets}))


def reset_after(sock: socket.socket, data: bytes):
    sock.sendall(data)
    # SO_LINGER 0: close sends RST at once, the server sees the connection
    # gone while the token's look-up still runs.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def close_during_lookup(port, tokens):
    # A token's first use is the look-up; later ones are answered from the
    # cache in place. So each token is used once: even ones POST client
    # attributes, odd ones GET attributes.
    sent = 0
    body = b'{"late":1}'
    for index, token in enumerate(tokens):
        if index % 2 == 0:
            request = (b"POST /api/v1/" + token.encode() + b"/attributes HTTP/1.1\r\nhost: x\r\n"
                       + b"content-type: application/json\r\ncontent-length: " + str(len(body)).encode()
                       + b"\r\n\r\n" + body)
        else:
            request = b"GET /api/v1/" + token.encode() + b"/attributes?sharedKeys=a HTTP/1.1\r\nhost: x\r\n\r\n"
        reset_after(socket.create_connection(("127.0.0.1", port), timeout=5), request)
        sent += 1
    print(json.dumps({"sent": sent}))


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def open_many(host, port, count, sources, first_bytes):
    """`count` non-blocking connects spread over `sources` loopback
    addresses; each sends `first_bytes` once connected. epoll, not
    select(): descriptors go past 1024."""
    socks = []
    selector = selectors.DefaultSelector()
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((f"127.0.0.{2 + i % sources}", 0))
        s.setblocking(False)
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        socks.append(s)
        selector.register(s, selectors.EVENT_WRITE)
    waiting = len(socks)
    deadline = time.monotonic() + 30
    while waiting and time.monotonic() < deadline:
        for key, _ in selector.select(1):
            selector.unregister(key.fileobj)
            waiting -= 1
            if first_bytes:
                try:
                    key.fileobj.send(first_bytes)
                except OSError:
                    pass
    selector.close()
    return socks


def real_mqtt_publish(host, port, token):
    try:
        sock = mqtt_session(host, port, token, 4)
        sock.sendall(publish_packet(b"v1/devices/me/telemetry", b'{"real":"mqtt"}', 1, 7, 4))
        answer = read_packet(sock)
        sock.close()
        return bool(answer and answer[0] == 0x40)
    except (OSError, AssertionError):
        return False


def real_http_post(host, port, token):
    try:
        sock = socket.create_connection((host, port), timeout=10)
        body = b'{"real":"http"}'
        sock.sendall(b"POST /api/v1/" + token.encode() + b"/telemetry HTTP/1.1\r\nhost: x\r\ncontent-length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
        answer = sock.recv(4096)
        sock.close()
        return answer.split(b"\r\n")[0].decode(errors="replace")
    except OSError as error:
        return f"error: {error}"


def poll_closed(socks, wait):
    """For each socket: the first line it read before the server closed
    it, or "closed" if it read nothing; "still open" counts the rest."""
    outcome = {}
    seen = {s: b"" for s in socks}
    selector = selectors.DefaultSelector()
    for s in socks:
        selector.register(s, selectors.EVENT_READ)
    deadline = time.monotonic() + wait
    while seen and time.monotonic() < deadline:
        for key, _ in selector.select(0.5):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data:
                seen[s] += data
                continue
            selector.unregister(s)
            got = seen.pop(s)
            status = got.split(b"\r\n")[0].decode(errors="replace") if got else "closed"
            outcome[status] = outcome.get(status, 0) + 1
            s.close()
    outcome["still open"] = len(seen)
    for s in seen:
        s.close()
    selector.close()
    return outcome


def slowloris(host, mqtt_port, http_port, token, n_http, n_mqtt, sources, wait):
    raise_fd_limit()
    started = time.monotonic()
    http = open_many(host, http_port, n_http, sources, b"POST /api/v1/")
    mqtt = open_many(host, mqtt_port, n_mqtt, sources, b"")
    opened = time.monotonic() - started
    result = {
        "opened_seconds": round(opened, 2),
        "real_mqtt_puback": real_mqtt_publish(host, mqtt_port, token),
        "real_http": real_http_post(host, http_port, token),
    }
    result["http"] = poll_closed(http, wait)
    result["mqtt"] = poll_closed(mqtt, wait)
    print(json.dumps(result))


def coap_stranger(host, port, source):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    sock.settimeout(3)
    # RFC 7252 §3: version 1, CON, no token; PUT; message id 0x1234;
    # Uri-Path "1" "0" "1" (option 11), Content-Format 0 (option 12, empty).
    request = bytes([0x40, 0x03, 0x12, 0x34, 0xB1, 0x31, 0x01, 0x30, 0x01, 0x31, 0x10, 0xFF]) + b"60"
    sock.sendto(request, (host, port))
    try:
        data, _ = sock.recvfrom(2048)
        code = data[1]
        print(json.dumps({"code": f"{code >> 5}.{code & 31:02d}", "message_id": data[2] << 8 | data[3]}))
    except socket.timeout:
        print(json.dumps({"code": "none"}))


def attr_flood(host, port, token, seconds):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((host, port))
    sock.sendall(connect_packet(token, 4))
    answer = read_packet(sock)
    assert answer and answer[0] == 0x20 and answer[1][1] == 0, answer
    sock.sendall(subscribe_packet(1, b"v1/devices/me/attributes/response/+", 4))
    assert read_packet(sock)[0] == 0x90
    request = b""
    for i in range(100):
        request += publish_packet(b"v1/devices/me/attributes/request/" + str(i).encode(), b'{"sharedKeys":"big"}', 0, 0, 4)
    sock.setblocking(False)
    sent, deadline = 0, time.monotonic() + seconds
    pending = memoryview(request)
    while time.monotonic() < deadline:
        try:
            written = sock.send(pending)
        except BlockingIOError:
            select.select([], [sock], [], 0.2)
            continue
        sent += written
        pending = pending[written:]
        if not pending:
            pending = memoryview(request)
    print(json.dumps({"bytes_sent": sent, "requests_sent": sent // (len(request) // 100)}))
    sock.close()


def subscribe_many(host, port, token, filters):
    sock = mqtt_session(host, port, token, 5)
    codes = []
    for index, topic in enumerate(filters):
        sock.sendall(subscribe_packet(index + 1, topic.encode(), 5))
        answer = read_packet(sock)
        assert answer and answer[0] == 0x90, answer
        codes.append(answer[1][-1])
    print(json.dumps({"codes": codes}))


def pending_per_address(host, port, count):
    first = open_many(host, port, count, 1, b"")
    time.sleep(1)
    closed = poll_closed(first, 1)
    other = socket.create_connection((host, port), timeout=5, source_address=("127.0.0.3", 0))
    other.settimeout(1)
    try:
        data = other.recv(1)
        other_open = False if data == b"" else True
    except socket.timeout:
        other_open = True
    except OSError:
        other_open = False
    other.close()
    print(json.dumps({"first": closed, "other_open": other_open}))


def main():
    mode = sys.argv[1]
    if mode == "long-reply":
        host, port, token, level, qos, kind = sys.argv[2:8]
        long_reply(host, int(port), token, int(level), int(qos), kind)
    elif mode == "close-during-lookup":
        close_during_lookup(int(sys.argv[2]), sys.argv[3:])
    elif mode == "slowloris":
        host, mqtt_port, http_port, token, n_http, n_mqtt, sources, wait = sys.argv[2:10]
        slowloris(host, int(mqtt_port), int(http_port), token, int(n_http), int(n_mqtt), int(sources), float(wait))
    elif mode == "coap-stranger":
        coap_stranger(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif mode == "attr-flood":
        attr_flood(sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5]))
    elif mode == "subscribe-many":
        subscribe_many(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:])
    elif mode == "pending-per-address":
        pending_per_address(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
