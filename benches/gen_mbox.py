#!/usr/bin/env python3
"""Generate a realistic spam-folder mbox of a given size, deterministically.

    benches/gen_mbox.py --size 1G [--seed 42] -o spam.mbox

Each message: a `From SENDER DATE` separator, a 2-6 KB header block (3-6 Received hops,
Received-SPF from various writers, Authentication-Results, sometimes ARC and
X-Microsoft-Antispam blobs, DKIM-Signature, the usual From/To/Subject/Date/Message-ID/MIME
headers), then a 5-100 KB body: multipart text + HTML, some base64 attachments, some
message/rfc822 attachments carrying their own Received-SPF headers (which must not be
attributed to the outer message), and mboxrd-escaped `>From ` lines.

A pool of distinct messages is built first and then written in a seeded random order with a
fresh separator and Message-ID each time, so generating 4 GB takes seconds, not hours.

    benches/gen_mbox.py --size 1G --world DIR -o spam.mbox

With --world DIR (a world from benches/gen_zone.py: DIR/bench.zone and DIR/tuples.tsv), each
message's envelope (sender, client IP, HELO) is a tuple drawn from DIR/tuples.tsv and its
recorded SPF result is the one the zone gives: pass for the tuples' authorised addresses,
otherwise the `all` qualifier of the sender domain's record (after redirect=). gen_zone.py
draws unauthorised addresses from 198.19.0.0/16, which no record of the world covers. The
header From is the sender's domain (60%), another domain of the world (25%) or an unknown
one; bodies come from a pool, headers are written for each message. Without --world the
output is unchanged.
"""
import argparse
import base64
import os
import random
import re
import sys

POOL = 600

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
TLDS = ["com", "net", "org", "co.jp", "de", "fr", "co.uk", "info", "biz", "ru", "cn", "br"]
WORDS = (
    "offer price limited account verify your payment invoice shipping delivery package "
    "winner congratulations click here now free bonus crypto wallet security update notice "
    "meeting report attached document please review urgent order confirmation newsletter "
    "unsubscribe discount exclusive member reward points expire today final reminder"
).split()


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def word(self):
        return self.r.choice(WORDS)

    def words(self, n):
        return " ".join(self.word() for _ in range(n))

    def domain(self):
        labels = [self.r.choice(WORDS) + str(self.r.randrange(100)) for _ in range(self.r.randint(1, 2))]
        return ".".join(labels) + "." + self.r.choice(TLDS)

    def ip4(self):
        # Documentation and benchmarking ranges only.
        net = self.r.choice(["192.0.2", "198.51.100", "203.0.113", "198.18.%d" % self.r.randrange(256)])
        return "%s.%d" % (net, self.r.randrange(1, 255))

    def ip6(self):
        return "2001:db8:%x:%x::%x" % (self.r.randrange(65536), self.r.randrange(65536), self.r.randrange(1, 65536))

    def ip(self):
        return self.ip6() if self.r.random() < 0.15 else self.ip4()

    def date(self):
        return "%s, %d %s 2024 %02d:%02d:%02d +0000" % (
            self.r.choice(WEEKDAYS), self.r.randint(1, 28), self.r.choice(MONTHS),
            self.r.randrange(24), self.r.randrange(60), self.r.randrange(60),
        )

    def qid(self):
        return "".join(self.r.choice("0123456789ABCDEF") for _ in range(self.r.choice([10, 11, 12])))

    def b64(self, n):
        return base64.b64encode(self.r.randbytes(n)).decode()

    def folded(self, name, value, width=76):
        out, line = [], name + ": "
        for part in value.split(" "):
            if len(line) + len(part) + 1 > width and line.strip():
                out.append(line.rstrip())
                line = "\t"
            line += part + " "
        out.append(line.rstrip())
        return "\n".join(out) + "\n"

    def b64_folded(self, name, nbytes):
        blob = self.b64(nbytes)
        lines = [blob[i:i + 72] for i in range(0, len(blob), 72)]
        return name + ": " + "\n\t".join(lines) + "\n"

    # --- header pieces -------------------------------------------------------------------
    def received(self, helo, ip, by):
        return (
            "Received: from %s (%s [%s])\n\tby %s (Postfix) with ESMTPS id %s\n"
            "\tfor <victim@example.net>; %s (UTC)\n" % (helo, helo, ip, by, self.qid(), self.date())
        )

    def received_spf(self, result, ip, sender, helo, receiver):
        dom = sender.split("@")[-1]
        style = self.r.randrange(6)
        if style == 0:  # pypolicyd-spf
            return self.folded("Received-SPF", "%s (%s: %s) client-ip=%s; helo=%s; envelope-from=%s; receiver=<UNKNOWN>" % (
                result.capitalize(), receiver, "domain of %s does not designate %s as permitted sender" % (sender, ip), ip, helo, sender))
        if style == 1:  # Microsoft 365
            if result in ("pass", "fail"):
                return self.folded("Received-SPF", "%s (protection.outlook.com: domain of %s designates %s as permitted sender) receiver=protection.outlook.com; client-ip=%s; helo=%s; pr=C" % (
                    result.capitalize(), dom, ip, ip, helo))
            return self.folded("Received-SPF", "%s (protection.outlook.com: domain of %s does not designate %s as permitted sender)" % (
                "SoftFail" if result == "softfail" else result.capitalize(), dom, ip))
        if style == 2:  # Google
            return self.folded("Received-SPF", "%s (google.com: domain of %s designates %s as permitted sender) client-ip=%s;" % (
                result, sender, ip, ip))
        if style == 3:  # Mail::SPF
            return self.folded("Received-SPF", "%s (%s: Sender is not authorized to use '%s' in 'mfrom' identity) receiver=%s; identity=mailfrom; envelope-from=\"%s\"; helo=%s; client-ip=%s" % (
                result, dom, sender, receiver, sender, helo, ip))
        if style == 4:  # libspf2 / Exim
            return self.folded("Received-SPF", "%s (%s: domain of %s does not designate %s as permitted sender) client-ip=%s; envelope-from=%s; helo=%s;" % (
                result, receiver, sender, ip, ip, sender, helo))
        return self.folded("Received-SPF", "%s identity=mailfrom; client-ip=%s; helo=%s; envelope-from=<%s>; receiver=%s;" % (
            result, ip, helo, sender, receiver))

    def auth_results(self, result, ip, sender, helo, receiver):
        return self.folded("Authentication-Results", "%s; spf=%s (sender IP is %s) smtp.mailfrom=%s smtp.helo=%s; dkim=%s header.d=%s header.s=s%d header.b=%s; dmarc=%s header.from=%s" % (
            receiver, result, ip, sender, helo, self.r.choice(["pass", "fail", "none"]),
            sender.split("@")[-1], self.r.randrange(9), self.b64(6), self.r.choice(["pass", "fail", "none"]),
            sender.split("@")[-1]))

    def header(self, placeholder, envelope=None):
        r = self.r
        if envelope is None:
            sender_dom = self.domain()
            sender = "%s@%s" % (r.choice(["bounce", "news", "info", "noreply", "mailer", "error"]), sender_dom)
            from_dom = sender_dom if r.random() < 0.6 else self.domain()
            receiver = "mx%d.example.net" % r.randint(1, 3)
            result = r.choice(["pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", "softfail", "fail"])
            ip = self.ip()
            helo = "mail%d.%s" % (r.randrange(50), sender_dom)
        else:  # --world: (sender, ip, helo, recorded result, header From domain)
            sender, ip, helo, result, from_dom = envelope
            sender_dom = sender.split("@")[-1]
            receiver = "mx%d.example.net" % r.randint(1, 3)
        h = []
        h.append("Return-Path: <%s>\n" % sender)
        h.append("Delivered-To: victim@example.net\n")
        h.append(self.received("localhost", "127.0.0.1", receiver))
        if r.random() < 0.8:
            h.append(self.received_spf(result, ip, sender, helo, receiver))
        if r.random() < 0.6:
            h.append(self.auth_results(result, ip, sender, helo, receiver))
        h.append(self.received(helo, ip, receiver))
        for _ in range(r.randint(1, 4)):
            hop = self.domain()
            h.append(self.received("relay.%s" % hop, self.ip(), "mail.%s" % hop))
        if r.random() < 0.3:
            h.append(self.folded("ARC-Seal", "i=1; a=rsa-sha256; t=17000%05d; cv=none; d=%s; s=arc; b=%s" % (r.randrange(99999), self.domain(), self.b64(256))))
            h.append(self.folded("ARC-Message-Signature", "i=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=arc; h=from:to:subject:date; bh=%s; b=%s" % (self.domain(), self.b64(32), self.b64(256))))
            h.append(self.folded("ARC-Authentication-Results", "i=1; %s; spf=%s smtp.mailfrom=%s; dkim=pass" % (self.domain(), r.choice(["pass", "fail"]), sender)))
        h.append(self.folded("DKIM-Signature", "v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=sel%d; h=from:to:subject:date:message-id:mime-version; bh=%s; b=%s" % (
            sender_dom, r.randrange(9), self.b64(32), self.b64(256))))
        h.append("From: \"%s\" <%s@%s>\n" % (self.words(2).title(), r.choice(["news", "support", "service"]), from_dom))
        h.append("To: victim@example.net\n")
        h.append("Subject: %s\n" % self.words(r.randint(3, 10)).capitalize())
        h.append("Date: %s\n" % self.date())
        h.append("Message-ID: <" + placeholder + "@%s>\n" % sender_dom)
        h.append("MIME-Version: 1.0\n")
        h.append("X-Mailer: %s %d.%d\n" % (r.choice(["PHPMailer", "Mailchimp", "SendGrid", "Microsoft Outlook"]), r.randrange(9), r.randrange(9)))
        h.append("List-Unsubscribe: <https://%s/unsub?u=%s>\n" % (from_dom, self.b64(12)))
        target = r.randint(2000, 6000)
        size = sum(len(x) for x in h)
        while size < target - 200:
            name = r.choice(["X-Microsoft-Antispam-Message-Info", "X-MS-Exchange-AntiSpam-MessageData-0",
                             "X-Forefront-Antispam-Report", "X-Proofpoint-Spam-Details", "X-Google-Smtp-Source"])
            add = self.b64_folded(name, min(900, max(60, (target - size) * 3 // 4)))
            h.append(add)
            size += len(add)
        return "".join(h)

    # --- bodies --------------------------------------------------------------------------
    def text_lines(self, nbytes):
        out, size = [], 0
        while size < nbytes:
            line = self.words(self.r.randint(5, 14))
            if self.r.random() < 0.01:
                line = ">From the archive: " + line  # mboxrd-escaped From line
            out.append(line)
            size += len(line) + 1
            if self.r.random() < 0.1:
                out.append("")
        return "\n".join(out) + "\n"

    def body(self, boundary):
        r = self.r
        # Text and HTML make up about `total`; an attachment adds a quarter more.
        total = r.randint(5_500, 80_000)
        parts = []
        text = self.text_lines(total * 45 // 100)
        parts.append("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + text)
        parts.append("Content-Type: text/html; charset=utf-8\n\n<html><body><p>" +
                     self.text_lines(total * 45 // 100).replace("\n\n", "</p><p>") + "</p></body></html>\n")
        kind = r.random()
        if kind < 0.35:
            blob = self.b64(total // 4)
            lines = "\n".join(blob[i:i + 76] for i in range(0, len(blob), 76))
            parts.append("Content-Type: application/pdf; name=\"invoice.pdf\"\nContent-Transfer-Encoding: base64\n"
                         "Content-Disposition: attachment; filename=\"invoice.pdf\"\n\n" + lines + "\n")
        elif kind < 0.5:
            inner_ip = self.ip()
            inner = ("Received-SPF: pass (inner.example: domain of a@inner.example designates %s as permitted sender) client-ip=%s;\n"
                     "Authentication-Results: inner.example; spf=pass smtp.mailfrom=a@inner.example\n"
                     "Received: from inner.example (inner.example [%s]) by mx.inner.example; %s\n"
                     "From: someone@inner.example\nSubject: forwarded\n\n%s") % (
                inner_ip, inner_ip, inner_ip, self.date(), self.text_lines(total // 5))
            parts.append("Content-Type: message/rfc822\nContent-Disposition: attachment\n\n" + inner)
        body = "This is a multi-part message in MIME format.\n\n"
        for p in parts:
            body += "--%s\n%s\n" % (boundary, p)
        body += "--%s--\n" % boundary
        return body

    def message(self, placeholder):
        boundary = "=_b%s" % self.b64(9).replace("+", "x").replace("/", "y")
        header = self.header(placeholder)
        header += "Content-Type: multipart/mixed; boundary=\"%s\"\n" % boundary
        return header + "\n" + self.body(boundary) + "\n"

    def world_message(self, world, message_id):
        """A message whose envelope and recorded verdict come from a gen_zone.py world."""
        if not world.bodies:
            for _ in range(POOL):
                boundary = "=_b%s" % self.b64(9).replace("+", "x").replace("/", "y")
                world.bodies.append((boundary, self.body(boundary)))
        boundary, body = self.r.choice(world.bodies)
        header = self.header(message_id, world.envelope(self.r, self))
        header += "Content-Type: multipart/mixed; boundary=\"%s\"\n" % boundary
        return header + "\n" + body + "\n"

    def separator(self):
        r = self.r
        sender = r.choice(["MAILER-DAEMON", "-", "bounce@%s" % self.domain(), "news@%s" % self.domain()])
        return "From %s %s %s %2d %02d:%02d:%02d 2024\n" % (
            sender, r.choice(WEEKDAYS), r.choice(MONTHS), r.randint(1, 28),
            r.randrange(24), r.randrange(60), r.randrange(60))


class World:
    """The domains, records and (ip, sender, helo) tuples of a benches/gen_zone.py world."""

    def __init__(self, directory):
        self.records = {}
        txt = re.compile(r'^(\S+)\.\s+(?:\d+\s+)?IN\s+TXT\s+"(.*)"\s*$')
        with open(os.path.join(directory, "bench.zone")) as f:
            for line in f:
                m = txt.match(line)
                if m and m.group(2).startswith("v=spf1"):
                    self.records[m.group(1).lower()] = m.group(2)
        self.tuples = []
        with open(os.path.join(directory, "tuples.tsv")) as f:
            for line in f:
                ip, sender, helo = line.rstrip("\n").split("\t")
                self.tuples.append((ip, sender, helo))
        self.domains = sorted({s.split("@")[-1] for _, s, _ in self.tuples})
        self.bodies = []

    def default_result(self, domain, depth=0):
        """What the record of `domain` says to an address it does not list."""
        record = self.records.get(domain, "")
        for term in record.split()[1:]:
            if term.startswith("redirect=") and depth < 10:
                return self.default_result(term[len("redirect="):].lower(), depth + 1)
        for term in record.split()[1:]:
            if term.lstrip("+-~?") == "all":
                return {"-": "fail", "~": "softfail", "?": "neutral"}.get(term[0], "pass")
        return "neutral" if record else "none"

    def envelope(self, r, gen):
        ip, sender, helo = r.choice(self.tuples)
        domain = sender.split("@")[-1]
        result = self.default_result(domain) if ip.startswith("198.19.") else "pass"
        x = r.random()
        from_dom = domain if x < 0.6 else r.choice(self.domains) if x < 0.85 else gen.domain()
        return (sender, ip, helo, result, from_dom)


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().rstrip("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", required=True, help="approximate output size, e.g. 100M, 1G, 4G")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--world", metavar="DIR", help="draw envelopes and verdicts from a benches/gen_zone.py world")
    args = ap.parse_args()
    size = parse_size(args.size)
    g = Gen(args.seed)
    if args.world:
        write_world(args, size, g, World(args.world))
        return
    placeholder = "@@ID@@"
    pool = []
    for _ in range(POOL):
        text = g.message(placeholder).encode()
        pre, post = text.split(placeholder.encode(), 1)
        pool.append((pre, post))
    written, n = 0, 0
    with open(args.output, "wb", buffering=8 << 20) as out:
        while written < size:
            pre, post = pool[g.r.randrange(POOL)]
            sep = g.separator().encode()
            mid = b"%d.%x" % (n, g.r.getrandbits(32))
            out.write(sep)
            out.write(pre)
            out.write(mid)
            out.write(post)
            written += len(sep) + len(pre) + len(mid) + len(post)
            n += 1
    print("%s: %d messages, %d bytes" % (args.output, n, written), file=sys.stderr)


def write_world(args, size, g, world):
    written, n = 0, 0
    with open(args.output, "wb", buffering=8 << 20) as out:
        while written < size:
            sep = g.separator().encode()
            text = g.world_message(world, "%d.%x" % (n, g.r.getrandbits(32))).encode()
            out.write(sep)
            out.write(text)
            written += len(sep) + len(text)
            n += 1
    print("%s: %d messages, %d bytes (world %s: %d domains, %d tuples)" % (
        args.output, n, written, args.world, len(world.domains), len(world.tuples)), file=sys.stderr)


if __name__ == "__main__":
    main()
