#!/usr/bin/python3
"""SMTP servers, good and broken, for tests/test_smtp.py (scio-smtp).

    smtp_servers.py MODE PORT [ADDR ...]

Listens on PORT on each ADDR (default: the six server addresses of
tests/netlab.py), one socket per address, IPv6 ones with IPV6_V6ONLY, and
prints READY on stdout once every socket listens.  Runs until killed.

MODE is what every connection gets:

  aiosmtpd         a real SMTP server (aiosmtpd's SMTP protocol, Sink
                   handler) that answers EHLO, QUIT and the rest
  greet554         greeting "554 go away"; then 221 to QUIT, 503 to others
  close-mid-reply  "220-first line" (a multi-line greeting), then closes
  endless          "220 " and then 'x' without end, never a line ending
  slow             accepts and never sends anything (read timeouts)
  garbage          "hello there" (not a reply line), then holds
  drip             every reply one byte each DRIP_S seconds (the greeting
                   alone takes about a minute): never idle for long, never
                   done
  pause            every reply whole, but PAUSE_S seconds late: each reply
                   well within a timeout, the whole dialogue not
"""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import netlab  # noqa: E402

HOLD = 60.0  # longest a broken-server connection is kept open
DRIP_S = 0.5
PAUSE_S = 0.8
DRIP_GREETING = b"220 drip.test ESMTP " + b"." * 100 + b"\r\n"


async def _hold(reader):
    """Wait until the client closes (or HOLD seconds pass)."""
    try:
        while await asyncio.wait_for(reader.read(4096), HOLD):
            pass
    except (asyncio.TimeoutError, ConnectionError):
        pass


async def greet554(reader, writer):
    await _reply_each_line(reader, writer, _send_now, b"554 go away\r\n",
                           b"503 5.5.1 no: go away\r\n")


async def close_mid_reply(reader, writer):
    writer.write(b"220-first line\r\n")
    await writer.drain()


async def endless(reader, writer):
    writer.write(b"220 ")
    chunk = b"x" * 65536
    for _ in range(4096):  # 256 MiB at most, in case nobody hangs up
        writer.write(chunk)
        await writer.drain()


async def slow(reader, writer):
    await _hold(reader)


async def garbage(reader, writer):
    writer.write(b"hello there\r\n")
    await writer.drain()
    await _hold(reader)


async def _send_now(writer, data):
    writer.write(data)
    await writer.drain()


async def _reply_each_line(reader, writer, send, greeting, reply=b"250 ok\r\n"):
    """Greet, then answer each line (221 to QUIT, then close; reply to
    anything else), via send."""
    await send(writer, greeting)
    while True:
        try:
            line = await asyncio.wait_for(reader.readline(), HOLD)
        except (asyncio.TimeoutError, ConnectionError):
            return
        if not line:
            return
        if line.strip().upper() == b"QUIT":
            await send(writer, b"221 bye\r\n")
            return
        await send(writer, reply)


async def _send_dripping(writer, data):
    for i in range(len(data)):
        writer.write(data[i:i + 1])
        await writer.drain()
        await asyncio.sleep(DRIP_S)


async def drip(reader, writer):
    await _reply_each_line(reader, writer, _send_dripping, DRIP_GREETING)


async def _send_late(writer, data):
    await asyncio.sleep(PAUSE_S)
    writer.write(data)
    await writer.drain()


async def pause(reader, writer):
    await _reply_each_line(reader, writer, _send_late,
                           b"220 mx.test ESMTP\r\n")


RAW_MODES = {
    "greet554": greet554,
    "close-mid-reply": close_mid_reply,
    "endless": endless,
    "slow": slow,
    "garbage": garbage,
    "drip": drip,
    "pause": pause,
}


def raw_server(handler):
    async def serve(reader, writer):
        try:
            await handler(reader, writer)
        except ConnectionError:
            pass
        finally:
            writer.close()
    return serve


async def main(argv):
    if len(argv) < 2 or argv[0] not in (*RAW_MODES, "aiosmtpd"):
        sys.exit(f"usage: smtp_servers.py {{aiosmtpd|{'|'.join(RAW_MODES)}}} "
                 "PORT [ADDR ...]")
    mode, port = argv[0], int(argv[1])
    addrs = argv[2:] or netlab.SRV_ALL
    loop = asyncio.get_running_loop()
    if mode == "aiosmtpd":
        from aiosmtpd.handlers import Sink
        from aiosmtpd.smtp import SMTP
        handler = Sink()

        def factory():
            return SMTP(handler, hostname="mx.test",
                        ident="scio-test ESMTP aiosmtpd", loop=loop)
        servers = [await loop.create_server(factory, host=a, port=port)
                   for a in addrs]
    else:
        serve = raw_server(RAW_MODES[mode])
        servers = [await asyncio.start_server(serve, host=a, port=port)
                   for a in addrs]
    print("READY", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1:]))
    except KeyboardInterrupt:
        pass
