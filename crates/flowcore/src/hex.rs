//! Lower-case hexadecimal, for digests, finding ids, MAC addresses and JSON `\u00xx`
//! escapes: one writer instead of a `format!("{b:02x}")` (and its allocation) per byte.

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

#[cfg(test)]
#[test]
fn hex_is_format_02x() {
    let all: Vec<u8> = (0..=255).collect();
    let want: String = all.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex(&all), want);
    assert_eq!(hex(&[]), "");
}
