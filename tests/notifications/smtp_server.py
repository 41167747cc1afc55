"""A small real SMTP server on loopback for tests: it speaks enough SMTP for smtplib."""

from __future__ import annotations

import base64
import socketserver
import threading
from email import message_from_bytes


class _Handler(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        server, envelope = self.server, {"from": None, "to": []}
        self.reply("220 test-smtp ready")
        while line := self.rfile.readline():
            verb, _, arg = line.decode().rstrip("\r\n").partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self.reply("250-test-smtp\r\n250-AUTH PLAIN\r\n250 8BITMIME")
            elif verb == "AUTH":
                creds = base64.b64decode(arg.split(" ", 1)[1]).split(b"\0")
                server.logins.append((creds[1].decode(), creds[2].decode()))
                ok = (creds[1].decode(), creds[2].decode()) == server.credentials
                self.reply("235 ok" if ok else "535 bad credentials")
            elif verb == "MAIL":
                if server.refuse:
                    self.reply("451 try again later")
                    continue
                envelope["from"] = arg.split(":", 1)[1].strip("<> ")
                self.reply("250 ok")
            elif verb == "RCPT":
                envelope["to"].append(arg.split(":", 1)[1].strip("<> "))
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go ahead")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                server.messages.append({**envelope, "message": message_from_bytes(data)})
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:  # HELO, RSET, NOOP
                self.reply("250 ok")


class SmtpServer(socketserver.ThreadingTCPServer):
    """Collects every message it receives in `messages`; `refuse` makes it answer 451."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, credentials=None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.messages, self.logins = [], []
        self.credentials, self.refuse = credentials, False
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()
