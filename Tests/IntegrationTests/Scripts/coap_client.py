"""CoAP test peer built on an independent library (aiocoap 0.4.14, asyncio),
for the gateway's CoAP server (RFC 7252, RFC 7641 Observe, ThingsBoard CoAP
device API).

usage (common options: --host 127.0.0.1 --port PORT --timeout 20 [--verbose]):

  coap_client.py request --port P --path /api/v1/TOKEN/telemetry
        --method GET|POST|PUT|DELETE [--payload TEXT] [--content-format N] [--non]
      one request (CON, or NON with --non); prints "CODE PAYLOAD", e.g.
      "2.04 " or "4.01 bad token", and exits 0 whatever the response code.

  coap_client.py observe --port P --path /api/v1/TOKEN/attributes [--count N]
        [--linger SECONDS] [--deregister]
      GET with Observe=0; prints "REGISTERED CODE PAYLOAD OBSERVE" (OBSERVE is
      the response's Observe value or "none"), then "NOTIFY CODE PAYLOAD" for
      each of the next N notifications (default 1); then cancels the
      observation and exits 0.  If the server did not accept the observation
      (no Observe option in the first response) it prints "END NOT_OBSERVABLE";
      if the server ends it early (notification without Observe / error) it
      prints "END CANCELLED"; exit 0 in both cases.
      aiocoap only cancels *reactively* (RFC 7641 section 3.6: the client
      forgets the token and the server learns it from a Reset to a later
      notification).  --linger keeps the socket open that many seconds after
      the cancel so such notifications get their Reset instead of landing on
      a closed port.  With --deregister it then also sends a GET with
      Observe=1 and the observation's token (RFC 7641 section 3.6 active
      deregistration) and prints "DEREGISTERED CODE OBSERVE".

  coap_client.py rpc-flow --port P --token TOKEN
      observes /api/v1/TOKEN/rpc and prints "REGISTERED CODE"; POSTs
      {"result":"ok"} (Content-Format 50) to /api/v1/TOKEN/rpc/42 (with
      --await-rpc: to the id of the first RPC notification, printed as
      "RPC CODE PAYLOAD") and prints "RPC_REPLY CODE PAYLOAD"; POSTs
      {"method":"getTime","params":{}} (Content-Format 50) to the rpc
      resource and prints "CLIENT_RPC CODE PAYLOAD"; exits 0.

--path may carry a query ("/a/b?x=1&y=2"): every "&"-separated part becomes
one Uri-Query option, every "/"-separated segment one Uri-Path option.
Payloads are decoded as UTF-8 (invalid bytes replaced) and line breaks are
replaced by spaces so that every result is one line.  If --timeout expires
the script prints "TIMEOUT" and exits 3; a transport error (e.g. ICMP port
unreachable, retransmissions exhausted) prints "ERROR <what>" and exits 4.
"""
import argparse
import asyncio
import json
import logging
import sys
import warnings

import aiocoap
from aiocoap import Code, Message

EXIT_TIMEOUT = 3
EXIT_ERROR = 4


def say(line: str) -> None:
    print(line, flush=True)


def one_line(payload: bytes) -> str:
    text = payload.decode("utf-8", errors="replace")
    return text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def dotted(message: Message) -> str:
    return message.code.dotted  # e.g. "2.05"


def uri(args: argparse.Namespace, path: str) -> str:
    host = args.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    if not path.startswith("/"):
        path = "/" + path
    # aiocoap turns the path into Uri-Path and the query (split at "&") into
    # Uri-Query options; no Uri-Host is sent for an IP literal.
    return f"coap://{host}:{args.port}{path}"


def new_request(args, path: str, method: Code, payload: bytes = b"",
                content_format=None, non: bool = False, observe=None) -> Message:
    message = Message(code=method, uri=uri(args, path), payload=payload)
    if non:
        message.mtype = aiocoap.NON
    if content_format is not None:
        message.opt.content_format = content_format
    if observe is not None:
        message.opt.observe = observe
    return message


class Observation:
    """Starts an observation and queues every notification.

    The `async for` iterator of aiocoap's ClientObservation is lossy (a newer
    notification overwrites one that was not yet consumed), so notifications
    are collected via callbacks into an unbounded queue instead."""

    def __init__(self, context, message: Message):
        self.queue: asyncio.Queue = asyncio.Queue()
        self.request = context.request(message)
        with warnings.catch_warnings():
            # register_callback/-errback are marked deprecated in favour of
            # the lossy iterator; they still work in 0.4.14.
            warnings.simplefilter("ignore", DeprecationWarning)
            self.request.observation.register_callback(
                lambda response: self.queue.put_nowait(("notify", response)))
            self.request.observation.register_errback(
                lambda exc: self.queue.put_nowait(("end", exc)))

    async def first(self) -> Message:
        return await self.request.response

    async def next(self):
        return await self.queue.get()

    def cancel(self) -> None:
        if not self.request.observation.cancelled:
            self.request.observation.cancel()


async def do_request(context, args) -> int:
    method = Code[args.method.upper()]
    payload = args.payload.encode() if args.payload is not None else b""
    message = new_request(args, args.path, method, payload,
                          args.content_format, args.non)
    response = await context.request(message).response
    say(f"{dotted(response)} {one_line(response.payload)}")
    return 0


async def do_observe(context, args) -> int:
    observation = Observation(context, new_request(args, args.path, Code.GET, observe=0))
    first = await observation.first()
    value = first.opt.observe
    say(f"REGISTERED {dotted(first)} {one_line(first.payload)} "
        f"{'none' if value is None else value}")
    if value is None:
        say("END NOT_OBSERVABLE")
        return 0
    printed = 0
    while printed < args.count:
        kind, item = await observation.next()
        if kind == "notify":
            say(f"NOTIFY {dotted(item)} {one_line(item.payload)}")
            printed += 1
        else:
            # NotObservable / ObservationCancelled: the server ended it.
            say("END CANCELLED")
            return 0
    observation.cancel()
    if args.deregister:
        response = await deregister(context, args, args.path, first.token)
        value = response.opt.observe
        say(f"DEREGISTERED {dotted(response)} {'none' if value is None else value}")
    if args.linger > 0:
        await asyncio.sleep(args.linger)
    return 0


async def deregister(context, args, path: str, token: bytes) -> Message:
    """Active deregistration (RFC 7641 section 3.6): a GET with Observe=1 and
    the observation's token.  aiocoap has no API for it and always picks a
    fresh token, so the token managers are told to hand out the old token for
    this one request (relies on aiocoap 0.4.14 internals)."""
    from aiocoap.tokenmanager import TokenManager

    managers = [ri for ri in context.request_interfaces if isinstance(ri, TokenManager)]
    saved = [(manager, manager.next_token) for manager in managers]
    for manager in managers:
        manager.next_token = lambda: token
    try:
        message = new_request(args, path, Code.GET, observe=1)
        return await context.request(message, handle_blockwise=False).response
    finally:
        for manager, original in saved:
            manager.next_token = original


async def do_rpc_flow(context, args) -> int:
    base = f"/api/v1/{args.token}/rpc"
    observation = Observation(context, new_request(args, base, Code.GET, observe=0))
    first = await observation.first()
    say(f"REGISTERED {dotted(first)}")

    reply_id = "42"
    if args.await_rpc:
        # Wait for one server-side RPC notification and answer that id.
        kind, notification = await observation.next()
        if kind != "notify":
            say(f"END {notification}")
            return 1
        say(f"RPC {dotted(notification)} {one_line(notification.payload)}")
        reply_id = str(json.loads(notification.payload.decode())["id"])

    reply = new_request(args, f"{base}/{reply_id}", Code.POST, b'{"result":"ok"}',
                        content_format=50)
    response = await context.request(reply).response
    say(f"RPC_REPLY {dotted(response)} {one_line(response.payload)}")

    # The gateway answers a client-side RPC with the backend's answer, so
    # this waits until the test produced one (or the gateway gave up).
    call = new_request(args, base, Code.POST,
                       b'{"method":"getTime","params":{}}', content_format=50)
    response = await context.request(call).response
    say(f"CLIENT_RPC {dotted(response)} {one_line(response.payload)}")

    observation.cancel()
    return 0


async def run(args) -> int:
    context = await aiocoap.Context.create_client_context()
    try:
        handler = {"request": do_request, "observe": do_observe,
                   "rpc-flow": do_rpc_flow}[args.command]
        return await asyncio.wait_for(handler(context, args), args.timeout)
    except asyncio.TimeoutError:
        say("TIMEOUT")
        return EXIT_TIMEOUT
    except aiocoap.error.Error as exc:
        say(f"ERROR {type(exc).__name__}: {one_line(str(exc).encode())}")
        return EXIT_ERROR
    finally:
        try:
            await asyncio.wait_for(context.shutdown(), 5)
        except Exception:  # shutting down is best effort
            pass


def parse(argv) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--host", default="127.0.0.1")
    common.add_argument("--port", type=int, required=True)
    common.add_argument("--timeout", type=float, default=20.0,
                        help="overall bound in seconds (TIMEOUT, exit 3)")
    common.add_argument("--verbose", action="store_true",
                        help="aiocoap debug log on stderr")

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    request = sub.add_parser("request", parents=[common])
    request.add_argument("--path", required=True)
    request.add_argument("--method", required=True,
                         choices=["GET", "POST", "PUT", "DELETE",
                                  "get", "post", "put", "delete"])
    request.add_argument("--payload")
    request.add_argument("--content-format", type=int)
    request.add_argument("--non", action="store_true")

    observe = sub.add_parser("observe", parents=[common])
    observe.add_argument("--path", required=True)
    observe.add_argument("--count", type=int, default=1)
    observe.add_argument("--linger", type=float, default=0.0,
                         help="seconds to keep the socket after cancelling")
    observe.add_argument("--deregister", action="store_true",
                         help="also send GET Observe=1 (active deregistration)")

    rpc = sub.add_parser("rpc-flow", parents=[common])
    rpc.add_argument("--token", required=True)
    rpc.add_argument("--path", help="ignored")
    rpc.add_argument("--await-rpc", action="store_true",
                     help="first wait for a server-side RPC notification, print it as "
                          "'RPC CODE PAYLOAD' and reply to its id instead of 42")
    return parser.parse_args(argv)


def main() -> None:
    args = parse(sys.argv[1:])
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.ERROR,
                        stream=sys.stderr)
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
