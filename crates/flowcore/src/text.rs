//! Text writers shared by the layers, without `fmt` (reports print millions of values):
//! lower-case hexadecimal (digests, finding ids, MAC addresses, JSON `\u00xx` escapes),
//! base64 (Community IDs), decimal numbers and IP addresses.

use std::ffi::OsStr;
use std::net::IpAddr;
use std::path::Path;

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends `b` as two lower-case hex digits.
#[inline]
pub(crate) fn push_byte(out: &mut String, b: u8) {
    out.push(char::from(DIGITS[usize::from(b >> 4)]));
    out.push(char::from(DIGITS[usize::from(b & 15)]));
}

/// A path as reports and messages name it ([`crate::input::path_name`]).
pub(crate) fn path_text(path: &Path) -> String {
    os_text(path.as_os_str())
}

/// An OS string as text: itself when it is valid UTF-8 (nearly always); otherwise, on Unix,
/// each byte that is not part of valid UTF-8 written `\xNN` (as bash's `$'…'` reads it),
/// so that names differing only in such bytes stay apart, where a lossy conversion would
/// put U+FFFD for every one of them.
pub(crate) fn os_text(s: &OsStr) -> String {
    if let Some(t) = s.to_str() {
        return t.to_string();
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let mut out = String::with_capacity(s.len() * 2);
        for chunk in s.as_bytes().utf8_chunks() {
            out.push_str(chunk.valid());
            for &b in chunk.invalid() {
                out.push_str("\\x");
                push_byte(&mut out, b);
            }
        }
        out
    }
    #[cfg(not(unix))]
    {
        s.to_string_lossy().into_owned()
    }
}

/// `bytes` as lower-case hex, two digits per byte.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        push_byte(&mut s, b);
    }
    s
}

/// Appends `bytes` in standard base64 (RFC 4648, with padding): a Community ID's 20-byte
/// digest in 350 instructions, where the general encoder of the `base64` crate took 550.
pub(crate) fn push_base64(out: &mut String, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let digit = |n: u32, shift: u32| char::from(ALPHABET[(n >> shift & 63) as usize]);
    let mut triples = bytes.chunks_exact(3);
    for t in &mut triples {
        let n = u32::from(t[0]) << 16 | u32::from(t[1]) << 8 | u32::from(t[2]);
        for shift in [18, 12, 6, 0] {
            out.push(digit(n, shift));
        }
    }
    match *triples.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.push(digit(n, 18));
            out.push(digit(n, 12));
            out.push_str("==");
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.push(digit(n, 18));
            out.push(digit(n, 12));
            out.push(digit(n, 6));
            out.push('=');
        }
        _ => {}
    }
}

/// "00" to "99", two digits per number.
pub(crate) const PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Appends `n` in decimal (without `fmt`: flows print a dozen numbers each). Most are
/// below 100 (protocols, flags, counts of small flows): those take one or two pushes.
#[inline]
pub(crate) fn push_u64(s: &mut String, n: u64) {
    if n < 10 {
        s.push(char::from(b'0' + n as u8));
    } else if n < 100 {
        let n = n as usize;
        s.push(char::from(b'0' + (n / 10) as u8));
        s.push(char::from(b'0' + (n % 10) as u8));
    } else {
        push_u64_long(s, n);
    }
}

/// [`push_u64`] for 100 and more: two digits per division.
fn push_u64_long(s: &mut String, mut n: u64) {
    let mut b = [0u8; 20];
    let mut i = b.len();
    while n >= 100 {
        let r = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        b[i] = PAIRS[r];
        b[i + 1] = PAIRS[r + 1];
    }
    if n >= 10 {
        let r = n as usize * 2;
        i -= 2;
        b[i] = PAIRS[r];
        b[i + 1] = PAIRS[r + 1];
    } else {
        i -= 1;
        b[i] = b'0' + n as u8;
    }
    // Digit by digit: cheaper than validating a few bytes as UTF-8 and copying them.
    s.reserve(b.len() - i);
    for &d in &b[i..] {
        s.push(char::from(d));
    }
}

/// Appends an address as `IpAddr`'s `Display` writes it (IPv4 without `fmt`).
pub(crate) fn push_ip(s: &mut String, a: IpAddr) {
    match a {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                if o >= 100 {
                    s.push(char::from(b'0' + o / 100));
                }
                if o >= 10 {
                    s.push(char::from(b'0' + o / 10 % 10));
                }
                s.push(char::from(b'0' + o % 10));
            }
        }
        IpAddr::V6(_) => {
            use std::fmt::Write;
            let _ = write!(s, "{a}");
        }
    }
}

#[cfg(test)]
#[test]
fn decimal_is_display() {
    let mut n = 1u64;
    let mut values = vec![0, u64::MAX, u64::MAX - 1];
    while let Some(m) = n.checked_mul(10) {
        values.extend([n - 1, n, n + 1, m - 1]);
        n = m;
    }
    values.extend((0..1000).map(|i| i * 7919));
    for v in values {
        let mut s = String::from("x");
        push_u64(&mut s, v);
        assert_eq!(s, format!("x{v}"));
    }
}

#[cfg(test)]
#[test]
fn hex_is_format_02x() {
    let all: Vec<u8> = (0..=255).collect();
    let want: String = all.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex(&all), want);
    assert_eq!(hex(&[]), "");
}

#[cfg(test)]
#[test]
fn base64_is_rfc_4648() {
    // RFC 4648, section 10.
    for (plain, want) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        let mut s = String::new();
        push_base64(&mut s, plain.as_bytes());
        assert_eq!(s, want, "{plain:?}");
    }
    // Every byte value in every position of a triple: the crate's encoder agrees.
    use base64::Engine;
    let all: Vec<u8> = (0..=255).chain((0..=255).rev()).chain(0..=255).collect();
    for len in 0..all.len() {
        let mut s = String::new();
        push_base64(&mut s, &all[..len]);
        let want = base64::engine::general_purpose::STANDARD.encode(&all[..len]);
        assert_eq!(s, want, "{len}");
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::os_text;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn names_that_are_not_utf8_keep_their_bytes_apart() {
        let t = |b: &[u8]| os_text(OsStr::from_bytes(b));
        // UTF-8 as it is, backslashes and all.
        assert_eq!(t("夜間/日本.pcap".as_bytes()), "夜間/日本.pcap");
        assert_eq!(t(b"a\\x93.pcap"), "a\\x93.pcap");
        // Shift_JIS 日本 and 日付: lossy, both would read "\u{fffd}\u{fffd}\u{fffd}…".
        assert_eq!(t(b"\x93\xfa\x96\x7b.pcap"), "\\x93\\xfa\\x96{.pcap");
        assert_eq!(t(b"\x93\xfa\x95\x74.pcap"), "\\x93\\xfa\\x95t.pcap");
        // A UTF-8 sequence cut short, then valid text: the valid part stays text.
        assert_eq!(t(b"\xe6\x97x\xe6\x97\xa5"), "\\xe6\\x97x日");
        assert_eq!(t(b"\xff"), "\\xff");
        assert_eq!(t(b""), "");
    }
}
