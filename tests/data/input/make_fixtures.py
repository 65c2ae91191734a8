#!/usr/bin/env python3
"""Write the synthetic input fixtures (deterministic; run from anywhere).

Text fixtures are written as they are; binary ones (gzip, NUL bytes, junk) too, so that the
repository holds exactly what this script makes. Re-run after changing it and commit the result.
"""
import gzip
import os
import random
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))


def write(rel, data, mode=0o644):
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def gz(data):
    if isinstance(data, str):
        data = data.encode()
    return gzip.compress(data, mtime=0)


def message(n, received_spf="pass", extra="", body="Hello.\n"):
    return (
        f"Return-Path: <bounce{n}@sender{n}.example>\n"
        f"Received-SPF: {received_spf} (mx.example.net: domain of bounce{n}@sender{n}.example "
        f"designates 192.0.2.{n} as permitted sender) client-ip=192.0.2.{n}; "
        f"envelope-from=bounce{n}@sender{n}.example; helo=mail{n}.sender{n}.example;\n"
        f"Received: from mail{n}.sender{n}.example (mail{n}.sender{n}.example [192.0.2.{n}])\n"
        f"\tby mx.example.net (Postfix) with ESMTP id ABC{n}\n"
        f"\tfor <user@example.net>; Sat,  1 Jan 2022 10:00:0{n % 10} +0000 (UTC)\n"
        f"From: News {n} <news@sender{n}.example>\n"
        f"Message-ID: <msg{n}@sender{n}.example>\n"
        f"Date: Sat, 1 Jan 2022 10:00:0{n % 10} +0000\n"
        f"Subject: message {n}\n"
        f"{extra}"
        f"\n"
        f"{body}"
    )


def main():
    for sub in ("mbox", "eml", "maildir", "tree", "malformed"):
        shutil.rmtree(os.path.join(HERE, sub), ignore_errors=True)

    # --- mbox: separator variants and body lines that must not split -----------------
    body_with_from = (
        "Hello.\n"
        ">From the archive: escaped (mboxrd/mboxo)\n"
        "From the desk of the president: no date, so not a separator\n"
        "From here on, call me at 10:30 in 2022\n"
        "\n"
        "Received-SPF: fail (this is body text, not a header)\n"
    )
    forwarded = (
        "Content-Type: multipart/mixed; boundary=b\n",
        "--b\nContent-Type: message/rfc822\n\n"
        "Received-SPF: pass (inner.example: inner verdict) client-ip=198.51.100.1;\n"
        "From: inner@inner.example\n\nInner body.\n--b--\n",
    )
    lf = (
        "From MAILER-DAEMON Fri Jul  8 12:08:34 2011\n"
        + message(1, body=body_with_from)
        + "\n"
        + "From - Mon Jan  1 00:00:00 2001\n"
        + message(2, "softfail", extra=forwarded[0], body=forwarded[1])
        + "\n"
        + "From bounce3@sender3.example Sat, 1 Jan 2022 10:00:03 +0000\n"
        + message(3, "Fail")
    )
    write("mbox/lf.mbox", lf)
    write("mbox/crlf.mbox", lf.replace("\n", "\r\n"))
    # Two gzip members, as `cat a.gz b.gz` gives.
    half = lf.index("From - Mon")
    write("mbox/two-members.mbox.gz", gz(lf[:half]) + gz(lf[half:]))

    # --- single messages ----------------------------------------------------------------
    write("eml/single.eml", message(4))
    write("eml/headers-only.eml", message(5).split("\n\n")[0] + "\n")

    # --- Maildir++ tree ------------------------------------------------------------------
    md = "maildir/Maildir/"
    write(md + "cur/1700000001.M1P1.host:2,S", message(11))
    write(md + "cur/1700000002.M2P1.host:2,RS", message(12))
    write(md + "new/1700000003.M3P1.host", message(13))
    write(md + "tmp/1700000004.M4P1.host", message(14))  # being delivered: never read
    write(md + "dovecot-uidlist", "3 V1700000000 N4\n")
    write(md + "subscriptions", "Junk\nINBOX.Spam\n")
    write(md + ".Junk/maildirfolder", "")
    write(md + ".Junk/cur/1700000005.M5P1.host:2,", message(15))
    write(md + ".Junk/new/1700000006.M6P1.host", message(16))
    write(md + ".Junk/tmp/1700000007.M7P1.host", message(17))
    write(md + ".Junk/cur/.hidden-editor-file", "not a message\n")
    # Dovecot's zlib plugin stores Maildir files gzip-compressed.
    write(md + ".INBOX.Spam/cur/1700000008.M8P1.host:2,S", gz(message(18)))
    # Some delivery agents keep the mbox From_ line in Maildir files.
    write(
        md + ".INBOX.Spam/new/1700000009.M9P1.host",
        "From bounce19@sender19.example Sat Jan  1 10:00:09 2022\n" + message(19),
    )
    write(md + ".INBOX.Spam/tmp/1700000010.M10P1.host", message(20))

    # --- a directory tree of mixed files ----------------------------------------------
    write("tree/a.eml", message(21))
    write(
        "tree/b/inbox.mbox",
        "From x@y.example Sat Jan  1 10:00:00 2022\n" + message(22) + "\n"
        "From x@y.example Sat Jan  1 10:00:01 2022\n" + message(23),
    )
    write("tree/b/c.eml.gz", gz(message(24)))
    write("tree/notes.txt", "Just some notes.\nNothing to see here.\n")
    rng = random.Random(7)
    write("tree/junk.bin", bytes(rng.randrange(256) for _ in range(3000)) + b"\0\0")
    write("tree/z-noext", message(25))

    # --- malformed input ---------------------------------------------------------------
    trunc = (
        "From a@b.example Sat Jan  1 10:00:00 2022\n" + message(31) + "\n"
        "From a@b.example Sat Jan  1 10:00:01 2022\n" + message(32)
    )
    write("malformed/truncated.mbox", trunc[: trunc.rindex("Subject:") + 4])
    write(
        "malformed/nul-bytes.eml",
        message(33).replace("Subject: message 33", "Subject: mess\0age\0 33"),
    )
    write(
        "malformed/invalid-utf8.eml",
        message(34).encode().replace(b"Subject: message 34", b"Subject: \xff\xfe\xc3(\x80 34"),
    )
    write(
        "malformed/huge-header-line.eml.gz",
        gz(message(35, extra="X-Huge: " + "x" * 1_100_000 + "\n")),
    )
    many = "".join(f"X-Header-{i}: value {i}\n" for i in range(10_000))
    write("malformed/ten-thousand-headers.eml.gz", gz(message(36, extra=many)))
    write("malformed/binary-junk.bin", bytes(rng.randrange(256) for _ in range(5000)))
    write("malformed/empty.eml", b"")
    write(
        "malformed/junk-between.mbox",
        "From a@b.example Sat Jan  1 10:00:00 2022\n" + message(37) + "\n"
        "From a@b.example Sat Jan  1 10:00:01 2022\n"
        "This is not a header, just text after a separator.\n\nMore text.\n"
        "From a@b.example Sat Jan  1 10:00:02 2022\n"
        "\n"
        "An empty header block.\n"
        "From a@b.example Sat Jan  1 10:00:03 2022\n" + message(38),
    )
    # A header line of 3 MB without any line end: longer than a read chunk.
    write(
        "malformed/endless-line.mbox.gz",
        gz("From a@b.example Sat Jan  1 10:00:00 2022\nX-Endless: " + "y" * 3_000_000),
    )


if __name__ == "__main__":
    main()
