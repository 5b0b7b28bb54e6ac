#!/usr/bin/env python3
"""Writes the messages of crates/pn/tests/charsets_dovecot.rs into this directory.

Run it from anywhere: `python3 generate.py` (Python 3 only, no packages). Each message is
delivered to Debian's Dovecot 2.3.19 and to `pn deliver` with the same Lua push script, and the
decoded Subject, From display name and snippet must agree (see the test). Three groups:
multi-byte charsets (`cs-*`), RFC 2231 parameters (`rfc2231-*`), malformed MIME (`mime-*`,
`mime-random-*` from a seeded generator).
"""
import base64
import os
import quopri
import random

HERE = os.path.dirname(os.path.abspath(__file__))

TEXTS = {
    "ja": "日本語のメール本文です。テストの文章、漢字とかな。",
    "zh": "这是一封中文邮件的正文，用于测试。",
    "tw": "這是一封中文郵件的內容，用於測試。",
    "ko": "한국어 메일 본문입니다. 테스트 문장.",
    "th": "ภาษาไทยในจดหมาย",
    "ru": "Привет, это письмо.",
}

# (file name part, MIME charset name, Python codec, text)
CHARSETS = [
    ("shift_jis", "Shift_JIS", "shift_jis", "ja"),
    ("sjis", "SJIS", "shift_jis", "ja"),
    ("euc-jp", "EUC-JP", "euc_jp", "ja"),
    ("iso-2022-jp", "ISO-2022-JP", "iso2022_jp", "ja"),
    ("gb2312", "GB2312", "gb2312", "zh"),
    ("gbk", "GBK", "gbk", "zh"),
    ("gb18030", "GB18030", "gb18030", "zh"),
    ("big5", "Big5", "big5", "tw"),
    ("euc-kr", "EUC-KR", "euc_kr", "ko"),
    # single-byte, but decoded by encoding_rs too (mail-parser has no table for them)
    ("windows-874", "windows-874", "cp874", "th"),
    ("ibm866", "IBM866", "cp866", "ru"),
    # (glibc's name: Dovecot reads the WHATWG name x-mac-cyrillic as UTF-8)
    ("mac-cyrillic", "MAC-CYRILLIC", "mac_cyrillic", "ru"),
]


def write(name, data):
    with open(os.path.join(HERE, name + ".eml"), "wb") as f:
        f.write(data)


def encoded_word(cs, raw, enc="B"):
    if enc == "B":
        return b"=?" + cs.encode() + b"?B?" + base64.b64encode(raw) + b"?="
    q = quopri.encodestring(raw, header=True).replace(b"=\n", b"")
    return b"=?" + cs.encode() + b"?Q?" + q + b"?="


def message(subject, from_, headers, body):
    return (
        b"From: " + from_ + b"\nTo: alice@example.com\nSubject: " + subject
        + b"\nMIME-Version: 1.0\n" + headers + b"\n" + body
    )


def charsets():
    for part, cs, codec, lang in CHARSETS:
        text = TEXTS[lang]
        raw = text.encode(codec)
        subj = encoded_word(cs, text[:12].encode(codec))
        frm = encoded_word(cs, text[:4].encode(codec), "Q") + b" <sender@example.org>"
        ct = b"Content-Type: text/plain; charset=" + cs.encode() + b"\n"
        write("cs-%s-base64" % part, message(
            subj, frm, ct + b"Content-Transfer-Encoding: base64\n", base64.encodebytes(raw * 3)))
        write("cs-%s-8bit" % part, message(
            subj, frm, ct + b"Content-Transfer-Encoding: 8bit\n", (raw + b"\n") * 3))
        write("cs-%s-qp" % part, message(
            subj, frm, ct + b"Content-Transfer-Encoding: quoted-printable\n",
            quopri.encodestring((raw + b"\n") * 2)))
        html = b"<html><body><p>" + raw + b"</p><p>&lt;&amp;&gt;</p></body></html>\n"
        write("cs-%s-html" % part, message(
            subj, frm, b"Content-Type: text/html; charset=" + cs.encode()
            + b"\nContent-Transfer-Encoding: base64\n", base64.encodebytes(html)))
    # glibc-specific mappings: Shift_JIS 0x5C / 0x7E (JIS X 0201 Roman), the JIS X 0208
    # characters where glibc and WHATWG differ, the same in EUC-JP / GB2312 / Big5 / GB18030
    sj = b"C:\x5cpath\x5cfile \x7ehome \x81\x5f \x81\x60 \x81\x61 \x81\x7c \x81\x91 \x81\x92 \x81\xca"
    write("cs-shift_jis-glibc", message(
        encoded_word("Shift_JIS", sj), encoded_word("shift_jis", b"\x5c\x7e") + b" <a@example.org>",
        b"Content-Type: text/plain; charset=shift_jis\n", sj + b"\n"))
    ej = b"back\x5cslash \x7e \xa1\xc1 \xa1\xc2 \xa1\xdd \xa1\xf1 \xa1\xf2 \xa2\xcc"
    write("cs-euc-jp-glibc", message(
        encoded_word("euc-jp", ej), b"x@example.org",
        b"Content-Type: text/plain; charset=euc-jp\n", ej + b"\n"))
    jis = b"\x1b$B\x21\x41\x21\x42\x21\x5d\x1b(B a\x5c\x7e \x1b(J\x5c\x7e\x1b(B"
    write("cs-iso-2022-jp-glibc", message(
        encoded_word("iso-2022-jp", jis), b"x@example.org",
        b"Content-Type: text/plain; charset=iso-2022-jp\nContent-Transfer-Encoding: 7bit\n",
        jis + b"\n"))
    write("cs-gb2312-glibc", message(
        encoded_word("gb2312", b"\xa1\xa4\xa1\xaa"), b"x@example.org",
        b"Content-Type: text/plain; charset=gb2312\n", b"\xd6\xd0\xa1\xa4\xa1\xaa\xce\xc4\n"))
    write("cs-gb18030-glibc", message(
        encoded_word("gb18030", b"\xfe\x51\xfe\x52"), b"x@example.org",
        b"Content-Type: text/plain; charset=gb18030\n",
        b"\xfe\x51\xfe\x52\xfe\x53\xfe\x6c\xfe\x76\xfe\x91 \x81\x30\x81\x30\n"))
    write("cs-windows-874-invalid", message(
        encoded_word("windows-874", b"\xa1\x81\x82"), b"x@example.org",
        b"Content-Type: text/plain; charset=windows-874\n", b"\xa1\x81\x82 \x85 \xff\n"))
    write("cs-mac-cyrillic-glibc", message(
        encoded_word("mac-cyrillic", b"\xff\x80"), b"x@example.org",
        b"Content-Type: text/plain; charset=maccyrillic\n", b"\xff\x80\xa2\n"))
    write("cs-big5-glibc", message(
        encoded_word("big5", b"\xa4\xa4\xf9\xfe"), b"x@example.org",
        b"Content-Type: text/plain; charset=big5\n", b"\xa4\xa4\xa4\xe5 \xf9\xfe\n"))
    # invalid and truncated sequences
    bad = b"ok \x81\x20 x\xff y\x87 z"
    write("cs-shift_jis-invalid", message(
        encoded_word("shift_jis", b"ab\x82"), encoded_word("shift_jis", b"\x81\x20q") + b" <a@b.c>",
        b"Content-Type: text/plain; charset=shift_jis\n", bad + b"\n" + b"end \x82"))
    # unmapped pairs whose second byte is a character of its own: glibc skips only the first
    unmapped = b"\x81\xb0\x9e\xc8\xe9 a\xeb\xc3 b\x85\xa0c"
    write("cs-shift_jis-invalid-unmapped", message(
        encoded_word("shift_jis", unmapped), b"x@example.org",
        b"Content-Type: text/plain; charset=shift_jis\n", unmapped + b"\n"))
    write("cs-euc-kr-invalid", message(
        encoded_word("euc-kr", b"\xc7\xd1\xc7"), b"x@example.org",
        b"Content-Type: text/plain; charset=euc-kr\n", b"\xc7\xd1 \xc7\x20 \xff\xfe end\n"))
    # a character split across a long base64 line run (chunk boundaries inside the decoder)
    long = ("テスト" * 400).encode("euc_jp")
    write("cs-euc-jp-long", message(
        b"long", b"x@example.org",
        b"Content-Type: text/plain; charset=euc-jp\nContent-Transfer-Encoding: base64\n",
        base64.encodebytes(b" " * 511 + long)))
    # a multi-byte part inside multipart/alternative, charset name in lower case and quoted
    write("cs-alternative-iso-2022-jp", message(
        b"alt", b"x@example.org",
        b"Content-Type: multipart/alternative; boundary=\"alt\"\n",
        b"--alt\nContent-Type: text/plain; charset=\"iso-2022-jp\"\n\n"
        + TEXTS["ja"].encode("iso2022_jp") + b"\n--alt\nContent-Type: text/html\n\n<p>html</p>\n--alt--\n"))


def rfc2231():
    latin9 = "Prix: 5 \u20ac, caf\u00e9 \u0153uvre".encode("iso8859_15")
    cases = {
        "continuation": b'charset*0="iso-8859"; charset*1="-15"',
        "continuation-unquoted": b"charset*0=iso-8859;\n charset*1=-15",
        "continuation-unordered": b'charset*1="-15"; charset*0="iso-8859"',
        "extended": b"charset*=us-ascii''iso-8859-15",
        "extended-lang": b"charset*=us-ascii'en'iso%2D8859%2D15",
        "extended-no-charset": b"charset*=''iso-8859-15",
        "extended-continuation": b"charset*0*=us-ascii''iso-8859; charset*1*=%2D15",
        "mixed-continuation": b"charset*0*=us-ascii''iso%2D8859; charset*1=\"-15\"",
        "plain-and-extended": b"charset=utf-8; charset*=''iso-8859-15",
        "extended-and-plain": b"charset*=''iso-8859-15; charset=utf-8",
        "gap": b"charset*0=iso-8859; charset*2=-15",
        "continuation-and-plain": b"charset=utf-8; charset*0=iso-8859; charset*1=-15",
    }
    for name, params in cases.items():
        write("rfc2231-charset-" + name, message(
            b"rfc2231 " + name.encode(), b"x@example.org",
            b"Content-Type: text/plain; " + params + b"\nContent-Transfer-Encoding: 8bit\n",
            latin9 + b"\n"))
    boundaries = {
        "continuation": b'boundary*0="abc"; boundary*1="def"',
        "extended": b"boundary*=''abc%64ef",
        "extended-continuation": b"boundary*0*=us-ascii''abc; boundary*1*=%64ef",
        "plain-and-extended": b"boundary=zzz; boundary*=''abcdef",
    }
    for name, params in boundaries.items():
        write("rfc2231-boundary-" + name, message(
            b"rfc2231 boundary " + name.encode(), b"x@example.org",
            b"Content-Type: multipart/mixed; " + params + b"\n",
            b"preamble\n--abcdef\nContent-Type: application/octet-stream\n\nxx\n"
            b"--abcdef\nContent-Type: text/plain; charset*=''iso-8859-15\n\n" + latin9
            + b"\n--abcdef--\n"))
    write("rfc2231-name-and-charset", message(
        b"name", b"x@example.org",
        b"Content-Type: multipart/mixed; boundary=b\n",
        b"--b\nContent-Type: text/plain; name*0*=utf-8''na%C3%AF; name*1=ve.txt;\n"
        b" charset*0=\"iso\"; charset*1=\"-8859-15\"\nContent-Disposition: inline\n\n"
        + latin9 + b"\n--b--\n"))


def mime():
    w = lambda name, headers, body: write("mime-" + name, message(
        b"mime " + name.encode(), b"x@example.org", headers, body))
    mixed = lambda b: b"Content-Type: multipart/mixed; boundary=\"" + b + b"\"\n"
    # a child multipart reusing its parent's boundary
    w("reused-boundary", mixed(b"b"),
      b"--b\nContent-Type: multipart/alternative; boundary=\"b\"\n\n--b\n"
      b"Content-Type: text/plain\n\ninner text\n--b--\n--b--\n")
    w("reused-boundary-text-after", mixed(b"b"),
      b"--b\nContent-Type: multipart/alternative; boundary=\"b\"\n\n--b\n"
      b"Content-Type: image/png\n\nPNG\n--b\nContent-Type: text/plain\n\nsecond text\n--b--\n")
    w("reused-boundary-three-levels", mixed(b"b"),
      b"--b\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\n"
      b"Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n"
      b"<p>deep html</p>\n--b--\n--b--\n--b--\n")
    w("missing-close", mixed(b"outer"),
      b"--outer\nContent-Type: multipart/alternative; boundary=inner\n\n--inner\n"
      b"Content-Type: text/html\n\n<b>no close</b>\n--outer\nContent-Type: text/plain\n\nafter\n")
    w("missing-all-closes", mixed(b"o"),
      b"--o\nContent-Type: application/pdf\n\n%PDF\n--o\nContent-Type: text/plain\n\ntext never closed\n")
    w("prefix-collision", mixed(b"ab"),
      b"--ab\nContent-Type: multipart/alternative; boundary=abc\n\n--abc\n"
      b"Content-Type: text/plain\n\nprefix text\n--abc--\n--ab--\n")
    w("prefix-collision-outer-longer", mixed(b"abc"),
      b"--abc\nContent-Type: multipart/alternative; boundary=ab\n\n--ab\n"
      b"Content-Type: text/plain\n\ninner ab\n--abc\nContent-Type: text/plain\n\nouter\n--abc--\n")
    w("boundary-with-suffix", mixed(b"b"),
      b"--bXYZ\nContent-Type: text/plain\n\nsuffixed boundary line\n--b--\n")
    w("no-headers", mixed(b"b"),
      b"--b\n\nno headers at all\n--b--\n")
    w("no-headers-no-blank", mixed(b"b"),
      b"--b\nno header line, no blank line\n--b--\n")
    w("empty-parts", mixed(b"b"),
      b"--b\n--b\n\n--b\nContent-Type: text/plain\n\nthird\n--b--\n")
    w("truncated-headers", mixed(b"b"),
      b"--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-pri")
    w("truncated-body", mixed(b"b"),
      b"--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8gdHJ1bmNhdGVk")
    w("truncated-boundary-line", mixed(b"b"),
      b"--b\nContent-Type: text/plain\n\ntext\n--")
    w("preamble-only", mixed(b"b"), b"just a preamble, no boundary\n")
    w("text-in-epilogue", mixed(b"b"),
      b"--b\nContent-Type: image/gif\n\nGIF\n--b--\nepilogue text\n")
    w("boundary-in-base64", mixed(b"b"),
      b"--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
      + base64.encodebytes(b"--b\nnot a boundary\n") + b"--b--\n")
    w("crlf-mixed", mixed(b"b"),
      b"--b\r\nContent-Type: text/plain\r\n\r\ncrlf part\r\n--b\nContent-Type: text/plain\n\nlf\n--b--\n")
    w("whitespace-after-boundary", mixed(b"b"),
      b"--b  \nContent-Type: text/plain\n\nspace after boundary\n--b-- \n")
    w("digest", b"Content-Type: multipart/digest; boundary=d\n",
      b"--d\n\nFrom: a@b\nSubject: inner\n\ninner message\n--d--\n")
    w("rfc822-first", mixed(b"b"),
      b"--b\nContent-Type: message/rfc822\n\nSubject: inner\n\ninner body\n--b\n"
      b"Content-Type: text/plain\n\nouter text\n--b--\n")
    # found by a random differential run: the alternative's boundary never appears, "--b"
    # starts the next part of the outer multipart
    w("unclosed-child-then-sibling", b"Content-Type: multipart/related; boundary=\"b\"\r\n",
      b"pre\r\n--bx\r\nContent-Type: multipart/alternative; boundary=\"b--\"\r\n\r\n--b\r\n"
      b"Content-Type: text/html\r\n\r\n<p>html after</p>\r\n")
    # a multipart whose headers end at a boundary line has no body of its own
    w("headers-end-at-boundary", b"Content-Type: multipart/related; boundary=\"ab\"\n",
      b"--ab\nContent-Type: multipart/alternative; boundary=\"ab\"\n--ab\n"
      b"Content-Type: multipart/mixed; boundary=\"b\"\n\n--bx\n\nno headers here\n")
    w("deep-nesting", mixed(b"b0"),
      b"".join(b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i, i + 1) for i in range(30))
      + b"--b30\nContent-Type: text/plain\n\ndeep\n")


def random_mime(count=40, seed=2026):
    """Random nested structures in the style of the hand-made ones above: reused and prefix
    boundaries, stray and missing delimiters, parts without headers or empty lines, truncation.
    (RFC 2231 extended boundaries are left out: there pn deliberately differs.)"""
    rnd = random.Random(seed)

    def boundary(stack):
        c = rnd.random()
        if stack and c < 0.3:
            return rnd.choice(stack)
        if stack and c < 0.5:
            return rnd.choice(stack) + rnd.choice([b"x", b"-", b"1"])
        if stack and c < 0.6:
            return rnd.choice(stack)[:-1] or b"q"
        return rnd.choice([b"a", b"b", b"ab", b"abc", b"=_x", b"b--"])

    def part(depth, stack, nl):
        kinds = ["text", "html", "img", "multi", "multi", "noheader", "rfc822"]
        kind = rnd.choice(kinds if depth < 4 else kinds[:3])
        if kind == "text":
            h = rnd.choice([b"Content-Type: text/plain", b"Content-type: TEXT/PLAIN; charset*0=iso-8859; charset*1=-15",
                            b"Content-Type: text/plain; charset=shift_jis", b"Content-Type: text", b"X-No-Colon"]) + nl
            body = b"text \xa4\x5c d%d %d" % (depth, rnd.randint(0, 99)) + nl
            if rnd.random() < 0.3:
                h += b"Content-Transfer-Encoding: base64" + nl
                body = base64.encodebytes(body)
        elif kind == "html":
            h, body = b"Content-Type: text/html" + nl, b"<p>html d%d</p>" % depth + nl
        elif kind == "img":
            h, body = b"Content-Type: image/png" + nl, b"PNG" + nl
        elif kind == "noheader":
            h, body = b"", b"noheader d%d" % depth + nl
        elif kind == "rfc822":
            h, body = b"Content-Type: message/rfc822" + nl, b"Subject: in" + nl + nl + b"inner" + nl
        else:
            b = boundary(stack)
            sub = rnd.choice([b"mixed", b"alternative", b"related"])
            form = rnd.random()
            if form < 0.7:
                bp = b'boundary="' + b + b'"'
            elif form < 0.8:
                bp = b'BOUNDARY="' + b + b'"'
            elif form < 0.9:
                bp = b'boundary*0="' + b[:1] + b'"; boundary*1="' + b[1:] + b'"'
            else:
                bp = b"x=y;" + nl + b'\tboundary="' + b + b'"'
            h = b"Content-Type: multipart/" + sub + b"; " + bp + nl
            body = rnd.choice([b"", b"pre" + nl])
            for _ in range(rnd.randint(0, 3)):
                body += b"--" + b + rnd.choice([b"", b"", b"", b" ", b"x", b"\t", b"--x"]) + nl
                body += part(depth + 1, stack + [b], nl)
                if rnd.random() < 0.1:
                    body += b"--" + nl
            if rnd.random() < 0.7:
                body += b"--" + b + b"--" + nl
            if rnd.random() < 0.2:
                body += b"epi" + nl
        if rnd.random() < 0.1:
            return h  # no empty line after the headers, no body
        return h + nl + body

    for i in range(count):
        nl = rnd.choice([b"\n", b"\r\n"])
        m = b"Subject: random " + str(i).encode() + nl + b"MIME-Version: 1.0" + nl + part(0, [], nl)
        if rnd.random() < 0.1:
            m = m[:rnd.randint(20, len(m))]
        write("mime-random-%02d" % i, m)


if __name__ == "__main__":
    for f in os.listdir(HERE):
        if f.endswith(".eml"):
            os.remove(os.path.join(HERE, f))
    charsets()
    rfc2231()
    mime()
    random_mime()
