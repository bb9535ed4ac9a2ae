use super::*;
use crate::flow::{ConnState, DirStats};

const EXAMPLE: &str = include_str!("../../../../rulesets/example-site.toml");

fn example() -> Ruleset {
    Ruleset::from_str("example-site.toml", EXAMPLE, None).expect("the example site is valid")
}

fn flow(src: &str, sp: u16, dst: &str, dp: u16, proto: u8, ts: i64) -> FlowRecord {
    let mut f = FlowRecord::new(
        src.parse().unwrap(),
        sp,
        dst.parse().unwrap(),
        dp,
        proto,
        ts,
    );
    f.fwd = DirStats {
        packets: 1,
        bytes: 60,
        ..Default::default()
    };
    f.state = ConnState::S0;
    f.first_packet_index = 1;
    f.first_packet_offset = 24;
    f
}

/// "allow", "allow via …" or the violated rule id.
fn judge(rs: &Ruleset, src: &str, dst: &str, dp: u16, proto: u8) -> String {
    judge_at(rs, src, dst, dp, proto, 1_795_532_400 * NS_PER_SEC)
}

fn judge_at(rs: &Ruleset, src: &str, dst: &str, dp: u16, proto: u8, ts: i64) -> String {
    match rs.evaluate(&flow(src, 50000, dst, dp, proto, ts)).verdict {
        Verdict::Allowed {
            permit: Some(p), ..
        } => format!("allow via {}", rs.permit_text(&p)),
        Verdict::Allowed { .. } => "allow".into(),
        Verdict::Violation { rule, .. } => rs.rules[rule].def.id.clone(),
    }
}

#[test]
fn every_mic_alpha_rule_has_an_allowed_and_a_denied_twin() {
    let rs = example();
    let t = proto::TCP;
    let cases = [
        // (src, dst, port, proto, expected)
        ("192.168.9.9", "10.2.5.25", 445, t, "INV-01"),
        ("10.2.0.9", "10.2.5.25", 445, t, "allow"),
        ("10.1.20.7", "10.3.20.15", 445, t, "MN-01"),
        ("10.3.20.15", "10.1.20.7", 445, t, "MN-01"), // either direction
        ("10.1.20.7", "10.1.20.8", 445, t, "allow"),
        ("10.1.20.7", "8.8.8.8", 53, proto::UDP, "MN-02"),
        ("10.1.20.7", "203.0.113.5", 8080, t, "MN-03"),
        ("10.1.20.7", "10.2.10.21", 22, t, "MN-04"),
        ("10.2.10.21", "10.1.20.7", 22, t, "MN-04"),
        ("10.1.9.5", "172.20.1.9", 443, t, "MN-05"),
        (
            "10.1.9.5",
            "172.20.1.5",
            443,
            t,
            "allow via exception EX-001 (integrated address system to the intermediate server)",
        ),
        ("10.1.9.5", "172.20.1.5", 80, t, "MN-05"), // service not covered
        ("172.20.1.5", "10.1.9.5", 443, t, "MN-05"), // direction not covered
        (
            "10.3.5.25",
            "10.2.5.25",
            25,
            t,
            "allow via gateway mail-sanitizer (mail_sanitizer)",
        ),
        ("10.3.9.9", "10.2.5.25", 25, t, "LG-01"), // not the sanitizer
        ("10.3.5.25", "10.2.5.26", 25, t, "LG-01"), // not the declared peer
        ("10.2.5.25", "10.3.5.25", 25, t, "LG-01"), // wrong direction
        (
            "10.2.10.21",
            "10.3.6.10",
            3389,
            t,
            "allow via gateway virtual-browser (screen_transfer)",
        ),
        (
            "10.2.10.21",
            "10.3.6.10",
            3389,
            proto::UDP,
            "allow via gateway virtual-browser (screen_transfer)",
        ),
        ("10.3.6.10", "10.2.10.21", 3389, t, "LG-01"), // initiated from the Internet side
        ("10.2.10.21", "10.3.6.10", 22, t, "LG-01"),   // undeclared service
        ("fd00:2::15", "fd00:3::80", 443, t, "LG-01"),
        ("10.2.10.30", "198.51.100.7", 443, t, "LG-02"),
        ("198.51.100.7", "10.2.10.30", 443, t, "LG-02"),
        ("10.2.10.30", "203.0.113.5", 8080, t, "LG-03"),
        ("10.2.10.21", "172.20.40.2", 443, t, "allow"), // LG-04
        ("172.20.40.2", "10.2.10.21", 443, t, "allow"),
        ("10.3.20.15", "203.0.113.5", 8080, t, "allow"), // NET-01
        ("10.3.20.15", "93.184.216.34", 443, t, "NET-02"),
        ("93.184.216.34", "10.3.20.15", 443, t, "NET-02"),
        ("10.3.20.15", "172.20.40.2", 443, t, "NET-03"),
        ("10.3.20.15", "224.0.0.251", 5353, proto::UDP, "allow"), // link-local multicast
    ];
    for (src, dst, port, p, want) in cases {
        assert_eq!(
            judge(&rs, src, dst, port, p),
            want,
            "{src} -> {dst}:{port}/{p}"
        );
    }
}

#[test]
fn exceptions_expire_at_the_end_of_their_last_day_in_site_time() {
    let rs = example();
    // 2027-03-31T23:59:59+09:00 is still valid; 2027-04-01T00:00:00+09:00 is not.
    let last = (days_from_civil(2027, 3, 31) * 86_400 + 86_399 - 9 * 3600) * NS_PER_SEC;
    assert!(judge_at(&rs, "10.1.9.5", "172.20.1.5", 443, 6, last)
        .starts_with("allow via exception EX-001"));
    let f = flow("10.1.9.5", 5, "172.20.1.5", 443, 6, last + NS_PER_SEC);
    match rs.evaluate(&f).verdict {
        Verdict::Violation { rule, considered } => {
            assert_eq!(rs.rules[rule].def.id, "MN-05");
            assert!(
                considered[0].contains("EX-001 expired: valid through 2027-03-31"),
                "{considered:?}"
            );
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn considered_gateways_explain_why_they_did_not_permit() {
    let rs = example();
    let why = |src, dst, port| match rs.evaluate(&flow(src, 5, dst, port, 6, 0)).verdict {
        Verdict::Violation { considered, .. } => considered.join("; "),
        v => panic!("{v:?}"),
    };
    assert!(why("10.3.6.10", "10.2.10.21", 3389).contains("wrong direction"));
    assert!(why("10.3.9.9", "10.2.5.25", 25).contains("10.3.9.9 is not the gateway"));
    assert!(why("10.2.10.21", "10.3.6.10", 22).contains("not declared for tcp/22"));
}

#[test]
fn analyzer_aggregates_and_finds_dual_homed_macs() {
    let rs = example();
    let mut a = Analyzer::new(&rs);
    for i in 0..5 {
        let mut f = flow(
            "10.1.20.7",
            40000 + i,
            "8.8.8.8",
            53,
            proto::UDP,
            i64::from(10 - i),
        );
        f.src_mac = Some([2, 0, 0, 0, 0, 7]);
        a.observe(&f, "x.pcap");
    }
    let mut f = flow("10.3.20.15", 1, "203.0.113.5", 8080, 6, 100);
    f.src_mac = Some([2, 0, 0, 0, 0, 7]); // the same MAC in the Internet segment
    a.observe(&f, "x.pcap");
    let an = a.finish(&["x.pcap".to_string()]);
    assert_eq!(an.findings.len(), 2);
    let mn = an.findings.iter().find(|f| f.rule_id == "MN-02").unwrap();
    assert_eq!((mn.flows, mn.first_ts, mn.src.port), (5, 6, 40004));
    let dh = an.findings.iter().find(|f| f.rule_id == "DH-01").unwrap();
    assert_eq!(dh.mac.as_deref(), Some("02:00:00:00:00:07"));
    assert_eq!(
        (dh.src.class.as_str(), dh.dst.class.as_str()),
        ("mynumber", "internet")
    );
    assert_eq!(an.violating_flows, 5);
    let cell = an
        .matrix
        .iter()
        .find(|(s, d, _)| s == "mynumber" && d == "public")
        .unwrap();
    assert_eq!((cell.2.flows, cell.2.violations), (5, 5));
}

fn errors(text: &str) -> Vec<String> {
    match Ruleset::from_str("site.toml", text, None) {
        Ok(_) => vec![],
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn ruleset_errors_point_at_file_line_column_and_key() {
    let bad_prefix = EXAMPLE.replace("\"10.2.0.0/16\"", "\"10.2.0.0/33\"");
    let e = errors(&bad_prefix);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("site.toml:8:12: segments.lgwan: "),
        "{}",
        e[0]
    );
    let e = errors(&EXAMPLE.replace("policy = \"mic-alpha\"", "policy = \"mic-gamma\""));
    assert!(
        e[0].starts_with("site.toml:3:10: site.policy: unknown policy model \"mic-gamma\""),
        "{}",
        e[0]
    );
    let e = errors(&EXAMPLE.replace("services = [\"tcp/25\"]", "services = [\"tcp/25x\"]"));
    assert!(
        e[0].contains("site.toml:20:13: gateway[0].services: bad port"),
        "{}",
        e[0]
    );
    let e = errors(&EXAMPLE.replace("reason = ", "raeson = "));
    assert!(
        e[0].contains("site.toml:34:1") && e[0].contains("raeson"),
        "{e:?}"
    );
    let e = errors(&EXAMPLE.replace("internet = [\"10.3.0.0/16\"", "internet = [\"10.2.5.0/24\""));
    assert!(
        e.iter()
            .any(|m| m.contains("10.2.5.0/24 (internet) overlaps 10.2.0.0/16 (lgwan)")),
        "{e:?}"
    );
    let e = errors(&EXAMPLE.replace("clients = [\"lgwan\"]", "clients = [\"lgwna\"]"));
    assert!(
        e[0].contains("gateway[1].clients") && e[0].contains("not a declared segment or zone"),
        "{e:?}"
    );
    let e = errors(&EXAMPLE.replace("expires = 2027-03-31", "expires = 2027-03-31T10:00:00"));
    assert!(e[0].contains("exception[0].expires"), "{e:?}");
    let e = errors(&EXAMPLE.replace("timezone = \"Asia/Tokyo\"", "timezone = \"Mars/Olympus\""));
    assert!(e[0].contains("site.timezone"), "{e:?}");
    let e = errors(&EXAMPLE.replace("[segments]", "[segments]\nlgwan2 = [\"10.9.0.0/16\"]"));
    assert!(e[0].contains("segments.lgwan2: unknown segment"), "{e:?}");
}

#[test]
fn vlan_qualified_segments_may_reuse_addresses() {
    let site = EXAMPLE
        .replace(
            "lgwan    = [\"10.2.0.0/16\", \"fd00:2::/48\"]",
            "lgwan    = { prefixes = [\"10.3.0.0/16\"], vlans = [20] }",
        )
        .replace(
            "internet = [\"10.3.0.0/16\", \"fd00:3::/48\"]",
            "internet = { prefixes = [\"10.3.0.0/16\"], vlans = [30] }",
        );
    let rs = Ruleset::from_str("site.toml", &site, None).unwrap();
    let mut f = flow("10.3.0.5", 5, "10.3.0.6", 25, 6, 0);
    f.vlan = Some(20);
    assert_eq!(rs.inventory.name(rs.evaluate(&f).src.class), "lgwan");
    f.vlan = Some(30);
    assert_eq!(rs.inventory.name(rs.evaluate(&f).src.class), "internet");
}

#[test]
fn builtin_models_parse_and_name_their_clauses() {
    for (id, text) in model::BUILTIN {
        let m: model::PolicyModel = toml::from_str(text).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(m.model.id, id);
        for r in &m.rule {
            assert!(r.clause.starts_with("基本方針 6(3)"), "{id} {}", r.id);
            assert!(
                !r.message_en.is_empty() && !r.message_ja.is_empty(),
                "{id} {}",
                r.id
            );
        }
        let site = EXAMPLE.replace("policy = \"mic-alpha\"", &format!("policy = \"{id}\""));
        Ruleset::from_str("s.toml", &site, None).unwrap();
    }
}

#[test]
fn findings_are_bounded_under_a_scan() {
    let rs = example();
    let mut a = Analyzer::new(&rs).max_findings(10);
    for i in 0..1000u32 {
        let dst = format!("93.184.{}.{}", i / 256, i % 256);
        a.observe(&flow("10.3.20.15", 40000, &dst, 443, 6, 0), "scan.pcap");
    }
    let an = a.finish(&["scan.pcap".into()]);
    assert_eq!(an.findings.len(), 11);
    assert_eq!(an.findings_overflowed, 990);
    let over = an
        .findings
        .iter()
        .find(|f| f.considered.iter().any(|c| c.contains("more than 10")))
        .unwrap();
    assert_eq!(over.flows, 990);
}

/// A reproducible pseudo-random `0..n`.
fn lcg(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize % n
    }
}

#[test]
fn cached_judgements_equal_fresh_ones() {
    // Many flows over few endpoints, both sides of an exception's expiry, known and
    // unknown initiators, VLANs: every verdict the analyzer returns (through its cache)
    // equals the ruleset's own evaluation of that flow.
    let rs = example();
    let hosts = [
        "10.1.9.5",
        "10.1.20.7",
        "10.2.10.21",
        "10.2.5.25",
        "10.3.6.10",
        "10.3.20.15",
        "172.20.1.5",
        "8.8.8.8",
        "192.168.9.9",
        "203.0.113.5",
        "fd00:2::15",
    ];
    let ports = [22u16, 25, 53, 443, 445, 3389, 50000, 50001];
    let expiry = rs.exceptions[0].expires_at.expect("EX-001 expires");
    let mut a = Analyzer::new(&rs);
    let mut next = lcg(1u64);
    let mut hits = 0;
    for i in 0..20_000 {
        let (s, d) = (hosts[next(hosts.len())], hosts[next(hosts.len())]);
        if s.contains(':') != d.contains(':') {
            continue;
        }
        let ts = expiry + [-NS_PER_SEC, 0, NS_PER_SEC][next(3)];
        let mut f = flow(
            s,
            ports[next(ports.len())],
            d,
            ports[next(ports.len())],
            [proto::TCP, proto::UDP][next(2)],
            ts,
        );
        f.initiator_known = next(3) != 0;
        f.vlan = [None, Some(10), Some(20)][next(3)];
        let fresh = rs.judge(&f, false);
        let got = a.observe(&f, "t");
        assert_eq!(got, fresh.verdict, "flow {i}: {f:?}");
        hits += usize::from(matches!(got, Verdict::Violation { .. }));
    }
    assert!(hits > 1000, "the mix has violations ({hits})");
    // The same flow through the exception, just before and at its expiry: the cached
    // permit must not outlive the exception.
    let mut a = Analyzer::new(&rs);
    for ts in [expiry - NS_PER_SEC, expiry, expiry - 1, expiry + 1] {
        let f = flow("10.1.9.5", 50000, "172.20.1.5", 443, proto::TCP, ts);
        assert_eq!(a.observe(&f, "t"), rs.judge(&f, false).verdict, "at {ts}");
    }
    // Unknown initiators: the reverse direction (source port as the service) decides.
    let mut a = Analyzer::new(&rs);
    for sp in [3389, 50000, 3389] {
        let mut f = flow("10.3.6.10", sp, "10.2.10.21", 50123, proto::TCP, expiry);
        f.initiator_known = false;
        assert_eq!(
            a.observe(&f, "t"),
            rs.judge(&f, false).verdict,
            "sport {sp}"
        );
    }
}

/// Endpoints over every class of the example site, and services, for random mixes.
const MIX_HOSTS: [&str; 8] = [
    "10.1.9.5",
    "10.1.20.7",
    "10.2.10.21",
    "10.3.6.10",
    "10.3.20.15",
    "172.20.1.5",
    "8.8.8.8",
    "203.0.113.5",
];
const MIX_PORTS: [u16; 6] = [22, 25, 53, 443, 445, 3389];

#[test]
fn findings_through_the_cache_equal_findings_without_it() {
    // The judgement cache also remembers which finding a judgement's violations go to
    // (and whether that is the rule's overflow finding): an analyzer with a cache of one
    // set of four slots, where most flows find another key there, must aggregate the same
    // findings and counts, bounded or not. A second mix takes turns over six conversations
    // (then six others, past the exception's expiry), so the set's ways are found,
    // reordered and evicted at almost every flow.
    let rs = example();
    let (hosts, ports) = (MIX_HOSTS, MIX_PORTS);
    let expiry = rs.exceptions[0].expires_at.expect("EX-001 expires");
    let mut next = lcg(11u64);
    let flows: Vec<FlowRecord> = (0..6000)
        .map(|i| {
            let mut f = flow(
                hosts[next(hosts.len())],
                40000 + next(4) as u16,
                hosts[next(hosts.len())],
                ports[next(ports.len())],
                [proto::TCP, proto::UDP][next(2)],
                expiry + (i - 3000) * NS_PER_SEC / 10,
            );
            f.first_packet_index = i as u64;
            f.initiator_known = next(4) != 0;
            f.vlan = [None, Some(10)][next(2)];
            f
        })
        .collect();
    let few: Vec<FlowRecord> = (0..6000)
        .map(|i| {
            let mut f = flows[next(6)].clone();
            (f.first_ts, f.last_ts) = (flows[i].first_ts, flows[i].last_ts);
            f.first_packet_index = i as u64;
            f
        })
        .collect();
    for (mix, bound, taking_turns) in [
        (&flows, 7, false),
        (&flows, 100_000, false),
        (&few, 100_000, true),
    ] {
        let mut cached = Analyzer::new(&rs).max_findings(bound);
        let mut fresh = Analyzer::new(&rs).max_findings(bound).judge_cache_slots(4);
        for f in mix {
            assert_eq!(cached.observe(f, "a"), fresh.observe(f, "a"));
        }
        let (c, f) = (cached.finish(&["a".into()]), fresh.finish(&["a".into()]));
        assert!(c.violating_flows > 1000, "the mix has violations");
        if bound == 7 {
            assert!(c.findings_overflowed > 1000, "the bound is reached");
        }
        if taking_turns {
            assert!(c.findings.len() >= 3, "several conversations violate");
        }
        assert_eq!(format!("{c:?}"), format!("{f:?}"), "max_findings {bound}");
    }
}

/// `n` flows between [`MIX_HOSTS`] on [`MIX_PORTS`] (from `seed`), flow `i` numbered `i`,
/// with the time and source MAC `at(i, next)` gives (`next` draws from the same sequence).
fn mix_flows(
    seed: u64,
    n: i64,
    at: impl Fn(i64, &mut dyn FnMut(usize) -> usize) -> (i64, Option<[u8; 6]>),
) -> Vec<FlowRecord> {
    let (hosts, ports) = (MIX_HOSTS, MIX_PORTS);
    let mut next = lcg(seed);
    (0..n)
        .map(|i| {
            let (src, sp) = (hosts[next(hosts.len())], 40000 + next(50) as u16);
            let (dst, dp) = (hosts[next(hosts.len())], ports[next(ports.len())]);
            let p = [proto::TCP, proto::UDP][next(2)];
            let (ts, mac) = at(i, &mut next);
            let mut f = flow(src, sp, dst, dp, p, ts);
            f.first_packet_index = i as u64;
            f.src_mac = mac;
            f
        })
        .collect()
}

#[test]
fn absorbing_sealed_or_not_equals_judging_in_one_analyzer() {
    // A parallel run: each input judged by its own analyzer, merged in input order. Sealed
    // (on the worker) or not, and even sealed and then fed more, the result is the one
    // analyzer's that judged every flow in order.
    let rs = example();
    let flows = mix_flows(7, 3000, |i, next| {
        (
            i * NS_PER_SEC + next(3) as i64,
            [None, Some([2, 0, 0, 0, 0, next(4) as u8])][next(2)],
        )
    });
    let files = ["a".to_string(), "b".to_string(), "c".to_string()];
    let parts = [&flows[..1000], &flows[1000..2200], &flows[2200..]];
    let mut one = Analyzer::new(&rs);
    for (p, file) in parts.iter().zip(&files) {
        for f in *p {
            one.observe(f, file);
        }
    }
    let want = format!("{:?}", one.finish(&files));
    assert!(want.contains("MN-"), "the mix has findings");
    for seal in [[false, false], [true, true], [true, false]] {
        let mut merged = Analyzer::new(&rs);
        for f in parts[0] {
            merged.observe(f, &files[0]);
        }
        for (k, (p, file)) in parts[1..].iter().zip(&files[1..]).enumerate() {
            let mut a = Analyzer::new(&rs);
            for f in *p {
                a.observe(f, file);
            }
            if seal[k] {
                a.seal();
            }
            merged.absorb(a);
        }
        assert_eq!(
            format!("{:?}", merged.finish(&files)),
            want,
            "sealed: {seal:?}"
        );
    }
    // Sealed, then fed the rest: still the same.
    let mut a = Analyzer::new(&rs);
    for (i, (p, file)) in parts.iter().zip(&files).enumerate() {
        for f in *p {
            a.observe(f, file);
        }
        if i == 0 {
            a.seal();
        }
    }
    assert_eq!(format!("{:?}", a.finish(&files)), want, "sealed midway");
}

#[test]
fn absorbed_inputs_keep_the_first_flows_input_and_community_id() {
    // Inputs that overlap in time (two taps, or rotated captures): a later input holds a
    // finding's earliest flow, so the evidence and Community ID absorbed must name that
    // input and flow. Each input judged alone, merged in order (sealed or not, and through
    // an analyzer that absorbed others first), equals one analyzer judging them in order.
    let rs = example();
    let (hosts, ports) = (MIX_HOSTS, MIX_PORTS);
    let mut next = lcg(11u64);
    let files: Vec<String> = ["a.pcap", "b.pcap", "c.pcap", "d.pcap"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut inputs: Vec<Vec<FlowRecord>> = (0..files.len())
        .map(|k| {
            (0..800)
                .map(|i| {
                    let mut f = flow(
                        hosts[next(hosts.len())],
                        40000 + next(200) as u16,
                        hosts[next(hosts.len())],
                        ports[next(ports.len())],
                        [proto::TCP, proto::UDP][next(2)],
                        // Times spread over all inputs, with ties.
                        next(600) as i64 * NS_PER_SEC,
                    );
                    f.first_packet_index = (k * 1000 + i) as u64;
                    f.first_packet_offset = 24 + 100 * i as u64;
                    f
                })
                .collect()
        })
        .collect();
    // One finding seen first in a.pcap, its earliest flow in c.pcap.
    inputs[0].push(flow(
        "10.1.10.21",
        40001,
        "93.184.216.34",
        443,
        proto::TCP,
        900 * NS_PER_SEC,
    ));
    let mut early = flow(
        "10.1.10.21",
        40002,
        "93.184.216.34",
        443,
        proto::TCP,
        NS_PER_SEC / 2,
    );
    early.first_packet_index = 77;
    inputs[2].push(early.clone());
    let judge_alone = |k: usize| {
        let mut a = Analyzer::new(&rs);
        for f in &inputs[k] {
            a.observe(f, &files[k]);
        }
        a
    };
    let mut one = Analyzer::new(&rs);
    for (p, file) in inputs.iter().zip(&files) {
        for f in p {
            one.observe(f, file);
        }
    }
    let want = one.finish(&files);
    let scan = want
        .findings
        .iter()
        .find(|f| f.dst.ip.to_string() == "93.184.216.34" && f.src.ip.to_string() == "10.1.10.21")
        .expect("the planted finding");
    assert_eq!(scan.evidence.file, "c.pcap");
    assert_eq!(scan.evidence.first_packet_index, 77);
    assert_eq!(scan.src.port, 40002);
    assert_eq!(scan.community_id, early.community_id());
    assert!(
        want.findings
            .iter()
            .filter(|f| f.evidence.file != "a.pcap")
            .count()
            > 10,
        "later inputs hold many findings' first flows"
    );
    let want = format!("{want:?}");
    for seal in [false, true] {
        let mut merged = judge_alone(0);
        for k in 1..files.len() {
            let mut a = judge_alone(k);
            if seal {
                a.seal();
            }
            merged.absorb(a);
        }
        assert_eq!(
            format!("{:?}", merged.finish(&files)),
            want,
            "sealed: {seal}"
        );
    }
    // b and c merged first, then absorbed together.
    let mut merged = judge_alone(0);
    let mut bc = judge_alone(1);
    bc.absorb(judge_alone(2));
    bc.seal();
    merged.absorb(bc);
    merged.absorb(judge_alone(3));
    assert_eq!(format!("{:?}", merged.finish(&files)), want, "nested");
}

#[test]
fn findings_written_on_threads_equal_findings_written_on_one() {
    // More findings than one thread writes alone: an overflow finding, findings whose
    // initiator is unknown, and findings with reasons, in every part.
    let rs = example();
    let (hosts, ports) = (MIX_HOSTS, MIX_PORTS);
    let mut next = lcg(5u64);
    let flows: Vec<FlowRecord> = (0..9000u32)
        .map(|i| {
            let mut f = if i % 3 == 2 && i % 7 == 0 {
                // Tied in the report's order (the same time, endpoints and service): only
                // the order the findings were opened in sorts them.
                flow("10.3.20.15", 0, "93.184.216.34", i as u16, proto::ICMP, 7)
            } else if i % 3 != 2 {
                let dst = format!("93.184.{}.{}", i / 256 % 256, i % 256);
                flow("10.3.20.15", 40000, &dst, 443, proto::TCP, i64::from(i))
            } else {
                flow(
                    hosts[next(hosts.len())],
                    40000 + next(5000) as u16,
                    hosts[next(hosts.len())],
                    ports[next(ports.len())],
                    [proto::TCP, proto::UDP][next(2)],
                    i64::from(i) * 1000,
                )
            };
            f.initiator_known = i % 5 != 0;
            f.first_packet_index = u64::from(i);
            f
        })
        .collect();
    let judged = || {
        let mut a = Analyzer::new(&rs).max_findings(5000);
        for f in &flows {
            a.observe(f, "mix.pcap");
        }
        a
    };
    let files = ["mix.pcap".to_string()];
    let want = judged().finish(&files);
    assert!(
        want.findings.len() > 2 * SPLIT_MIN,
        "{}",
        want.findings.len()
    );
    let has = |text: &str| {
        want.findings
            .iter()
            .filter(|f| f.considered.iter().any(|c| c.contains(text)))
            .count()
    };
    assert!(
        has("distinct findings") > 1,
        "overflow findings of several rules"
    );
    assert!(has("initiator unknown") > 100);
    assert!(want.findings.iter().filter(|f| f.service == "icmp").count() > 100);
    assert!(want
        .findings
        .iter()
        .any(|f| f.considered.len() == 1 && has("not") > 0));
    let want = format!("{want:?}");
    for threads in [2, 3, 8] {
        assert_eq!(
            format!("{:?}", judged().finish_on(&files, threads)),
            want,
            "{threads} threads"
        );
    }
}

/// Judges `parts` (of inputs `files`) as the CLI's parallel runs do: the first by `merged`
/// itself, each later one by an analyzer of its own (`new`), sealed when `seal`, then
/// absorbed, or judged again by `merged` when it cannot be absorbed exactly. Returns how
/// many were absorbed and how many judged again.
fn merge_parts<'r>(
    merged: &mut Analyzer<'r>,
    parts: &[&[FlowRecord]],
    files: &[String],
    seal: bool,
    new: impl Fn() -> Analyzer<'r>,
) -> (usize, usize) {
    let (mut absorbed, mut again) = (0, 0);
    for (k, (p, file)) in parts.iter().zip(files).enumerate() {
        if k == 0 {
            for f in *p {
                merged.observe(f, file);
            }
            continue;
        }
        let mut a = new();
        for f in *p {
            a.observe(f, file);
        }
        if seal {
            a.seal();
        }
        if merged.absorbs_exactly(&a) {
            absorbed += 1;
            merged.absorb(a);
        } else {
            again += 1;
            for f in *p {
                merged.observe(f, file);
            }
        }
    }
    (absorbed, again)
}

#[test]
fn inputs_merged_past_the_bound_on_findings_equal_judging_them_in_order() {
    // Past the bound on findings, which ones are listed apart depends on the order they
    // opened in: inputs merged in the order each opened its findings list the same ones
    // as one analyzer judging every flow in order. An input whose own analyzer reached
    // the bound is judged again in order instead (as the CLI does), since what it
    // counted together cannot be told apart. Flows out of time order, with ties.
    let rs = example();
    let flows = mix_flows(13, 3000, |i, next| {
        ((3000 - i / 3) * NS_PER_SEC + next(2) as i64, None)
    });
    let files = ["a".to_string(), "b".to_string(), "c".to_string()];
    let parts = [&flows[..1000], &flows[1000..2200], &flows[2200..]];
    // The bounds: below any input's own count of findings, between the largest input's
    // and the whole run's (so the bound is reached only when merging), and above all.
    let count = |flows: &[FlowRecord]| {
        let mut a = Analyzer::new(&rs);
        for f in flows {
            a.observe(f, "x");
        }
        a.finish(&files).findings.len()
    };
    let largest = parts.iter().map(|p| count(p)).max().unwrap_or(0);
    let all = count(&flows);
    assert!(all > largest + 10, "{all} {largest}");
    let (mut merged_past, mut judged_again) = (0, 0);
    for bound in [
        5,
        40,
        largest + 1,
        (largest + all) / 2,
        all - 1,
        all,
        10_000,
    ] {
        let mut one = Analyzer::new(&rs).max_findings(bound);
        for (p, file) in parts.iter().zip(&files) {
            for f in *p {
                one.observe(f, file);
            }
        }
        let want = one.finish(&files);
        let overflowed = want.findings_overflowed > 0;
        let want = format!("{want:?}");
        for seal in [false, true] {
            let new = || Analyzer::new(&rs).max_findings(bound);
            let mut merged = new();
            let (absorbed, again) = merge_parts(&mut merged, &parts, &files, seal, new);
            merged_past += absorbed * usize::from(overflowed);
            judged_again += again;
            assert_eq!(
                format!("{:?}", merged.finish(&files)),
                want,
                "bound {bound}, sealed: {seal}"
            );
        }
    }
    assert!(
        merged_past > 0 && judged_again > 0,
        "{merged_past} {judged_again}"
    );

    // Two findings of one rule that overflow in the same merge: of their first flows,
    // which have the same time, the overflow finding shows the one observed first, as
    // judging in order does, though its finding opened second.
    let scan = |dst: &str, ts: i64, index: u64| {
        let mut f = flow("10.3.20.15", 40000 + index as u16, dst, 443, proto::TCP, ts);
        f.first_packet_index = index;
        f
    };
    let first = [scan("93.184.0.3", 20, 1), scan("93.184.0.4", 20, 2)];
    let second = [
        scan("93.184.0.1", 10, 3),
        scan("93.184.0.2", 5, 4),
        scan("93.184.0.1", 5, 5),
    ];
    let mut one = Analyzer::new(&rs).max_findings(2);
    for f in first.iter().chain(&second) {
        one.observe(f, "a");
    }
    let want = one.finish(&files);
    let over = want
        .findings
        .iter()
        .find(|f| f.considered.iter().any(|c| c.contains("distinct findings")))
        .expect("an overflow finding");
    assert_eq!(over.evidence.first_packet_index, 4);
    let mut merged = Analyzer::new(&rs).max_findings(2);
    for f in &first {
        merged.observe(f, "a");
    }
    let mut a = Analyzer::new(&rs).max_findings(2);
    for f in &second {
        a.observe(f, "a");
    }
    assert!(merged.absorbs_exactly(&a));
    merged.absorb(a);
    assert_eq!(format!("{:?}", merged.finish(&files)), format!("{want:?}"));
}

#[test]
fn inputs_merged_near_the_bound_on_macs_equal_judging_them_in_order() {
    // Which MACs are tracked once the bound on MACs is reached depends on the order they
    // were first seen, which a MAC table does not keep: inputs that could reach it
    // together are judged again in order (`absorbs_exactly`), as the CLI does.
    let rs = example();
    let flows = mix_flows(17, 3000, |i, next| {
        (
            i * NS_PER_SEC,
            Some([2, 0, 0, 0, next(2) as u8, next(40) as u8]),
        )
    });
    let files = ["a".to_string(), "b".to_string(), "c".to_string()];
    let parts = [&flows[..1000], &flows[1000..2200], &flows[2200..]];
    let (mut merged_near, mut judged_again) = (0, 0);
    for bound in [5, 30, 60, 75, 79, 80, 200] {
        let mut one = Analyzer::new(&rs).max_macs(bound);
        for (p, file) in parts.iter().zip(&files) {
            for f in *p {
                one.observe(f, file);
            }
        }
        let want = format!("{:?}", one.finish(&files));
        assert!(want.contains("02:00:00:00:"), "dual-homed MACs in the mix");
        let new = || Analyzer::new(&rs).max_macs(bound);
        let mut merged = new();
        let (absorbed, again) = merge_parts(&mut merged, &parts, &files, false, new);
        merged_near += absorbed;
        judged_again += again;
        assert_eq!(
            format!("{:?}", merged.finish(&files)),
            want,
            "bound {bound}"
        );
    }
    assert!(
        merged_near > 0 && judged_again > 0,
        "{merged_near} {judged_again}"
    );
}

#[test]
fn judging_a_batch_on_threads_equals_judging_it_in_order() {
    // The flows held at the end of an input: out of time order, many sharing a start
    // time, ICMP findings that differ only by type (so the report's sort leaves their
    // order to the order they were opened in), MACs seen in several segments, findings
    // opened before the batch and again in every part of it. On any number of threads,
    // and at the bound on findings (where the batch is judged on one thread), the result
    // is that of judging every flow in order.
    let rs = example();
    let (hosts, ports) = (MIX_HOSTS, MIX_PORTS);
    let mut next = lcg(5u64);
    let flows: Vec<FlowRecord> = (0..12_000)
        .map(|i| {
            let icmp = next(5) == 0;
            let mut f = flow(
                hosts[next(hosts.len())],
                40000 + next(50) as u16,
                hosts[next(hosts.len())],
                if icmp {
                    0x0800 + next(3) as u16
                } else {
                    ports[next(ports.len())]
                },
                if icmp {
                    proto::ICMP
                } else {
                    [proto::TCP, proto::UDP][next(2)]
                },
                next(20) as i64 * NS_PER_SEC,
            );
            f.first_packet_index = i as u64;
            f.initiator_known = next(8) != 0;
            f.src_mac = [None, Some([2, 0, 0, 0, next(2) as u8, next(64) as u8])][next(2)];
            f.dst_mac = [None, Some([2, 0, 0, 1, 0, next(64) as u8])][next(2)];
            f
        })
        .collect::<Vec<_>>();
    // Pairs of new ICMP findings that tie in the report's sort, spread over the batch,
    // whose evidence runs against the batch's order (a flow table's order is not the
    // capture's): only the order they were opened in tells them apart.
    let mut flows = flows;
    for k in 0..40u16 {
        for (n, kind) in [0x0800u16, 0x0300].into_iter().enumerate() {
            let mut f = flow(
                &format!("10.1.9.{}", 100 + k),
                0,
                "8.8.8.8",
                kind,
                proto::ICMP,
                5 * NS_PER_SEC,
            );
            f.first_packet_index = 1_000_000 - u64::from(2 * k) - n as u64;
            flows.insert(1000 + usize::from(k) * 270 + n, f);
        }
    }
    let (before, batch) = flows.split_at(700);
    let files = ["a".to_string()];
    let mut one = Analyzer::new(&rs);
    for f in &flows {
        one.observe(f, "a");
    }
    let opened = {
        let mut a = Analyzer::new(&rs);
        for f in before {
            a.observe(f, "a");
        }
        a.findings.len()
    };
    let whole = one.finish(&files);
    assert!(
        whole.findings.iter().any(|f| f.mac.is_some()),
        "dual-homed MACs"
    );
    let tied = whole
        .findings
        .iter()
        .filter(|f| f.service == "icmp" && f.src.ip.to_string().starts_with("10.1.9.1"))
        .count();
    assert_eq!(tied, 80, "tied ICMP findings");
    let want = format!("{whole:?}");
    for (threads, bound) in [
        (1, 100_000),
        (2, 100_000),
        (3, 100_000),
        (8, 100_000),
        // Just enough for every flow of the batch to open a finding: split.
        (2, opened + batch.len()),
        // One fewer: the batch could reach the bound, so one thread judges it.
        (2, opened + batch.len() - 1),
    ] {
        let mut a = Analyzer::new(&rs).max_findings(bound);
        for f in before {
            a.observe(f, "a");
        }
        a.observe_all(batch, "a", threads);
        assert_eq!(
            format!("{:?}", a.finish(&files)),
            want,
            "{threads} threads, max_findings {bound}"
        );
    }
    // Reached: the bound's overflow finding, as one thread gives it.
    let mut small = Analyzer::new(&rs).max_findings(50);
    let mut a = Analyzer::new(&rs).max_findings(50);
    for f in before {
        small.observe(f, "a");
        a.observe(f, "a");
    }
    for f in batch {
        small.observe(f, "a");
    }
    a.observe_all(batch, "a", 4);
    let small = small.finish(&files);
    assert!(small.findings_overflowed > 0, "the bound is reached");
    assert_eq!(format!("{:?}", a.finish(&files)), format!("{small:?}"));
}

/// The judgement cache's packed key tells apart every field a verdict depends on (an
/// IPv4 address and the IPv6 address with the same low bits included) and ignores the
/// source port when the initiator is known.
#[test]
fn judge_keys_are_exact() {
    // As from a flow export that does not say who started: the source port counts.
    let unknown = |src, sp, dst, dp, proto| FlowRecord {
        initiator_known: false,
        ..flow(src, sp, dst, dp, proto, 0)
    };
    let base = unknown("10.1.0.5", 40000, "10.2.0.9", 445, 6);
    let variants: Vec<FlowRecord> = vec![
        base.clone(),
        unknown("::a01:5", 40000, "10.2.0.9", 445, 6),
        unknown("10.1.0.5", 40000, "::a02:9", 445, 6),
        unknown("10.1.0.6", 40000, "10.2.0.9", 445, 6),
        unknown("10.1.0.5", 40000, "10.2.0.8", 445, 6),
        unknown("10.1.0.5", 40001, "10.2.0.9", 445, 6),
        unknown("10.1.0.5", 40000, "10.2.0.9", 446, 6),
        unknown("10.1.0.5", 40000, "10.2.0.9", 445, 17),
        FlowRecord {
            vlan: Some(0),
            ..base.clone()
        },
        FlowRecord {
            vlan: Some(0xffff),
            ..base.clone()
        },
        FlowRecord {
            initiator_known: true,
            ..base.clone()
        },
    ];
    let keys: Vec<JudgeKey> = variants.iter().map(|f| JudgeKey::of(f, 0)).collect();
    for (i, a) in keys.iter().enumerate() {
        for (j, b) in keys.iter().enumerate() {
            assert_eq!(
                a == b,
                i == j,
                "{:?} against {:?}",
                variants[i],
                variants[j]
            );
        }
    }
    assert_ne!(
        JudgeKey::of(&base, 0),
        JudgeKey::of(&base, 1),
        "the epoch counts"
    );
    let k = JudgeKey::of(&base, 0);
    let slot = Slot {
        words: k.words,
        epoch: k.epoch,
        finding: NO_FINDING,
        src: ClassId(0),
        dst: ClassId(0),
        verdict: Short::Violation { rule: 0 },
    };
    assert!(slot.holds(&k));
    assert!(
        !slot.holds(&JudgeKey::of(&base, 1)),
        "a slot holds its epoch"
    );
    assert!(!slot.holds(&keys[5]));
    let known = |sp| FlowRecord {
        initiator_known: true,
        src_port: sp,
        ..base.clone()
    };
    assert_eq!(JudgeKey::of(&known(1), 0), JudgeKey::of(&known(2), 0));
}

#[test]
fn export_records_judge_as_their_flow_records() {
    // `observe_export` reads the export record itself and builds the flow record only
    // for fresh judgements, new findings, earlier evidence and MACs: every verdict and
    // the whole analysis must equal `observe` of `from_export`, with the cache and
    // without it, bounded or not.
    use crate::input::export::{ExportKind, ExportRecord};
    let rs = example();
    let (hosts, ports) = (MIX_HOSTS, MIX_PORTS);
    let expiry = rs.exceptions[0].expires_at.expect("EX-001 expires");
    let mut next = lcg(23u64);
    let records: Vec<ExportRecord> = (0..8000)
        .map(|i| {
            // Within minutes of EX-001's expiry, some records of the flow it permits,
            // some of which start before it and end after.
            let start = expiry + (i - 4000) * NS_PER_SEC / 20 - next(3) as i64 * NS_PER_SEC;
            let excepted = next(6) == 0;
            let (src, dst) = if excepted {
                ("10.1.9.5", "172.20.1.5")
            } else {
                (hosts[next(hosts.len())], hosts[next(hosts.len())])
            };
            ExportRecord {
                kind: ExportKind::Ipfix,
                exporter: "192.0.2.1".parse().unwrap(),
                domain: 1,
                src: src.parse().unwrap(),
                dst: dst.parse().unwrap(),
                src_port: [40000, 40001, 443, 3389][next(4)],
                dst_port: if excepted {
                    443
                } else {
                    ports[next(ports.len())]
                },
                proto: [proto::TCP, proto::UDP, proto::TCP][next(3)],
                // SYN alone makes the initiator known; SYN-ACK, ACK and none do not.
                tcp_flags: [None, Some(0x02), Some(0x12), Some(0x10)][next(4)],
                packets: [0, 1, 4, u64::MAX - 1][next(4)],
                bytes: [0, 60, 1500, u64::MAX - 5][next(4)],
                reverse: [None, Some((3, 900, 0x12)), Some((1, u64::MAX, 0))][next(3)],
                initiator_known: next(5) == 0,
                start,
                end: start + next(4) as i64 * NS_PER_SEC,
                in_if: 1,
                out_if: 2,
                vlan: [None, Some(10)][next(2)],
                src_mac: [None, Some([2, 0, 0, 0, 0, next(3) as u8])][usize::from(next(8) == 0)],
                dst_mac: [None, Some([2, 0, 0, 0, 1, next(3) as u8])][usize::from(next(8) == 0)],
                sampling: 1,
                datagram_index: i as u64,
                datagram_offset: 100 * i as u64,
            }
        })
        .collect();
    // Batches of random sizes, inputs alternating between them.
    let mut chunks = Vec::new();
    while chunks.last().map_or(0, |c: &std::ops::Range<usize>| c.end) < records.len() {
        let at = chunks.last().map_or(0, |c: &std::ops::Range<usize>| c.end);
        chunks.push(at..(at + 1 + next(40)).min(records.len()));
    }
    let inputs: Vec<u32> = (0..chunks.len())
        .flat_map(|k| std::iter::repeat_n((k % 2) as u32, chunks[k].len()))
        .collect();
    for (bound, slots) in [(7, 1 << 14), (100_000, 1 << 14), (100_000, 4)] {
        let mut direct = Analyzer::new(&rs)
            .max_findings(bound)
            .judge_cache_slots(slots);
        let mut built = Analyzer::new(&rs)
            .max_findings(bound)
            .judge_cache_slots(slots);
        for (i, r) in records.iter().enumerate() {
            let input = inputs[i];
            assert_eq!(
                direct.observe_export(r, input, "a"),
                built.observe(&from_export(r, input), "a"),
                "record {i}: {r:?}"
            );
        }
        // In batches (their cache sets fetched ahead) of random sizes, per input.
        let mut batched = Analyzer::new(&rs)
            .max_findings(bound)
            .judge_cache_slots(slots);
        for (k, chunk) in chunks.iter().enumerate() {
            batched.observe_exports(&records[chunk.clone()], (k % 2) as u32, "a");
        }
        let names = ["a".to_string(), "b".to_string()];
        let (d, b) = (direct.finish(&names), built.finish(&names));
        assert!(d.violating_flows > 1000, "the mix has violations");
        assert!(!d.findings.is_empty());
        assert_eq!(
            format!("{d:?}"),
            format!("{b:?}"),
            "max_findings {bound}, {slots} slots"
        );
        let n = batched.finish(&names);
        assert_eq!(
            format!("{n:?}"),
            format!("{b:?}"),
            "batched, {bound}, {slots} slots"
        );
    }
}

#[test]
fn finding_ids_are_sixteen_hex_digits_of_a_sha256() {
    // Pinned: reports and baselines of earlier runs name findings by these ids.
    // (`python3 -c "import hashlib; print(hashlib.sha256(b'...').hexdigest()[:16])"`)
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(
        finding_id("R-001", ip("10.1.9.5"), ip("8.8.8.8"), "tcp/443"),
        "f611ddb22f9fe9ff"
    );
    assert_eq!(
        finding_id("R-002", ip("2001:db8::1"), ip("10.2.10.21"), "icmp"),
        "c70d5754a97f86ad"
    );
    // Built without `fmt`: the same bytes as `format!` for addresses of every shape.
    let mut x = 0x0bad_cafe_f00d_d00d_u64;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v4 = IpAddr::from((x as u32).to_be_bytes());
        let v6 = IpAddr::from(std::net::Ipv6Addr::from(u128::from(x) << (x % 80) as u32));
        for (src, dst) in [(v4, v6), (v6, v4), (v4, v4)] {
            let want = {
                use sha2::{Digest, Sha256};
                let h = Sha256::digest(format!("LG-01|{src}|{dst}|udp/53").as_bytes());
                h[..8]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            };
            assert_eq!(finding_id("LG-01", src, dst, "udp/53"), want);
        }
    }
}

#[test]
fn taking_in_a_stably_sorted_order_is_the_stable_sort() {
    // Many ties (keys 0..7), so a reordering of equal elements shows in their tags.
    let mut x = 0x1234_5678_9abc_def0_u64;
    for n in [0, 1, 2, 17, 300, 5000] {
        let v: Vec<(u8, usize)> = (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x % 7) as u8, i)
            })
            .collect();
        let mut order: Vec<usize> = (0..v.len()).collect();
        order.sort_by_key(|&i| v[i].0);
        let mut ours = v.clone();
        take_in_order(&mut ours, order);
        let mut theirs = v;
        theirs.sort_by_key(|a| a.0);
        assert_eq!(ours, theirs, "{n} elements");
    }
}

#[test]
fn the_report_order_compares_ranks_as_the_strings_would() {
    // Rule ids and services whose byte order is not their numbers' ("tcp/1000" before
    // "tcp/25", "LG-10" before "LG-9"), IPv4 and IPv6 endpoints, few start times (some
    // negative) and severities, and many findings equal in every key (told apart by `flows`, their
    // order before sorting): ranked, the sort gives the stable sort of the strings.
    let rs = example();
    let rule = &rs.rules[0].def;
    let rule_ids = ["LG-9", "LG-10", "MN-1", "IN-02", "LG-1"];
    let services = ["tcp/25", "tcp/1000", "udp/53", "icmp", "-", "tcp/250"];
    let ips = [
        "10.1.9.5",
        "10.1.9.40",
        "8.8.8.8",
        "2001:db8::1",
        "::ffff:10.1.9.5",
    ];
    let mut next = lcg(3u64);
    let endpoint = |ip: &str| FindingEndpoint {
        ip: ip.parse().unwrap(),
        port: 0,
        class: String::new(),
        prefix: None,
    };
    for n in [0, 1, 2, 50, 4000] {
        let findings: Vec<Finding> = (0..n)
            .map(|i| {
                let mut f = Finding::of_rule(
                    rule,
                    endpoint(ips[next(ips.len())]),
                    endpoint(ips[next(ips.len())]),
                );
                f.rule_id = rule_ids[next(rule_ids.len())].to_string();
                f.severity = [
                    Severity::High,
                    Severity::Info,
                    Severity::Low,
                    Severity::Medium,
                ][next(4)];
                f.service = services[next(services.len())].to_string();
                // Before 1970 too.
                f.first_ts = [i64::MIN, -1, 0, 1, i64::MAX][next(5)];
                f.flows = i as u64;
                f
            })
            .collect();
        let mut ours = findings.clone();
        sort_for_report(&mut ours);
        let mut theirs = findings;
        theirs.sort_by(|a, b| {
            (
                std::cmp::Reverse(a.severity),
                &a.rule_id,
                a.first_ts,
                a.src.ip,
                a.dst.ip,
                &a.service,
            )
                .cmp(&(
                    std::cmp::Reverse(b.severity),
                    &b.rule_id,
                    b.first_ts,
                    b.src.ip,
                    b.dst.ip,
                    &b.service,
                ))
        });
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"), "{n} findings");
    }
}
