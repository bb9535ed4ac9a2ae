//! Timestamps: nanoseconds since the Unix epoch, UTC, and their RFC 3339 form.

/// Nanoseconds since 1970-01-01T00:00:00Z. Signed so that pcapng's negative `if_tsoffset`
/// is representable; covers the years 1678 to 2262.
pub type TimestampNs = i64;

/// Nanoseconds per second.
pub const NS_PER_SEC: i64 = 1_000_000_000;

/// Formats `ts` as RFC 3339 in UTC with nanosecond precision, e.g.
/// `2026-11-25T19:12:30.123456789Z`.
pub fn format_rfc3339(ts: TimestampNs) -> String {
    let mut s = String::with_capacity(30);
    push_rfc3339(&mut s, ts);
    s
}

/// Appends the RFC 3339 form of `ts` (see [`format_rfc3339`]) to `out`.
pub fn push_rfc3339(out: &mut String, ts: TimestampNs) {
    use std::fmt::Write;
    let secs = ts.div_euclid(NS_PER_SEC);
    let nanos = ts.rem_euclid(NS_PER_SEC);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        y,
        m,
        d,
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        nanos
    );
}

/// Converts days since 1970-01-01 into a proleptic Gregorian (year, month, day).
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            format_rfc3339(951_782_400 * NS_PER_SEC + 5),
            "2000-02-29T00:00:00.000000005Z"
        );
        // 2^32 - 1 seconds: the last second a classic pcap can express (year 2106).
        assert_eq!(
            format_rfc3339(4_294_967_295 * NS_PER_SEC),
            "2106-02-07T06:28:15.000000000Z"
        );
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
    }
}
