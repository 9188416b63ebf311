"""Peers for the per-device quotas and the per-address caps on UDP: raw
sockets with hand-made bytes (RFC 7252 and RFC 7959 for CoAP, the LwM2M
1.1 Core TS §6.2.1 for Register, MQTT 3.1.1/5.0 for PUBLISH), independent of
the gateway's codecs. Each mode prints one JSON object.

usage:
  hostile_limits.py publish-answer HOST PORT TOKEN LEVEL TOPIC PAYLOAD
      CONNECT (LEVEL 4 or 5), one QoS 1 PUBLISH; prints what came back:
      {"answer": "puback:0x00" | "puback:0x97" | "closed" | "none"}.
  register-flood HOST PORT SOURCE BURST SEQUENTIAL
      From SOURCE: BURST LwM2M Registers with unknown endpoint names sent at
      once, then SEQUENTIAL more one after another (each waits for its
      answer). Prints the answer codes counted: {"burst": {"4.03": n, ...},
      "sequential": {...}}.
  register HOST PORT SOURCE ENDPOINT
      One Register of ENDPOINT from SOURCE; prints {"code": "2.01" | ...}.
  block-slots HOST PORT SOURCE TOKEN COUNT
      COUNT sockets on SOURCE each start a Block1 upload (block 0, M=1) of
      telemetry and never finish it; prints the answer codes counted.
  connect-level HOST PORT NAME LEVEL
      A CONNECT with protocol NAME and LEVEL; prints the bytes of the first
      answer (hex) and whether the server closed after it.
  http-raw HOST PORT TEXT
      Sends TEXT (with \\n, \\r and \\0 escapes) and prints the status line.
  block-upload HOST PORT SOURCE TOKEN
      A whole two-block Block1 upload of telemetry from SOURCE; prints the
      code of each block's answer: {"codes": ["2.31", "2.04"]}.
"""
import json
import random
import socket
import struct
import sys
import time

from hostile import connect_packet, publish_packet, read_packet

CON = 0
POST = 2
URI_PATH, CONTENT_FORMAT, URI_QUERY, BLOCK1 = 11, 12, 15, 27


def option_header(delta: int, length: int) -> bytes:
    """RFC 7252 §3.1: 4-bit delta and length, extended by 1 or 2 bytes."""
    def nibble(value):
        if value < 13:
            return value, b""
        if value < 269:
            return 13, bytes([value - 13])
        return 14, struct.pack(">H", value - 269)
    d, d_ext = nibble(delta)
    l, l_ext = nibble(length)
    return bytes([d << 4 | l]) + d_ext + l_ext


def coap_message(code: int, message_id: int, token: bytes, options, payload: bytes = b"") -> bytes:
    """`options` is a list of (number, bytes), sent sorted by number."""
    out = bytes([0x40 | CON << 4 | len(token), code]) + struct.pack(">H", message_id) + token
    last = 0
    for number, value in sorted(options, key=lambda item: item[0]):
        out += option_header(number - last, len(value)) + value
        last = number
    if payload:
        out += b"\xff" + payload
    return out


def code_text(code: int) -> str:
    return f"{code >> 5}.{code & 31:02d}"


def udp_socket(source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    return sock


def register_message(endpoint: str, message_id: int) -> bytes:
    options = [(URI_PATH, b"rd"), (CONTENT_FORMAT, bytes([40])),
               (URI_QUERY, b"ep=" + endpoint.encode()), (URI_QUERY, b"lt=60"), (URI_QUERY, b"lwm2m=1.1")]
    return coap_message(POST, message_id, struct.pack(">H", message_id), options, b"</1/0>,</3/0>")


def answers(sock: socket.socket, peer, expected: int, wait: float) -> dict:
    """Codes of the responses (not empty ACKs) to `expected` requests."""
    counts: dict = {}
    seen = 0
    deadline = time.monotonic() + wait
    while seen < expected and time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data, _ = sock.recvfrom(4096)
        except socket.timeout:
            break
        if len(data) < 4 or data[1] == 0:
            continue  # an empty ACK; the response follows separately
        if data[0] >> 4 & 3 == 0:  # a separate CON response: acknowledge it
            sock.sendto(bytes([0x60, 0]) + data[2:4], peer)
        counts[code_text(data[1])] = counts.get(code_text(data[1]), 0) + 1
        seen += 1
    if seen < expected:
        counts["none"] = expected - seen
    return counts



def register_flood(host, port, source, burst, sequential):
    sock = udp_socket(source)
    base = random.randrange(1, 30000)
    for i in range(burst):
        sock.sendto(register_message(f"stranger-{base}-{i}", base + i), (host, port))
    result = {"burst": answers(sock, (host, port), burst, 10)}
    counts: dict = {}
    for i in range(sequential):
        sock.sendto(register_message(f"stranger-{base}-s{i}", base + burst + i), (host, port))
        for code, n in answers(sock, (host, port), 1, 5).items():
            counts[code] = counts.get(code, 0) + n
    result["sequential"] = counts
    print(json.dumps(result))


def register(host, port, source, endpoint):
    sock = udp_socket(source)
    sock.sendto(register_message(endpoint, 4242), (host, port))
    codes = answers(sock, (host, port), 1, 10)
    print(json.dumps({"code": next(iter(codes))}))


def telemetry_block(token: str, message_id: int, number: int, more: bool, payload: bytes) -> bytes:
    # RFC 7959 §2.2: NUM, M and SZX; SZX 2 is 64-byte blocks.
    value = number << 4 | (8 if more else 0) | 2
    block = bytes([value]) if value < 256 else struct.pack(">H", value)
    options = [(URI_PATH, b"api"), (URI_PATH, b"v1"), (URI_PATH, token.encode()), (URI_PATH, b"telemetry"),
               (CONTENT_FORMAT, bytes([50])), (BLOCK1, block)]
    return coap_message(POST, message_id, struct.pack(">H", message_id), options, payload)


BODY = b'{"blocked":"' + b"x" * 80 + b'"}'


def block_slots(host, port, source, token, count):
    socks = [udp_socket(source) for _ in range(count)]
    for i, sock in enumerate(socks):
        sock.sendto(telemetry_block(token, 100 + i, 0, True, BODY[:64]), (host, port))
    counts: dict = {}
    for sock in socks:
        for code, n in answers(sock, (host, port), 1, 5).items():
            counts[code] = counts.get(code, 0) + n
    print(json.dumps(counts))


def block_upload(host, port, source, token):
    sock = udp_socket(source)
    codes = []
    for number, (more, chunk) in enumerate([(True, BODY[:64]), (False, BODY[64:])]):
        sock.sendto(telemetry_block(token, 500 + number, number, more, chunk), (host, port))
        codes += list(answers(sock, (host, port), 1, 10))
    print(json.dumps({"codes": codes}))


def publish_answer(host, port, token, level, topic, payload):
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(connect_packet(token, level))
    connack = read_packet(sock)
    assert connack and connack[0] == 0x20, connack
    sock.sendall(publish_packet(topic.encode(), payload.encode(), 1, 7, level))
    sock.settimeout(5)
    try:
        got = read_packet(sock)
    except socket.timeout:
        print(json.dumps({"answer": "none"}))
        return
    if got is None:
        answer = "closed"
    elif got[0] == 0x40:
        reason = got[1][2] if len(got[1]) > 2 else 0
        answer = f"puback:0x{reason:02x}"
    else:
        answer = f"packet:0x{got[0]:02x}"
    print(json.dumps({"answer": answer}))


def connect_level(host, port, name, level):
    from hostile import packet, string
    body = string(name.encode()) + bytes([level, 0x02]) + struct.pack(">H", 60) + string(b"level")
    sock = socket.create_connection((host, port), timeout=5)
    sock.sendall(packet(0x10, body))
    got = read_packet(sock)
    answer = None if got is None else (bytes([got[0], len(got[1])]) + got[1]).hex()
    closed = read_packet(sock) is None if got is not None else True
    print(json.dumps({"answer": answer, "closed": closed}))


def http_raw(host, port, text):
    data = text.replace("\\r", "\r").replace("\\n", "\n").replace("\\0", "\0").encode()
    sock = socket.create_connection((host, port), timeout=5)
    sock.sendall(data)
    answer = b""
    try:
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    except socket.timeout:
        pass
    print(json.dumps({"status": answer.split(b"\r\n")[0].decode(errors="replace")}))


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "publish-answer":
        publish_answer(args[0], int(args[1]), args[2], int(args[3]), args[4], args[5])
    elif mode == "register-flood":
        register_flood(args[0], int(args[1]), args[2], int(args[3]), int(args[4]))
    elif mode == "register":
        register(args[0], int(args[1]), args[2], args[3])
    elif mode == "block-slots":
        block_slots(args[0], int(args[1]), args[2], args[3], int(args[4]))
    elif mode == "connect-level":
        connect_level(args[0], int(args[1]), args[2], int(args[3]))
    elif mode == "http-raw":
        http_raw(args[0], int(args[1]), args[2])
    elif mode == "block-upload":
        block_upload(args[0], int(args[1]), args[2], args[3])
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
