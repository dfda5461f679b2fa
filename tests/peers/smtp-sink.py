#!/usr/bin/env python3
"""A real SMTP server for the tests (PyPI `aiosmtpd`) that accepts every
message and appends it as one JSON line (from, to, subject, body) to the file
named by SMTP_SINK_FILE. Prints `READY <port>`; exits when stdin closes."""
import email, json, os, socket, sys

from aiosmtpd.controller import Controller

out = os.environ["SMTP_SINK_FILE"]


class Sink:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content)
        body = msg.get_payload(decode=True)
        record = {
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "subject": msg.get("Subject", ""),
            "body": body.decode("utf-8", "replace") if isinstance(body, bytes) else str(msg.get_payload()),
        }
        with open(out, "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK"


s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
controller = Controller(Sink(), hostname="127.0.0.1", port=port)
controller.start()
print(f"READY {port}", flush=True)
sys.stdin.read()
controller.stop()
