//! Flow exports against tshark: every file in `../shared/samples/netflow` (NetFlow v5/v9,
//! IPFIX, sFlow; in pcaps on odd ports and as raw collector dumps). For every NetFlow/IPFIX
//! record the addresses, ports, protocol, packets and bytes must equal what tshark decodes;
//! for sFlow the flow samples, their sampling rates and sampled 5-tuples must agree.
//! tshark is required under CI and skipped loudly elsewhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod common;
#[path = "../benches/datagrams.rs"]
#[allow(dead_code)]
mod datagrams;
use common::{analyze_ndjson, repo_root, run, NO_TIMEOUTS};

fn netflow(name: &str) -> PathBuf {
    repo_root().join("../shared/samples/netflow").join(name)
}

fn have_tshark() -> bool {
    common::have("tshark", "--version", "tshark")
}

fn temp(name: &str) -> PathBuf {
    common::scratch("exports").join(name)
}

/// Concatenates classic pcaps of the same link type.
fn concat_pcaps(files: &[PathBuf]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let b = std::fs::read(f).unwrap();
        out.extend_from_slice(if i == 0 { &b } else { &b[24..] });
    }
    out
}

/// (src, dst, sport, dport, proto, packets, bytes, reverse packets, reverse bytes)
type Rec = (String, String, u64, u64, u64, u64, u64, u64, u64);

fn field(o: &serde_json::Map<String, Value>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| o.get(*n).and_then(|v| v.as_str()).map(str::to_string))
}

fn tshark_records(pcap: &Path) -> Vec<Rec> {
    // Two passes, so data sets that precede their template are decoded (as we do).
    let mut cmd = Command::new("tshark");
    cmd.arg("-2").arg("-r").arg(pcap).args(["-T", "json"]);
    for port in [2055, 9990, 9991, 9995, 9996, 4739] {
        cmd.args(["-d", &format!("udp.port=={port},cflow")]);
    }
    let out = run(&mut cmd);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Array(vec![]));
    let mut recs = Vec::new();
    fn walk(v: &Value, recs: &mut Vec<Rec>) {
        match v {
            Value::Object(o) => {
                let src = field(o, &["cflow.srcaddr", "cflow.srcaddrv6"]);
                if let (Some(mut src), Some(mut dst)) =
                    (src, field(o, &["cflow.dstaddr", "cflow.dstaddrv6"]))
                {
                    // Templates with both families: the unspecified one is filler.
                    if src == "0.0.0.0" || src == "::" {
                        src = field(o, &["cflow.srcaddrv6"])
                            .filter(|s| s != "::")
                            .unwrap_or(src);
                    }
                    if dst == "0.0.0.0" || dst == "::" {
                        dst = field(o, &["cflow.dstaddrv6"])
                            .filter(|s| s != "::")
                            .unwrap_or(dst);
                    }
                    let n = |names: &[&str]| {
                        field(o, names)
                            .and_then(|s| s.parse::<u64>().ok())
                            .unwrap_or(0)
                    };
                    let proto = n(&["cflow.protocol"]);
                    let icmp = proto == 1 || proto == 58;
                    recs.push((
                        src,
                        dst,
                        if icmp { 0 } else { n(&["cflow.srcport"]) },
                        if icmp { 0 } else { n(&["cflow.dstport"]) },
                        proto,
                        n(&[
                            "cflow.packets",
                            "cflow.packets64",
                            "cflow.initiator_packets",
                        ]),
                        n(&[
                            "cflow.octets",
                            "cflow.octets64",
                            "cflow.initiator_octets",
                            "cflow.permanent_octets",
                        ]),
                        n(&["cflow.responder_packets"]),
                        n(&["cflow.responder_octets"]),
                    ));
                    return;
                }
                for x in o.values() {
                    walk(x, recs);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, recs)),
            _ => {}
        }
    }
    walk(&v, &mut recs);
    recs.sort();
    recs
}

fn our_flows(inputs: &[PathBuf]) -> (Output, Vec<Value>) {
    let out = run(Command::new(env!("CARGO_BIN_EXE_flowcli"))
        .args(["flows", "--format", "ndjson"])
        .args(NO_TIMEOUTS)
        .args(inputs));
    let flows = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out, flows)
}

fn our_records(flows: &[Value]) -> Vec<Rec> {
    let mut recs: Vec<Rec> = flows
        .iter()
        .filter(|f| {
            matches!(
                f["source"].as_str(),
                Some("netflow5" | "netflow9" | "ipfix")
            )
        })
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            let n = |k: &str| f[k].as_u64().unwrap();
            let icmp = n("proto") == 1 || n("proto") == 58;
            (
                s("src_ip"),
                s("dst_ip"),
                if icmp { 0 } else { n("src_port") },
                if icmp { 0 } else { n("dst_port") },
                n("proto"),
                n("fwd_packets"),
                n("fwd_bytes"),
                n("rev_packets"),
                n("rev_bytes"),
            )
        })
        .collect();
    recs.sort();
    recs
}

#[test]
fn netflow_and_ipfix_records_equal_tshark() {
    if !have_tshark() {
        return;
    }
    // (what we read, what tshark reads): raw dumps are wrapped in UDP for tshark; split
    // template/data captures are concatenated in order.
    let dat = |names: &[&str], wrapped: &str| -> (Vec<PathBuf>, PathBuf) {
        let files: Vec<PathBuf> = names.iter().map(|n| netflow(n)).collect();
        // Each dump is one datagram, except NetFlow v5 dumps of several, split by their
        // header's record count (24 + 48 * count bytes each), as MANIFEST.md describes.
        let mut datagrams: Vec<Vec<u8>> = Vec::new();
        for f in &files {
            let b = std::fs::read(f).unwrap();
            if b[..2] == [0, 5] {
                let mut o = 0;
                while o + 4 <= b.len() {
                    let len = 24 + 48 * usize::from(u16::from_be_bytes([b[o + 2], b[o + 3]]));
                    datagrams.push(b[o..(o + len).min(b.len())].to_vec());
                    o += len;
                }
            } else {
                datagrams.push(b);
            }
        }
        let p = temp(wrapped);
        std::fs::write(&p, datagrams::pcap(&datagrams)).unwrap();
        (files, p)
    };
    let pcap = |name: &str| (vec![netflow(name)], netflow(name));
    let juniper = {
        let files = vec![
            netflow("akvorado-juniper-cpid-template.pcap"),
            netflow("akvorado-juniper-cpid-data.pcap"),
        ];
        let p = temp("juniper.pcap");
        std::fs::write(&p, concat_pcaps(&files)).unwrap();
        (files, p)
    };
    let cases = vec![
        ("akvorado-nfv5", pcap("akvorado-nfv5.pcap")),
        (
            "akvorado-data+templates",
            pcap("akvorado-data+templates.pcap"),
        ),
        (
            "akvorado-physicalinterfaces",
            pcap("akvorado-physicalinterfaces.pcap"),
        ),
        ("akvorado-juniper-cpid", juniper),
        (
            "pmacct-101-NFv9-CISCO",
            pcap("pmacct-101-NFv9-CISCO-traffic-00.pcap"),
        ),
        (
            "pmacct-106-IPFIX-HUAWEI",
            pcap("pmacct-106-IPFIXv10-HUAWEI-traffic-00.pcap"),
        ),
        (
            "pmacct-112-IPFIX-CISCO-options",
            pcap("pmacct-112-IPFIXv10-CISCO-options-map-reassignment-traffic-00.pcap"),
        ),
        (
            "logstash-netflow5",
            dat(&["logstash-netflow5.dat"], "nf5.pcap"),
        ),
        (
            "logstash-netflow9-asa",
            dat(
                &[
                    "logstash-netflow9_test_cisco_asa_1_tpl.dat",
                    "logstash-netflow9_test_cisco_asa_1_data.dat",
                ],
                "asa.pcap",
            ),
        ),
        (
            "logstash-netflow9-0length",
            dat(
                &["logstash-netflow9_test_0length_fields_tpl_data.dat"],
                "zero.pcap",
            ),
        ),
        (
            "logstash-ipfix-netscaler",
            dat(
                &[
                    "logstash-ipfix_test_netscaler_tpl.dat",
                    "logstash-ipfix_test_netscaler_data.dat",
                ],
                "netscaler.pcap",
            ),
        ),
    ];
    let mut report = Vec::new();
    for (name, (ours_in, tshark_in)) in cases {
        let want = tshark_records(&tshark_in);
        let (out, flows) = our_flows(&ours_in);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !stderr.contains("panicked"),
            "{name}: {stderr}"
        );
        let got = our_records(&flows);
        match name {
            // Juniper's CPID template carries no flow keys: nothing to compare, but its data
            // must have been decoded with the template from the other file.
            "akvorado-juniper-cpid" => {
                assert!(
                    stderr.contains("1 templates") && stderr.contains(" 0 undecodable"),
                    "{name}: {stderr}"
                )
            }
            // Options templates and their data only; the flow data sets name templates the
            // exporter never sent in their transport session (it restarted on a new source
            // port): tshark reports 6 data sets with "no template found", and so do we.
            "pmacct-112-IPFIX-CISCO-options" => {
                assert!(
                    stderr.contains("76 options records") && stderr.contains(" 6 undecodable"),
                    "{name}: {stderr}"
                )
            }
            _ => assert!(!want.is_empty(), "{name}: tshark decoded no records"),
        }
        assert_eq!(got, want, "{name}: records differ from tshark");
        report.push(format!("{name}: {} records = tshark", got.len()));
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn corrupt_v5_count_is_a_warning_with_the_offset() {
    let f = netflow("logstash-netflow5_test_invalid01.dat");
    let (out, flows) = our_flows(&[f]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "at byte 0: NetFlow v5 header claims 55582 records but the datagram holds 30"
        ),
        "{stderr}"
    );
    assert_eq!(flows.len(), 30, "the records that fit are still read");
}

#[test]
fn data_before_its_template_is_held_then_decoded() {
    let tpl = netflow("logstash-netflow9_test_cisco_asa_1_tpl.dat");
    let data = netflow("logstash-netflow9_test_cisco_asa_1_data.dat");
    let (_, in_order) = our_flows(&[tpl.clone(), data.clone()]);
    let (out, reversed) = our_flows(&[data, tpl]);
    assert!(!in_order.is_empty());
    let strip = |v: &[Value]| {
        let mut r = our_records(v);
        r.sort();
        r
    };
    assert_eq!(strip(&in_order), strip(&reversed));
    assert!(String::from_utf8_lossy(&out.stderr).contains("data sets decoded after their template"));
    // Data alone: counted as undecodable, nothing invented.
    let (out, flows) = our_flows(&[netflow("logstash-netflow9_test_cisco_asa_1_data.dat")]);
    assert!(flows.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 undecodable"));
}

#[test]
fn sflow_samples_equal_tshark() {
    if !have_tshark() {
        return;
    }
    for name in [
        "tcpdump-sflow-print-v6.pcap",
        "tcpdump-sflow_multiple_counter_30_pdus.pcap",
    ] {
        let f = netflow(name);
        // tshark: every flow sample's sampling rate.
        let out = run(Command::new("tshark").arg("-r").arg(&f).args([
            "-T",
            "fields",
            "-e",
            "sflow.flow_sample.sampling_rate",
            "-E",
            "occurrence=a",
        ]));
        let rates: Vec<u64> = String::from_utf8_lossy(&out.stdout)
            .split([',', '\n'])
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        let (out, flows) = our_flows(std::slice::from_ref(&f));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let sflow: Vec<&Value> = flows.iter().filter(|f| f["source"] == "sflow").collect();
        let packets: u64 = sflow
            .iter()
            .map(|f| f["fwd_packets"].as_u64().unwrap() + f["rev_packets"].as_u64().unwrap())
            .sum();
        assert_eq!(
            packets,
            rates.iter().sum::<u64>(),
            "{name}: sampled packets x rate"
        );
        assert!(
            stderr.contains(&format!("{} sFlow flow samples", rates.len())),
            "{name}: {stderr}"
        );
        // The NetFlow v5 datagrams sharing port 6343 are decoded by content.
        if name.contains("30_pdus") {
            let v5 = flows.iter().filter(|f| f["source"] == "netflow5").count();
            assert_eq!(v5, 7, "{name}: 3 datagrams of 1 record and 2 of 2");
            let out = run(Command::new("tshark").arg("-r").arg(&f).args([
                "-d",
                "udp.port==6343,cflow",
                "-T",
                "fields",
                "-e",
                "cflow.count",
            ]));
            let tshark_v5: u64 = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.trim().parse::<u64>().ok())
                .sum();
            assert_eq!(tshark_v5, 7);
        }
    }
}

#[test]
fn exports_are_judged_like_packets_and_initiators_are_not_guessed() {
    // A NetFlow v5 export of the project's sample, written here from its own flows: a v5
    // record per direction. The analysis of the export finds the same violations for the
    // IPv4 pairs, and says when the initiator is unknown.
    let root = repo_root();
    let (_, flows) = our_flows(&[root.join("samples/ome-city-sample.pcap")]);
    let mut datagrams = Vec::new();
    let mut recs: Vec<[u8; 48]> = Vec::new();
    for f in &flows {
        let (Ok(src), Ok(dst)) = (
            f["src_ip"].as_str().unwrap().parse::<std::net::Ipv4Addr>(),
            f["dst_ip"].as_str().unwrap().parse::<std::net::Ipv4Addr>(),
        ) else {
            continue; // v5 carries IPv4 only
        };
        for (a, b, ap, bp, p, o, fl) in [
            (
                src,
                dst,
                "src_port",
                "dst_port",
                "fwd_packets",
                "fwd_bytes",
                "fwd_tcp_flags",
            ),
            (
                dst,
                src,
                "dst_port",
                "src_port",
                "rev_packets",
                "rev_bytes",
                "rev_tcp_flags",
            ),
        ] {
            if f[p].as_u64().unwrap() == 0 {
                continue;
            }
            let mut r = [0u8; 48];
            r[0..4].copy_from_slice(&a.octets());
            r[4..8].copy_from_slice(&b.octets());
            r[16..20].copy_from_slice(&(f[p].as_u64().unwrap() as u32).to_be_bytes());
            r[20..24].copy_from_slice(&(f[o].as_u64().unwrap() as u32).to_be_bytes());
            r[32..34].copy_from_slice(&(f[ap].as_u64().unwrap() as u16).to_be_bytes());
            r[34..36].copy_from_slice(&(f[bp].as_u64().unwrap() as u16).to_be_bytes());
            r[37] = f[fl].as_u64().unwrap() as u8;
            r[38] = f["proto"].as_u64().unwrap() as u8;
            recs.push(r);
        }
    }
    for chunk in recs.chunks(30) {
        let mut d = vec![0, 5];
        d.extend((chunk.len() as u16).to_be_bytes());
        d.extend(1000u32.to_be_bytes());
        d.extend(1_795_532_400u32.to_be_bytes());
        d.extend([0u8; 12]);
        for r in chunk {
            d.extend_from_slice(r);
        }
        datagrams.push(d);
    }
    let dump = temp("sample.v5");
    std::fs::write(&dump, datagrams.concat()).unwrap();
    let analyze = |extra: &[&str], input: &Path| -> Vec<Value> {
        let out = analyze_ndjson("rulesets/ome-city.toml", extra, input);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let key = |f: &Value| format!("{} {}", f["rule_id"], f["service"]);
    let from_packets: std::collections::BTreeSet<String> =
        analyze(&[], &root.join("samples/ome-city-sample.pcap"))
            .iter()
            .filter(|f| !f["src_ip"].as_str().unwrap().contains(':') && f["rule_id"] != "DH-01")
            .map(key)
            .collect();
    let paired = analyze(&["--pair-exports"], &dump);
    let from_export: std::collections::BTreeSet<String> = paired.iter().map(key).collect();
    assert_eq!(from_export, from_packets);
    // Unpaired, a record whose flags cannot tell who started says so.
    let unpaired = analyze(&[], &dump);
    let unknown: Vec<&Value> = unpaired
        .iter()
        .filter(|f| f["initiator"] == "unknown")
        .collect();
    assert!(!unknown.is_empty());
    assert!(unknown.iter().all(|f| f["considered"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().unwrap().contains("initiator unknown"))));
    let _ = BTreeMap::<u8, u8>::new();
}

fn have(tool: &str, arg: &str) -> bool {
    common::have(tool, arg, "softflowd tcpdump")
}

/// Runs softflowd over the sample capture, exporting to a loopback port while tcpdump
/// records the export; returns the recorded capture.
fn softflowd_export(version: &str, extra: &[&str]) -> PathBuf {
    let port = 20_000 + (std::process::id() % 20_000) as u16 + version.parse::<u16>().unwrap();
    let out = temp(&format!("softflowd-v{version}.pcap"));
    let _ = std::fs::remove_file(&out);
    let mut dump = Command::new("tcpdump")
        .args(["-i", "lo", "-U", "-n", "-w"])
        .arg(&out)
        .args(["udp", "port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tcpdump");
    // Wait until tcpdump listens (it says so on stderr).
    let mut err = dump.stderr.take().unwrap();
    let mut buf = [0u8; 256];
    let _ = std::io::Read::read(&mut err, &mut buf);
    std::thread::sleep(std::time::Duration::from_millis(700));
    let sample = repo_root().join("samples/ome-city-sample.pcap");
    let mut sf = Command::new("softflowd");
    sf.arg("-r")
        .arg(&sample)
        .args(["-n", &format!("127.0.0.1:{port}"), "-v", version, "-d"]);
    sf.args(extra);
    // softflowd reads the file, exports every flow at its end and exits; a watchdog makes
    // sure a stuck run fails the test instead of hanging it.
    let mut child = sf
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start softflowd");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let Some(status) = status else {
        let _ = dump.kill();
        panic!("softflowd -v {version} did not finish within 30 s");
    };
    assert!(status.success(), "softflowd -v {version}: {status}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = Command::new("kill")
        .args(["-INT", &dump.id().to_string()])
        .status();
    let _ = dump.wait();
    out
}

#[test]
fn softflowd_round_trip_gives_the_same_flows_and_findings() {
    if !have("softflowd", "-h") || !have("tcpdump", "--version") {
        return;
    }
    let root = repo_root();
    let sample = root.join("samples/ome-city-sample.pcap");
    let (_, packet_flows) = our_flows(std::slice::from_ref(&sample));
    // Per direction: (src, dst, proto) -> (packets, wire bytes).
    let mut expected: BTreeMap<(String, String, u64), (u64, u64)> = BTreeMap::new();
    for f in &packet_flows {
        let s = |k: &str| f[k].as_str().unwrap().to_string();
        let n = |k: &str| f[k].as_u64().unwrap();
        for (a, b, p, o) in [
            ("src_ip", "dst_ip", "fwd_packets", "fwd_bytes"),
            ("dst_ip", "src_ip", "rev_packets", "rev_bytes"),
        ] {
            if n(p) > 0 {
                let e = expected.entry((s(a), s(b), n("proto"))).or_default();
                e.0 += n(p);
                e.1 += n(o);
            }
        }
    }
    let findings = |input: &Path, extra: &[&str]| -> std::collections::BTreeSet<String> {
        let out = analyze_ndjson("rulesets/ome-city.toml", extra, input);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|f| f["rule_id"] != "DH-01") // exports carry no MAC addresses here
            .map(|f| {
                format!(
                    "{} {} -> {}",
                    f["rule_id"].as_str().unwrap(),
                    f["src_ip"].as_str().unwrap(),
                    f["dst_ip"].as_str().unwrap()
                )
            })
            .collect()
    };
    let from_packets = findings(&sample, &[]);
    // v5 and v9 carry one record per direction without saying who started; IPFIX in
    // softflowd's bidirectional mode (-b, RFC 5103 reverse fields) orients biflows by
    // address, not by initiator, so it does not say either.
    for (version, extra, ordered) in [
        ("5", &[][..], false),
        ("9", &["-6"][..], false),
        ("10", &["-6", "-b"][..], false),
    ] {
        let export = softflowd_export(version, extra);
        let (out, flows) = our_flows(std::slice::from_ref(&export));
        assert!(
            out.status.success(),
            "v{version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut got: BTreeMap<(String, String, u64), (u64, u64)> = BTreeMap::new();
        for f in flows.iter().filter(|f| f["source"] != "packets") {
            let (s, d, p) = (
                f["src_ip"].as_str().unwrap(),
                f["dst_ip"].as_str().unwrap(),
                f["proto"].as_u64().unwrap(),
            );
            for (a, b, pk, by) in [
                (s, d, "fwd_packets", "fwd_bytes"),
                (d, s, "rev_packets", "rev_bytes"),
            ] {
                if f[pk].as_u64().unwrap() > 0 {
                    let e = got.entry((a.into(), b.into(), p)).or_default();
                    e.0 += f[pk].as_u64().unwrap();
                    e.1 += f[by].as_u64().unwrap();
                }
            }
        }
        let want: BTreeMap<_, _> = expected
            .iter()
            .filter(|((s, _, _), _)| version != "5" || !s.contains(':'))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "v{version}: conversations"
        );
        for (k, (pk, l3)) in &got {
            let (wpk, wire) = want[k];
            assert_eq!(*pk, wpk, "v{version} {k:?}: packets");
            // Exporters count IP bytes; the capture counts frames: 14 (Ethernet) or 18
            // (802.1Q) bytes more per packet.
            let l2 = (wire - l3) / pk;
            assert!(
                (wire - l3) % pk == 0 && (l2 == 14 || l2 == 18),
                "v{version} {k:?}: {l3} IP bytes vs {wire} wire bytes"
            );
        }
        // Without the initiator, a finding's direction is the record's: compare endpoints
        // as unordered pairs then.
        let unorder =
            |set: &std::collections::BTreeSet<String>| -> std::collections::BTreeSet<String> {
                set.iter()
                    .map(|f| {
                        let (rule, pair) = f.split_once(' ').unwrap();
                        let (a, b) = pair.split_once(" -> ").unwrap();
                        if ordered || a <= b {
                            f.clone()
                        } else {
                            format!("{rule} {b} -> {a}")
                        }
                    })
                    .collect()
            };
        let from_export = unorder(&findings(&export, &["--pair-exports"]));
        let want = unorder(
            &from_packets
                .iter()
                .filter(|f| version != "5" || !f.contains(':'))
                .cloned()
                .collect(),
        );
        assert_eq!(
            from_export, want,
            "v{version}: findings from the export differ from the packets'"
        );
        eprintln!(
            "softflowd -v {version}: {} conversations and {} findings = packets",
            got.len(),
            from_export.len()
        );
    }
}
