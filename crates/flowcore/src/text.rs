//! Text writers shared by the layers, without `fmt` (reports print millions of values):
//! lower-case hexadecimal (digests, finding ids, MAC addresses, JSON `\u00xx` escapes),
//! decimal numbers and IP addresses.

use std::net::IpAddr;

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends `b` as two lower-case hex digits.
#[inline]
pub(crate) fn push_byte(out: &mut String, b: u8) {
    out.push(char::from(DIGITS[usize::from(b >> 4)]));
    out.push(char::from(DIGITS[usize::from(b & 15)]));
}

/// `bytes` as lower-case hex, two digits per byte.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        push_byte(&mut s, b);
    }
    s
}

/// Appends `n` in decimal (without `fmt`: flows print a dozen numbers each).
pub(crate) fn push_u64(s: &mut String, mut n: u64) {
    let mut b = [0u8; 20];
    let mut i = b.len();
    loop {
        i -= 1;
        b[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Digit by digit: cheaper than validating a few bytes as UTF-8 and copying them.
    s.extend(b[i..].iter().map(|&d| char::from(d)));
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
fn hex_is_format_02x() {
    let all: Vec<u8> = (0..=255).collect();
    let want: String = all.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex(&all), want);
    assert_eq!(hex(&[]), "");
}
