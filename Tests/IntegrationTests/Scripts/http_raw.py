"""A raw HTTP/1.1 client for the device API tests: what curl does not do
on request (pipelining several requests in one write, waiting for
100 Continue, sending garbage), on a plain socket.

Usage: http_raw.py PORT TOKEN. Prints one JSON object with what was seen.
http_raw.py PORT TOKEN --stepwise: on one keep-alive connection, one POST
per line read from stdin, each answer printed as a JSON line.
"""
import json
import socket
import sys

port, token = int(sys.argv[1]), sys.argv[2]


def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s


def read_responses(s, count):
    """`count` responses: (status, body), framed by Content-Length."""
    data, answers = b"", []
    while len(answers) < count:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return answers
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
        length = 0 if status < 200 else int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        answers.append({"status": status, "body": rest[:length].decode(), "connection": headers.get("connection")})
        data = rest[length:]
    return answers


def post(n, extra=""):
    body = json.dumps({"n": n}).encode()
    return (f"POST /api/v1/{token}/telemetry HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


if "--stepwise" in sys.argv:
    s = connect()
    s.settimeout(30)
    n = 0
    for _ in sys.stdin:
        n += 1
        s.sendall(post(n))
        print(json.dumps({"seq": n, "answers": read_responses(s, 1)}), flush=True)
    sys.exit(0)

result = {}

# Three requests in one write: three answers, in order.
s = connect()
s.sendall(post(1) + post(2) + post(3))
result["pipelined"] = read_responses(s, 3)
s.close()

# Expect: 100-continue: the body is sent only after the interim answer.
s = connect()
head, _, body = post(4, "Expect: 100-continue\r\n").partition(b"\r\n\r\n")
s.sendall(head + b"\r\n\r\n")
result["continue"] = read_responses(s, 1)
s.sendall(body)
result["continued"] = read_responses(s, 1)
s.close()

# A chunked body in three chunks.
s = connect()
s.sendall((f"POST /api/v1/{token}/telemetry HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
           "3\r\n{\"n\r\n2\r\n\":\r\n2\r\n5}\r\n0\r\n\r\n").encode())
result["chunked"] = read_responses(s, 1)
s.close()

# Garbage: 400, then the gateway closes the connection.
s = connect()
s.sendall(b"HELLO\r\n\r\n" + post(6))
result["garbage"] = read_responses(s, 2)
s.close()

print(json.dumps(result))
