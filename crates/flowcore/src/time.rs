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
    LAST_TIME.with_borrow_mut(|(last, text)| {
        if *last != Some(ts) {
            if !render(*last, text, ts) {
                *last = None;
                return push_rfc3339_fmt(out, ts);
            }
            *last = Some(ts);
        }
        out.push_str(text);
    })
}

thread_local! {
    /// The time [`push_rfc3339`] wrote last on this thread and its text: a flow's six
    /// times repeat (its first time is its forward direction's), flows written one after
    /// another mostly share their second, and nearly always their day.
    static LAST_TIME: std::cell::RefCell<(Option<i64>, String)> =
        const { std::cell::RefCell::new((None, String::new())) };
}

/// Makes `text`, the RFC 3339 form of `last` (if any), that of `ts`; false outside the
/// years 0 to 9999, which [`push_rfc3339_fmt`] writes. Built in place and pushed once:
/// the seconds of flow logs' times change from line to line.
fn render(last: Option<i64>, text: &mut String, ts: TimestampNs) -> bool {
    let secs = ts.div_euclid(NS_PER_SEC);
    let last_secs = last.map(|l| l.div_euclid(NS_PER_SEC));
    // `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`
    let mut p = *b"0000-00-00T00:00:00.000000000Z";
    let kept = text.as_bytes().get(..20);
    match kept {
        Some(k) if last_secs == Some(secs) => p[..20].copy_from_slice(k),
        _ => {
            let days = secs.div_euclid(86_400);
            match kept {
                Some(k) if last_secs.is_some_and(|l| l.div_euclid(86_400) == days) => {
                    p[..11].copy_from_slice(&k[..11]);
                }
                _ => {
                    let (y, m, d) = civil_from_days(days);
                    if !(0..=9999).contains(&y) {
                        return false;
                    }
                    put_digits(&mut p, 0, 4, y as u32);
                    put_digits(&mut p, 5, 2, m);
                    put_digits(&mut p, 8, 2, d);
                }
            }
            let sod = secs.rem_euclid(86_400) as u32;
            put_digits(&mut p, 11, 2, sod / 3600);
            put_digits(&mut p, 14, 2, (sod / 60) % 60);
            put_digits(&mut p, 17, 2, sod % 60);
        }
    }
    let mut ns = ts.rem_euclid(NS_PER_SEC) as usize;
    for i in [27, 25, 23, 21] {
        let r = ns % 100 * 2;
        ns /= 100;
        p[i] = crate::text::PAIRS[r];
        p[i + 1] = crate::text::PAIRS[r + 1];
    }
    p[20] = b'0' + ns as u8;
    text.clear();
    text.push_str(std::str::from_utf8(&p).unwrap_or_default());
    true
}

/// Writes `v` as `width` decimal digits (zero-padded, the lowest ones if longer) at `at`.
fn put_digits(b: &mut [u8], at: usize, width: usize, mut v: u32) {
    for d in b[at..at + width].iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// [`push_rfc3339`] through `fmt`, for any year (and as the reference in tests).
fn push_rfc3339_fmt(out: &mut String, ts: TimestampNs) {
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

/// Parses a time given by a person: RFC 3339 with a `Z` or `±HH:MM` offset and optional
/// fraction (`2026-11-24T22:00:00+09:00`, `2026-11-24 13:00:00.5Z`), or whole seconds since
/// the epoch (`1764000000`). A time without an offset is refused rather than guessed.
pub fn parse_time(s: &str) -> Result<TimestampNs, String> {
    parse_time_with(s, None)
}

/// Parses the times flow logs write: RFC 3339 as [`parse_time`], also with a compact
/// offset (`+0900`, as Suricata writes it) and, for tools that print local time without an
/// offset (nfdump), a date and time taken to be at `naive_offset_s` seconds east of UTC.
/// Fractional epoch seconds (`1300475167.096535`, as Zeek writes them) are accepted too.
pub fn parse_log_time(s: &str, naive_offset_s: i64) -> Result<TimestampNs, String> {
    let t = s.trim();
    if let Some((secs, frac)) = t.split_once('.') {
        if !secs.is_empty()
            && secs.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
            && secs.len() <= 12
        {
            let whole: i64 = secs.parse().map_err(|_| format!("bad time {t:?}"))?;
            let mut nanos = 0i64;
            for (i, c) in frac.bytes().take(9).enumerate() {
                nanos += i64::from(c - b'0') * 10i64.pow(8 - i as u32);
            }
            return Ok(whole * NS_PER_SEC + nanos);
        }
    }
    parse_time_with(t, Some(naive_offset_s))
}

fn parse_time_with(s: &str, naive_offset_s: Option<i64>) -> Result<TimestampNs, String> {
    let s = s.trim();
    let bad = |why: &str| {
        format!("bad time {s:?}: {why} (want e.g. 2026-11-24T22:00:00+09:00, 2026-11-24T13:00:00Z or epoch seconds)")
    };
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = s.parse().map_err(|_| bad("out of range"))?;
        return secs
            .checked_mul(NS_PER_SEC)
            .ok_or_else(|| bad("out of range"));
    }
    let b = s.as_bytes();
    if b.len() < 19 || !b.is_ascii() {
        return Err(bad("too short"));
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let t = &s[r];
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse::<i64>().map_err(|_| bad("not a number"))
        } else {
            Err(bad("not a number"))
        }
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad("layout"));
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60
    {
        return Err(bad("field out of range"));
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return Err(bad("empty fraction"));
        }
        for _ in (i - start).min(9)..9 {
            nanos *= 10;
        }
    }
    let offset = match &s[i..] {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let v = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        o if naive_offset_s.is_some()
            && o.len() == 5
            && (o.starts_with('+') || o.starts_with('-')) =>
        {
            let v = num(i + 1..i + 3)? * 3600 + num(i + 3..i + 5)? * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        "" => match naive_offset_s {
            Some(o) => o,
            None => return Err(bad("no timezone offset")),
        },
        _ => return Err(bad("bad timezone offset")),
    };
    let secs = days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + se - offset;
    Ok(secs * NS_PER_SEC + nanos)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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

    #[test]
    fn fast_times_equal_fmt_times() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        // i64 nanoseconds span the years 1677 to 2262.
        let mut cases = vec![i64::MIN, i64::MAX, -1, 0, 1, NS_PER_SEC - 1];
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(x as i64);
            cases.push((x % (300 * 365 * 86_400 * NS_PER_SEC as u64)) as i64);
        }
        for ts in cases {
            let (mut a, mut b) = (String::new(), String::new());
            push_rfc3339(&mut a, ts);
            push_rfc3339_fmt(&mut b, ts);
            assert_eq!(a, b, "{ts}");
        }
    }

    #[test]
    fn times_written_one_after_another_equal_fmt_times() {
        // Walks of nearby times reuse the last time, second and day (`render`): steps
        // within a second, across seconds, midnight, a leap day and a year's end, back
        // and forth, and out of the years 0..=9999 and back in.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let day = 86_400 * NS_PER_SEC;
        let starts = [
            0,
            -1,
            951_782_400 * NS_PER_SEC - 3 * NS_PER_SEC, // 2000-02-28T23:59:57
            1_798_761_600 * NS_PER_SEC - NS_PER_SEC,   // 2026-12-31T23:59:59
            i64::MAX - 2 * day,
            i64::MIN + 2 * day,
        ];
        let steps = [1, 999_999_999, NS_PER_SEC, 3_600 * NS_PER_SEC, day];
        for start in starts {
            let mut ts = start;
            for _ in 0..2_000 {
                let r = next();
                let step = steps[(r % 5) as usize] * ((r >> 8) % 3) as i64;
                ts = if r & 1 << 40 == 0 {
                    ts.saturating_add(step)
                } else {
                    ts.saturating_sub(step)
                };
                let (mut a, mut b) = (String::new(), String::new());
                push_rfc3339(&mut a, ts);
                push_rfc3339_fmt(&mut b, ts);
                assert_eq!(a, b, "{ts}");
            }
        }
    }

    #[test]
    fn log_times_in_the_forms_flow_tools_write() {
        let want = parse_time("2026-11-24T13:00:00.534255Z").unwrap();
        // Suricata: compact offset.
        assert_eq!(
            parse_log_time("2026-11-24T22:00:00.534255+0900", 0),
            Ok(want)
        );
        // Zeek: fractional epoch seconds.
        assert_eq!(parse_log_time("1795525200.534255", 0), Ok(want));
        // nfdump: local time without offset, at the offset given.
        assert_eq!(
            parse_log_time("2026-11-24 22:00:00.534255", 9 * 3600),
            Ok(want)
        );
        assert_eq!(parse_log_time("2026-11-24 13:00:00.534255", 0), Ok(want));
        for bad in [
            "",
            "-",
            "12.x",
            "2026-11-24T22:00:00+09",
            "2026-13-01 00:00:00",
        ] {
            assert!(parse_log_time(bad, 0).is_err(), "{bad:?}");
        }
        // The strict parser still refuses what only logs may write.
        assert!(parse_time("2026-11-24T22:00:00+0900").is_err());
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        for ts in [
            0,
            5,
            951_782_400 * NS_PER_SEC + 5,
            4_294_967_295 * NS_PER_SEC,
            -1,
            1_764_000_000_123_456_789,
        ] {
            assert_eq!(parse_time(&format_rfc3339(ts)), Ok(ts));
        }
        assert_eq!(
            parse_time("2026-11-24T22:00:00+09:00"),
            parse_time("2026-11-24T13:00:00Z")
        );
        assert_eq!(
            parse_time("2026-11-24 13:00:00.5z").unwrap() % NS_PER_SEC,
            500_000_000
        );
        assert_eq!(parse_time("1764000000"), Ok(1_764_000_000 * NS_PER_SEC));
        assert_eq!(
            parse_time("2026-11-24T04:00:00-09:00"),
            parse_time("2026-11-24T13:00:00Z")
        );
        for bad in [
            "",
            "2026-11-24T13:00:00",
            "2026-02-30T00:00:00Z",
            "2026-11-24T13:00:00+0900",
            "2026-11-24T25:00:00Z",
            "２０２６-11-24T13:00:00Z",
            "99999999999999999999",
            "2026-11-24T13:00:00.Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
