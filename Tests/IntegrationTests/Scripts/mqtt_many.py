"""Many concurrent MQTT 3.1.1 connections from one process, each publishing
one QoS 1 telemetry message and waiting for its PUBACK. Hand-made bytes from
the MQTT 3.1.1 specification (independent of the gateway's codec).

usage: mqtt_many.py HOST PORT TOKENS_FILE
prints "connected=N acked=N"
"""
import asyncio
import resource
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


async def session(host: str, port: int, index: int, token: str, all_connected: asyncio.Event,
                  counts: dict) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(packet(0x10, string(b"MQTT") + b"\x04\x82\x00\x3c" + string(f"c{index}".encode()) + string(token.encode())))
        await writer.drain()
        if await reader.readexactly(4) != b"\x20\x02\x00\x00":
            return
        counts["connected"] += 1
        if counts["connected"] == counts["total"]:
            all_connected.set()
        # Every connection is open at once before anyone publishes.
        await asyncio.wait_for(all_connected.wait(), 60)
        payload = f'{{"ts":1700000000000,"values":{{"index":{index}}}}}'.encode()
        writer.write(packet(0x32, string(b"v1/devices/me/telemetry") + struct.pack(">H", 1) + payload))
        await writer.drain()
        if await asyncio.wait_for(reader.readexactly(4), 60) == b"\x40\x02\x00\x01":
            counts["acked"] += 1
        writer.write(b"\xe0\x00")
        await writer.drain()
    finally:
        writer.close()


async def main() -> None:
    host, port, tokens_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tokens = [line.strip() for line in open(tokens_file) if line.strip()]
    counts = {"connected": 0, "acked": 0, "total": len(tokens)}
    all_connected = asyncio.Event()
    results = await asyncio.gather(
        *(session(host, port, i, t, all_connected, counts) for i, t in enumerate(tokens)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, Exception)]
    print(f"connected={counts['connected']} acked={counts['acked']} errors={len(errors)}")
    if errors:
        print(repr(errors[0]), file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
