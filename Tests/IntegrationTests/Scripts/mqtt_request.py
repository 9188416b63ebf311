"""One MQTT 3.1.1 session that subscribes to attribute responses, sends an
attribute request and prints "topic payload" of the answer. Hand-made bytes
from the MQTT 3.1.1 specification, independent of the gateway's codec.

usage: mqtt_request.py HOST PORT TOKEN REQUEST_JSON
"""
import socket
import struct
import sys


def string(value: bytes) -> bytes:
    return struct.pack(">H", len(value)) + value


def packet(first: int, body: bytes) -> bytes:
    length, encoded = len(body), b""
    while True:
        byte, length = length % 128, length // 128
        encoded += bytes([byte | (0x80 if length else 0)])
        if not length:
            return bytes([first]) + encoded + body


def read_packet(sock: socket.socket) -> tuple[int, bytes]:
    def exact(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise SystemExit("connection closed")
            data += chunk
        return data
    first = exact(1)[0]
    length, multiplier = 0, 1
    while True:
        byte = exact(1)[0]
        length += (byte & 0x7F) * multiplier
        multiplier *= 128
        if byte < 128:
            break
    return first, exact(length)


def main() -> None:
    host, port, token, request = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(packet(0x10, string(b"MQTT") + b"\x04\x82\x00\x3c" + string(b"req") + string(token.encode())))
    assert read_packet(sock) == (0x20, b"\x00\x00"), "CONNACK"
    sock.sendall(packet(0x82, b"\x00\x01" + string(b"v1/devices/me/attributes/response/+") + b"\x00"))
    assert read_packet(sock) == (0x90, b"\x00\x01\x00"), "SUBACK"
    sock.sendall(packet(0x30, string(b"v1/devices/me/attributes/request/1") + request.encode()))
    first, body = read_packet(sock)
    assert first >> 4 == 3, f"expected PUBLISH, got {first:#x}"
    topic_length = struct.unpack(">H", body[:2])[0]
    topic = body[2:2 + topic_length].decode()
    offset = 2 + topic_length + (2 if (first >> 1) & 3 else 0)
    print(topic, body[offset:].decode())
    sock.sendall(b"\xe0\x00")


if __name__ == "__main__":
    main()
