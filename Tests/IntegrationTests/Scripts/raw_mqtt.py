"""Raw-socket MQTT peer for the integration tests: writes hand-made bytes
(from the MQTT 3.1.1 specification), independent of the gateway's codec.

usage: raw_mqtt.py keepalive HOST PORT TOKEN [4|5] -> CONNECT (3.1.1 or 5.0)
           with keep-alive 1 s, then silence; prints the seconds until the
           server closed.
       raw_mqtt.py silent HOST PORT            -> opens a socket and sends nothing;
           prints the seconds until the server closed it.
       raw_mqtt.py garbage HOST PORT           -> sends bytes that are not MQTT;
           prints "closed" when the server closes the socket.
       raw_mqtt.py takeover HOST PORT TOKEN 4|5 -> two sessions with one token;
           prints "taken over" when the first is closed by the server.
"""
import socket
import struct
import sys
import time


def connect_packet(token: str, keepalive: int, level: int = 4) -> bytes:
    user = token.encode()
    variable = b"\x00\x04MQTT" + bytes([level]) + b"\x82" + struct.pack(">H", keepalive)
    if level == 5:
        variable += b"\x00"  # no properties
    payload = struct.pack(">H", 3) + b"raw" + struct.pack(">H", len(user)) + user
    body = variable + payload
    return bytes([0x10, len(body)]) + body


def wait_closed(sock: socket.socket, limit: float) -> float:
    start = time.monotonic()
    sock.settimeout(limit)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return time.monotonic() - start
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - start
    except socket.timeout:
        return -1.0


def main() -> None:
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sock = socket.create_connection((host, port), timeout=5)
    if mode == "keepalive":
        level = int(sys.argv[5]) if len(sys.argv) > 5 else 4
        sock.sendall(connect_packet(sys.argv[4], 1, level))
        header = sock.recv(2)
        assert header[0] == 0x20, header
        connack = sock.recv(header[1])
        assert connack[1] == 0x00, connack  # accepted
        print(f"{wait_closed(sock, 10):.2f}")
    elif mode == "takeover":
        level = int(sys.argv[5])
        sock.sendall(connect_packet(sys.argv[4], 60, level))
        assert sock.recv(2)[0] == 0x20
        second = socket.create_connection((host, port), timeout=5)
        second.sendall(connect_packet(sys.argv[4], 60, level))
        assert second.recv(2)[0] == 0x20
        print("taken over" if wait_closed(sock, 5) >= 0 else "still open")
        second.close()
    elif mode == "silent":
        print(f"{wait_closed(sock, 20):.2f}")
    elif mode == "garbage":
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        print("closed" if wait_closed(sock, 10) >= 0 else "open")
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
