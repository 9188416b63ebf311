"""Raw-socket CoAP peer for the integration tests: every datagram is encoded
by hand from RFC 7252 section 3 (no CoAP library), so it is independent of
the gateway's codec and of aiocoap.

usage (common options: --host 127.0.0.1 --port PORT --timeout 5, the bound
in seconds for each single wait):

  coap_raw.py duplicate --port P --path /api/v1/TOKEN/telemetry --payload TEXT
      sends a CON POST (random message id, 4-byte random token, Uri-Path per
      segment, Content-Format 50), waits for the response, then sends the
      very same datagram again (message deduplication, RFC 7252 section 4.5)
      and waits again.  Prints
          RESPONSE1 <type> <code> <mid> <hex of the whole datagram>
          RESPONSE2 <type> <code> <mid> <hex>
      An empty ACK (separate response, section 5.2.2) is not printed: the
      script waits for the CON/NON response with the request's token, ACKs a
      CON and prints that one.  For the duplicate only, if the empty ACK is
      all that comes back (a correct answer to a duplicate whose separate
      response was already sent), the empty ACK is printed as RESPONSE2.
      Exit 0 when both arrived, 3 ("TIMEOUT") otherwise.

  coap_raw.py malformed --port P
      sends malformed CON messages from one socket, each with its own message
      id, and prints "CASE <name> RST <mid>" if a Reset with that id came back
      within 2 s, "CASE <name> NONE" if nothing did, or (anything else with
      that id) "CASE <name> OTHER <type> <code> <mid>".  Cases: bad-version,
      token-length-9, token-length-15, delta-15-not-marker, truncated-option,
      empty-payload-after-marker, length-15.  Exit 0.

  coap_raw.py garbage-and-exchange --port P --path PATH --payload TEXT --count N
      socket A sends N random datagrams (0..64 bytes, some starting with the
      plausible header byte 0x40) while, half-way through, socket B sends one
      valid CON POST to PATH.  B waits for its response (empty ACK + separate
      CON response is handled and ACKed).  Prints "B <code>" (exit 0) or
      "TIMEOUT" (exit 3).

  coap_raw.py ping --port P
      sends an empty CON (code 0.00, "CoAP ping", section 4.3) and prints
      "PONG RST" (exit 0) if a Reset with the same message id comes back,
      "PONG <type> <code>" (exit 1) for any other answer with that id, or
      "TIMEOUT" (exit 3).

Paths: every "/"-separated non-empty segment becomes one Uri-Path option; a
"?a=b&c=d" query becomes Uri-Query options.  No percent-decoding.
"""
import argparse
import os
import random
import socket
import struct
import sys
import time

# RFC 7252 section 3: message types (2-bit T field).
CON, NON, ACK, RST = 0, 1, 2, 3
TYPE_NAMES = {CON: "CON", NON: "NON", ACK: "ACK", RST: "RST"}

# RFC 7252 section 12.1: codes are "c.dd" = class (3 bits) . detail (5 bits).
EMPTY = 0x00          # 0.00
POST = 0x02           # 0.02

# RFC 7252 section 5.10 / 12.2: option numbers used here.
URI_PATH = 11
CONTENT_FORMAT = 12
URI_QUERY = 15

PAYLOAD_MARKER = 0xFF  # section 3: 0xFF separates options from payload
JSON = 50              # section 12.3: application/json

EXIT_TIMEOUT = 3


# --------------------------------------------------------------------------
# encoding (RFC 7252 section 3)
# --------------------------------------------------------------------------

def header(mtype: int, code: int, mid: int, tkl: int, version: int = 1) -> bytes:
    """Section 3, fixed 4-byte header:
        0                   1                   2                   3
        0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
       |Ver| T |  TKL  |      Code     |          Message ID           |
    """
    first = ((version & 0x3) << 6) | ((mtype & 0x3) << 4) | (tkl & 0xF)
    return struct.pack("!BBH", first, code & 0xFF, mid & 0xFFFF)


def option_nibble(value: int):
    """Section 3.1: a delta or length up to 12 is stored in the nibble; 13
    means one extra byte holding value-13, 14 means two extra bytes (network
    order) holding value-269.  15 is reserved (payload marker)."""
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes([value - 13])
    return 14, struct.pack("!H", value - 269)


def encode_options(options) -> bytes:
    """Section 3.1: options sorted by number, each encoded as the delta to the
    previous option number; repeated options keep their order (the sort is
    stable), which matters for Uri-Path / Uri-Query (section 5.10.1)."""
    out = bytearray()
    previous = 0
    for number, value in sorted(options, key=lambda option: option[0]):
        delta, delta_ext = option_nibble(number - previous)
        length, length_ext = option_nibble(len(value))
        out.append((delta << 4) | length)
        out += delta_ext + length_ext + value
        previous = number
    return bytes(out)


def uint_value(value: int) -> bytes:
    """Section 3.2: uint option values use the fewest bytes (0 -> empty)."""
    out = b""
    while value:
        out = bytes([value & 0xFF]) + out
        value >>= 8
    return out


def path_options(path: str):
    """Section 6.4 (decomposing URIs), without percent-decoding."""
    path, _, query = path.partition("?")
    options = [(URI_PATH, segment.encode()) for segment in path.split("/") if segment]
    if query:
        options += [(URI_QUERY, part.encode()) for part in query.split("&")]
    return options


def message(mtype: int, code: int, mid: int, token: bytes = b"", options=(),
            payload: bytes = b"") -> bytes:
    data = header(mtype, code, mid, len(token)) + token + encode_options(options)
    if payload:
        # Section 3: the marker is only present if a payload follows.
        data += bytes([PAYLOAD_MARKER]) + payload
    return data


def post(path: str, payload: bytes, mid: int, token: bytes) -> bytes:
    options = path_options(path) + [(CONTENT_FORMAT, uint_value(JSON))]
    return message(CON, POST, mid, token, options, payload)


def empty_ack(mid: int) -> bytes:
    """Section 4.2: an empty ACK echoes the message id, code 0.00, TKL 0."""
    return header(ACK, EMPTY, mid, 0)


def random_mid() -> int:
    return random.randrange(0x10000)


# --------------------------------------------------------------------------
# decoding: only the header and token (section 3) are needed here
# --------------------------------------------------------------------------

class Parsed:
    def __init__(self, data: bytes):
        self.data = data
        self.ok = len(data) >= 4 and data[0] >> 6 == 1
        if not self.ok:
            return
        self.mtype = (data[0] >> 4) & 0x3
        tkl = data[0] & 0xF
        self.code = data[1]
        self.mid = struct.unpack("!H", data[2:4])[0]
        self.token = data[4:4 + tkl] if tkl <= 8 else b""

    @property
    def type_name(self) -> str:
        return TYPE_NAMES[self.mtype]

    @property
    def dotted(self) -> str:
        return f"{self.code >> 5}.{self.code & 0x1F:02d}"

    def line(self) -> str:
        return f"{self.type_name} {self.dotted} {self.mid} {self.data.hex()}"


def receive(sock: socket.socket, deadline: float):
    """Next CoAP-looking datagram before the deadline, or None."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            data = sock.recv(65535)
        except socket.timeout:
            return None
        except ConnectionRefusedError:  # ICMP port unreachable: keep waiting
            continue
        parsed = Parsed(data)
        if parsed.ok:
            return parsed


def await_response(sock: socket.socket, mid: int, token: bytes, timeout: float,
                   accept_empty_ack: bool = False):
    """Waits for the response to a CON request (section 5.2).  Piggybacked:
    an ACK with the request's message id and a non-zero code.  Separate: an
    empty ACK with that id first, then a CON/NON response carrying the
    request's token, which is ACKed if CON (section 5.2.2)."""
    deadline = time.monotonic() + timeout
    empty = None
    while True:
        reply = receive(sock, deadline)
        if reply is None:
            return empty if accept_empty_ack else None
        if reply.mtype == ACK and reply.mid == mid:
            if reply.code != EMPTY:
                return reply  # piggybacked response
            empty = reply     # separate response follows; wait for it
            deadline = time.monotonic() + timeout
            continue
        if reply.mtype == RST and reply.mid == mid:
            return reply
        if reply.mtype in (CON, NON) and reply.code >> 5 in (2, 4, 5) and reply.token == token:
            if reply.mtype == CON:
                sock.send(empty_ack(reply.mid))
            return reply
        if reply.mtype == CON:
            # Anything else confirmable that we cannot place: reject it
            # (section 4.2) so the server does not retransmit it.
            sock.send(header(RST, EMPTY, reply.mid, 0))


def udp_socket(args) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET,
                         socket.SOCK_DGRAM)
    sock.connect((args.host, args.port))
    return sock


# --------------------------------------------------------------------------
# subcommands
# --------------------------------------------------------------------------

def do_duplicate(args) -> int:
    sock = udp_socket(args)
    mid, token = random_mid(), os.urandom(4)
    datagram = post(args.path, args.payload.encode(), mid, token)

    sock.send(datagram)
    first = await_response(sock, mid, token, args.timeout)
    if first is None:
        print("TIMEOUT", flush=True)
        return EXIT_TIMEOUT
    print(f"RESPONSE1 {first.line()}", flush=True)

    sock.send(datagram)  # byte-identical retransmission (same mid, token)
    second = await_response(sock, mid, token, args.timeout, accept_empty_ack=True)
    if second is None:
        print("TIMEOUT", flush=True)
        return EXIT_TIMEOUT
    print(f"RESPONSE2 {second.line()}", flush=True)
    return 0


def malformed_cases(base_mid: int):
    """(name, mid, datagram).  Section 3 / 3.1 lists each of these as a
    "message format error"; section 4.2 / 4.3 say a malformed CON is rejected
    with a Reset, while section 3 says a message with an unknown version
    number MUST be silently ignored."""
    token = os.urandom(4)
    uri = encode_options([(URI_PATH, b"x")])
    cases = []

    def add(name, build):
        mid = (base_mid + len(cases)) & 0xFFFF
        cases.append((name, mid, build(mid)))

    # (a) Ver = 2 (section 3: "Implementations of this specification MUST
    # set this field to 1 (01 binary).  Other values are reserved for future
    # versions.  Messages with unknown version numbers MUST be silently
    # ignored.")
    add("bad-version", lambda mid: header(CON, 0x01, mid, len(token), version=2) + token + uri)
    # (b), (c) TKL 9..15 are reserved and "MUST be processed as a message
    # format error"; the announced number of token bytes is present.
    add("token-length-9", lambda mid: header(CON, 0x01, mid, 9) + os.urandom(9) + uri)
    add("token-length-15", lambda mid: header(CON, 0x01, mid, 15) + os.urandom(15) + uri)
    # (d) Option delta nibble 15 in a byte that is not 0xFF (section 3.1:
    # "MUST be processed as a message format error").
    add("delta-15-not-marker", lambda mid: header(CON, 0x01, mid, len(token)) + token + b"\xf1a")
    # (e) Uri-Path (delta 11) announcing length 10 with only 3 bytes left:
    # the option runs past the end of the datagram.
    add("truncated-option", lambda mid: header(CON, 0x01, mid, len(token)) + token + b"\xbaabc")
    # (f) Payload marker followed by a zero-length payload (section 3:
    # "MUST be processed as a message format error").
    add("empty-payload-after-marker",
        lambda mid: header(CON, POST, mid, len(token)) + token + uri + b"\xff")
    # (g) Option length nibble 15 (section 3.1: reserved, "MUST be processed
    # as a message format error"); some bytes follow so it is not truncated.
    add("length-15", lambda mid: header(CON, 0x01, mid, len(token)) + token + b"\xbf" + b"y" * 16)
    return cases


def do_malformed(args) -> int:
    sock = udp_socket(args)
    wait = 2.0
    for name, mid, datagram in malformed_cases(random_mid()):
        sock.send(datagram)
        deadline = time.monotonic() + wait
        answer = "NONE"
        while True:
            reply = receive(sock, deadline)
            if reply is None:
                break
            if reply.mid != mid:
                continue  # late answer to an earlier case
            if reply.mtype == RST and reply.code == EMPTY:
                answer = f"RST {mid}"
            else:
                answer = f"OTHER {reply.type_name} {reply.dotted} {reply.mid}"
                if reply.mtype == CON:
                    sock.send(empty_ack(reply.mid))
            break
        print(f"CASE {name} {answer}", flush=True)
    return 0


def garbage(rng: random.Random) -> bytes:
    data = bytearray(os.urandom(rng.randint(0, 64)))
    if data and rng.random() < 0.3:
        data[0] = 0x40  # Ver 1, CON, TKL 0: looks like a real header
    return bytes(data)


def do_garbage_and_exchange(args) -> int:
    rng = random.Random()
    a, b = udp_socket(args), udp_socket(args)
    mid, token = random_mid(), os.urandom(4)
    request = post(args.path, args.payload.encode(), mid, token)
    half = args.count // 2
    for index in range(args.count):
        if index == half:
            b.send(request)
        try:
            a.send(garbage(rng))
        except ConnectionRefusedError:  # ICMP from an earlier datagram
            pass
    if args.count == 0:
        b.send(request)
    reply = await_response(b, mid, token, args.timeout)
    a.close()
    if reply is None:
        print("TIMEOUT", flush=True)
        return EXIT_TIMEOUT
    print(f"B {reply.dotted}", flush=True)
    return 0


def do_ping(args) -> int:
    sock = udp_socket(args)
    mid = random_mid()
    sock.send(header(CON, EMPTY, mid, 0))  # section 4.3: empty CON = ping
    deadline = time.monotonic() + args.timeout
    while True:
        reply = receive(sock, deadline)
        if reply is None:
            print("TIMEOUT", flush=True)
            return EXIT_TIMEOUT
        if reply.mid != mid:
            continue
        if reply.mtype == RST:
            print("PONG RST", flush=True)
            return 0
        print(f"PONG {reply.type_name} {reply.dotted}", flush=True)
        return 1


def parse(argv) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--host", default="127.0.0.1")
    common.add_argument("--port", type=int, required=True)
    common.add_argument("--timeout", type=float, default=5.0,
                        help="seconds per wait")

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    duplicate = sub.add_parser("duplicate", parents=[common])
    duplicate.add_argument("--path", required=True)
    duplicate.add_argument("--payload", required=True)
    sub.add_parser("malformed", parents=[common])
    mixed = sub.add_parser("garbage-and-exchange", parents=[common])
    mixed.add_argument("--path", required=True)
    mixed.add_argument("--payload", required=True)
    mixed.add_argument("--count", type=int, required=True)
    sub.add_parser("ping", parents=[common])
    return parser.parse_args(argv)


def main() -> None:
    args = parse(sys.argv[1:])
    handler = {"duplicate": do_duplicate, "malformed": do_malformed,
               "garbage-and-exchange": do_garbage_and_exchange,
               "ping": do_ping}[args.command]
    sys.exit(handler(args))


if __name__ == "__main__":
    main()
