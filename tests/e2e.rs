//! End-to-end tests of the `flowcli` binary over the real third-party captures in
//! `../shared/samples` (see its MANIFEST.md), checked against Wireshark's own tools:
//! packet counts against `capinfos -c`, per-conversation packet and byte totals and
//! Community IDs against `tshark`.
//!
//! The reference tools come from Debian (`apt-get install tshark wireshark-common`).
//! When they are missing the comparisons are SKIPPED with a loud message; under CI
//! (`CI` set) a missing tool is a failure, so a green CI always means they ran.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod common;
use common::{flowcli, repo_root, run, samples, temp_dir, NO_TIMEOUTS};

/// tshark and capinfos, from Debian's wireshark packages.
fn have(tool: &str) -> bool {
    common::have(tool, "--version", "tshark wireshark-common")
}

fn sample_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["pcap", "pcapng"] {
        let d = samples().join(dir);
        let rd = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for e in rd {
            files.push(e.unwrap().path());
        }
    }
    files.sort();
    assert!(
        files.len() >= 30,
        "expected the shared sample corpus, found {}",
        files.len()
    );
    files
}

fn flows_json(file: &Path) -> (Output, Option<Value>) {
    let out = run(flowcli()
        .args(["flows", "--format", "json"])
        .args(NO_TIMEOUTS)
        .arg(file));
    let v = serde_json::from_slice(&out.stdout).ok();
    (out, v)
}

/// `capinfos -c`: the packet count, or the count read before an error, and whether it failed.
fn capinfos_count(file: &Path) -> (Option<u64>, bool) {
    let out = run(Command::new("capinfos").args(["-c", "-M"]).arg(file));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let failed = !out.status.success();
    let num = |pat: &str| {
        text.find(pat).and_then(|i| {
            text[i + pat.len()..]
                .trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
        })
    };
    (
        num("Number of packets:").or_else(|| num("after reading")),
        failed,
    )
}

/// Comparison key of a conversation: protocol and the sorted endpoint pair (ports for TCP
/// and UDP), or just the address pair when the file carries IP fragments.
type Key = (u8, String, String);

fn key(fragmented: bool, proto: u8, a: (&str, u16), b: (&str, u16)) -> Key {
    if fragmented {
        let (x, y) = if a.0 <= b.0 { (a.0, b.0) } else { (b.0, a.0) };
        return (0, x.to_string(), y.to_string());
    }
    let ports = matches!(proto, 6 | 17);
    let ep = |e: (&str, u16)| {
        if ports {
            format!("{}:{}", e.0, e.1)
        } else {
            e.0.to_string()
        }
    };
    let (x, y) = (ep(a), ep(b));
    if x <= y {
        (proto, x, y)
    } else {
        (proto, y, x)
    }
}

/// Per-frame facts from tshark, innermost real IP layer (tunnels are looked through; the
/// IP header quoted inside an ICMP error is not a layer of its own).
struct TsharkFrames {
    totals: BTreeMap<Key, (u64, u64)>,
    non_ip: u64,
    community_ids: BTreeSet<String>,
    fragmented: bool,
    tunnelled: bool,
}

fn tshark_frames(file: &Path) -> TsharkFrames {
    let fields = [
        "frame.len",
        "frame.protocols",
        "ip.src",
        "ip.dst",
        "ipv6.src",
        "ipv6.dst",
        "ip.proto",
        "tcp.srcport",
        "tcp.dstport",
        "udp.srcport",
        "udp.dstport",
        "ip.flags.mf",
        "ip.frag_offset",
        "ipv6.fraghdr.ident",
        "communityid",
        "frame.encap_type",
    ];
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(file)
        .args(["--enable-protocol", "communityid", "-T", "fields"]);
    cmd.args([
        "-E",
        "separator=\t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = run(&mut cmd);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut rows = Vec::new();
    let mut fragmented = false;
    let mut tunnelled = false;
    for line in text.lines() {
        let c: Vec<&str> = line.split('\t').collect();
        let get = |i: usize| c.get(i).copied().unwrap_or("");
        if get(11).split(',').any(|v| v == "1" || v == "True")
            || get(12).split(',').any(|v| !v.is_empty() && v != "0")
            || !get(13).is_empty()
        {
            fragmented = true;
        }
        rows.push(c.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }
    let mut totals = BTreeMap::new();
    let mut non_ip = 0;
    let mut community_ids = BTreeSet::new();
    for c in &rows {
        let get = |i: usize| c.get(i).map(String::as_str).unwrap_or("");
        if get(15).is_empty() {
            continue; // a pcapng record that is not a packet (custom block): not counted by capinfos
        }
        let len: u64 = get(0).parse().unwrap();
        // Walk the protocol chain to the innermost IP layer and its transport.
        let (mut v4, mut v6, mut tcp, mut udp) = (0usize, 0usize, 0usize, 0usize);
        let mut last_ip = None;
        let mut transport: Option<(&str, usize)> = None;
        let mut ips = 0;
        for p in get(1).split(':') {
            match p {
                "ip" => {
                    v4 += 1;
                    ips += 1;
                    last_ip = Some((4, v4));
                    transport = None;
                }
                "ipv6" => {
                    v6 += 1;
                    ips += 1;
                    last_ip = Some((6, v6));
                    transport = None;
                }
                "tcp" => {
                    tcp += 1;
                    transport = Some(("tcp", tcp));
                }
                "udp" => {
                    udp += 1;
                    transport = Some(("udp", udp));
                }
                "icmp" | "icmpv6" => {
                    transport = Some((p, 0));
                    break;
                }
                "gre" if transport.is_none() => transport = Some(("gre", 0)),
                _ => {}
            }
        }
        if ips > 1 {
            tunnelled = true;
        }
        let nth = |s: &str, n: usize| s.split(',').nth(n - 1).unwrap_or("").to_string();
        let Some((fam, n)) = last_ip else {
            non_ip += 1;
            continue;
        };
        let (src, dst) = if fam == 4 {
            (nth(get(2), n), nth(get(3), n))
        } else {
            (nth(get(4), n), nth(get(5), n))
        };
        if src.is_empty() {
            non_ip += 1; // IP header cut off by the snaplen
            continue;
        }
        let (proto, sp, dp): (u8, u16, u16) = match transport {
            Some(("tcp", k)) => (
                6,
                nth(get(7), k).parse().unwrap_or(0),
                nth(get(8), k).parse().unwrap_or(0),
            ),
            Some(("udp", k)) => (
                17,
                nth(get(9), k).parse().unwrap_or(0),
                nth(get(10), k).parse().unwrap_or(0),
            ),
            Some(("icmp", _)) => (1, 0, 0),
            Some(("icmpv6", _)) => (58, 0, 0),
            Some(("gre", _)) => (47, 0, 0),
            _ => (nth(get(6), v4.max(1)).parse().unwrap_or(0), 0, 0),
        };
        let k = key(fragmented, proto, (&src, sp), (&dst, dp));
        let e = totals.entry(k).or_insert((0, 0));
        e.0 += 1;
        e.1 += len;
        let cid = get(14);
        if !cid.is_empty() {
            community_ids.extend(cid.split(',').map(str::to_string));
        }
    }
    TsharkFrames {
        totals,
        non_ip,
        community_ids,
        fragmented,
        tunnelled,
    }
}

#[test]
fn every_sample_matches_capinfos_and_tshark() {
    if !have("capinfos") || !have("tshark") {
        return;
    }
    let mut report = Vec::new();
    for file in sample_files() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let (out, json) = flows_json(&file);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        let (cap_count, cap_failed) = capinfos_count(&file);
        if out.status.code() == Some(2) {
            // Unusable header: capinfos must agree that nothing can be read.
            assert!(
                cap_failed && cap_count.unwrap_or(0) == 0,
                "{name}: we refused, capinfos read {cap_count:?}"
            );
            assert!(
                stderr.contains(&name) && stderr.contains("at byte"),
                "{name}: error must name file and offset: {stderr}"
            );
            report.push(format!("{name}: rejected ({})", stderr.trim()));
            continue;
        }
        assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
        let json = json.unwrap_or_else(|| panic!("{name}: output is not JSON"));
        let input = &json["inputs"][0];
        let read = input["packets_read"].as_u64().unwrap();
        let decoded = input["packets_decoded"].as_u64().unwrap();
        let skipped: u64 = input["packets_skipped"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(Some(read), cap_count, "{name}: packets read vs capinfos -c");
        assert_eq!(
            read,
            decoded + skipped,
            "{name}: accounting does not reconcile"
        );
        assert_eq!(
            cap_failed,
            !input["damage"].is_null(),
            "{name}: damage reported iff capinfos fails"
        );
        if cap_failed {
            assert!(
                stderr.contains("warning") && stderr.contains("at byte"),
                "{name}: {stderr}"
            );
        }
        let flows = json["flows"].as_array().unwrap();
        let in_flows: u64 = flows
            .iter()
            .map(|f| f["fwd_packets"].as_u64().unwrap() + f["rev_packets"].as_u64().unwrap())
            .sum();
        assert_eq!(
            in_flows, decoded,
            "{name}: every decoded packet is in exactly one flow"
        );

        let t = tshark_frames(&file);
        assert_eq!(
            skipped, t.non_ip,
            "{name}: skipped packets vs tshark frames without an IP layer"
        );
        let mut ours: BTreeMap<Key, (u64, u64)> = BTreeMap::new();
        let mut our_ids = BTreeSet::new();
        for f in flows {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            let n = |k: &str| f[k].as_u64().unwrap();
            let proto = n("proto") as u8;
            let k = key(
                t.fragmented,
                proto,
                (&s("src_ip"), n("src_port") as u16),
                (&s("dst_ip"), n("dst_port") as u16),
            );
            let e = ours.entry(k).or_insert((0, 0));
            e.0 += n("fwd_packets") + n("rev_packets");
            e.1 += n("fwd_bytes") + n("rev_bytes");
            our_ids.insert(s("community_id"));
        }
        assert_eq!(
            ours, t.totals,
            "{name}: per-conversation packets/bytes differ from tshark"
        );
        if !t.fragmented && !t.tunnelled {
            assert_eq!(
                our_ids, t.community_ids,
                "{name}: Community IDs differ from tshark"
            );
        }
        report.push(format!(
            "{name}: {read} packets = capinfos; {} conversations = tshark{}",
            ours.len(),
            if cap_failed { "; damaged, warned" } else { "" }
        ));
    }
    eprintln!("{}", report.join("\n"));
}

fn ndjson(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

const OWN_SAMPLE: &str = "samples/ome-city-sample.pcap";

#[test]
fn bundled_sample_is_what_the_generator_makes() {
    let dir = temp_dir("gen");
    let out = run(Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args([
            "run",
            "-q",
            "-p",
            "flowcore",
            "--example",
            "gen_samples",
            "--",
        ])
        .arg(&dir));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh = std::fs::read(dir.join("ome-city-sample.pcap")).unwrap();
    let committed = std::fs::read(repo_root().join(OWN_SAMPLE)).unwrap();
    assert!(
        fresh == committed,
        "samples/ome-city-sample.pcap differs from the generator's output"
    );
}

#[test]
fn bundled_sample_flows() {
    let out = run(flowcli()
        .current_dir(repo_root())
        .args(["flows", "--format", "ndjson", OWN_SAMPLE]));
    assert!(out.status.success());
    let flows = ndjson(&out);
    assert_eq!(flows.len(), 26);
    let find = |src: &str, dport: u64| {
        flows
            .iter()
            .find(|f| f["src_ip"] == src && f["dst_port"] == dport)
            .unwrap_or_else(|| panic!("no flow {src} -> :{dport}"))
    };
    // Screen transfer opened from the Internet side, refused.
    assert_eq!(find("10.3.6.10", 3389)["state"], "REJ");
    // The legitimate direction, complete.
    let rdp = find("10.2.10.21", 3389);
    assert_eq!(
        (rdp["state"].as_str(), rdp["vlan"].as_u64()),
        (Some("SF"), Some(20))
    );
    // Per-direction times: the refusal came 1 ms after the SYN; unanswered SYNs have none back.
    let rej = find("10.3.6.10", 3389);
    assert_eq!(rej["fwd_first_ts"], "2026-11-24T15:00:02.200000000Z");
    assert_eq!(rej["rev_first_ts"], "2026-11-24T15:00:02.201000000Z");
    assert!(find("10.3.20.15", 443)["rev_first_ts"].is_null());
    // Unanswered SYNs straight to the Internet.
    assert_eq!(find("10.3.20.15", 443)["fwd_packets"], 3);
    assert_eq!(find("10.3.20.15", 443)["state"], "S0");
    // Out-of-order fragments all land in the syslog flow with its real ports.
    let syslog = find("10.3.8.8", 514);
    assert_eq!(
        (syslog["fwd_packets"].as_u64(), syslog["src_port"].as_u64()),
        (Some(3), Some(41514))
    );
    // A DNS reply whose query was not captured: the client is the initiator.
    let late = find("10.2.10.21", 53);
    assert_eq!(
        (late["flipped"].as_bool(), late["state"].as_str()),
        (Some(true), Some("SHR"))
    );
    // Required schema fields on every record.
    for f in &flows {
        for k in [
            "src_ip",
            "dst_ip",
            "src_port",
            "dst_port",
            "proto",
            "vlan",
            "first_ts",
            "last_ts",
            "fwd_packets",
            "fwd_bytes",
            "rev_packets",
            "rev_bytes",
            "tcp_flags",
            "state",
            "community_id",
            "file",
            "first_packet_index",
            "first_packet_offset",
        ] {
            assert!(f.get(k).is_some(), "missing {k}");
        }
        assert!(f["first_ts"].as_str().unwrap().ends_with('Z'));
    }
}

#[test]
fn directories_stdin_and_compression() {
    let src = repo_root().join(OWN_SAMPLE);
    let bytes = std::fs::read(&src).unwrap();
    let dir = temp_dir("dir");
    std::fs::create_dir_all(dir.join("b")).unwrap();
    std::fs::write(dir.join("b/2.pcap"), &bytes).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &bytes).unwrap();
    std::fs::write(dir.join("a.pcap.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(dir.join("README.txt"), "not a capture").unwrap();
    // A link whose capture was deleted (rotated away) is named, not passed over.
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("rotated.pcap"), dir.join("c.pcap")).unwrap();
    let out = run(flowcli().args(["flows", "--format", "ndjson"]).arg(&dir));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("skipping") && stderr.contains("README.txt"),
        "{stderr}"
    );
    #[cfg(unix)]
    assert!(
        stderr.contains("c.pcap: a symbolic link to nothing, not a capture file"),
        "{stderr}"
    );
    let flows = ndjson(&out);
    assert_eq!(flows.len(), 52);
    // Sorted walk: a.pcap.gz before b/2.pcap.
    assert!(flows[0]["file"].as_str().unwrap().ends_with("a.pcap.gz"));
    assert!(flows[51]["file"].as_str().unwrap().ends_with("b/2.pcap"));

    // stdin gives the same flows as the path.
    let mut child = flowcli()
        .args(["flows", "--format", "ndjson", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &bytes).unwrap();
    drop(child.stdin.take());
    let piped = child.wait_with_output().unwrap();
    assert!(piped.status.success());
    let from_path = ndjson(&run(flowcli()
        .args(["flows", "--format", "ndjson"])
        .arg(&src)));
    let strip = |v: Vec<Value>| {
        v.into_iter()
            .map(|mut f| {
                f.as_object_mut().unwrap().remove("file");
                f
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(ndjson(&piped)), strip(from_path));
}

#[test]
fn output_is_byte_identical_across_runs_in_every_format() {
    let dir = samples();
    for format in ["json", "ndjson", "csv", "table"] {
        let a = run(flowcli()
            .args(["flows", "--format", format])
            .arg(dir.join("pcap")));
        let b = run(flowcli()
            .args(["flows", "--format", format])
            .arg(dir.join("pcap")));
        assert_eq!(
            a.status.code(),
            Some(2),
            "the directory holds an invalid file"
        );
        assert!(!a.stdout.is_empty());
        assert!(a.stdout == b.stdout, "{format} output differs between runs");
    }
}

#[test]
fn csv_header_and_rows_agree() {
    let out = run(flowcli()
        .current_dir(repo_root())
        .args(["flows", "--format", "csv", OWN_SAMPLE]));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[0], "src_ip");
    assert_eq!(*header.last().unwrap(), "first_packet_offset");
    for l in lines {
        assert_eq!(l.split(',').count(), header.len(), "{l}");
    }
}

#[test]
fn errors_name_file_and_offset_and_set_the_exit_status() {
    let bad = samples().join("pcap/libpcap-pcap-invalid-version-1.pcap");
    let good = repo_root().join(OWN_SAMPLE);
    let out = run(flowcli()
        .args(["flows", "--format", "ndjson"])
        .arg(&bad)
        .arg(&good));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("libpcap-pcap-invalid-version-1.pcap: at byte 4: unsupported pcap version"),
        "{stderr}"
    );
    assert_eq!(ndjson(&out).len(), 26, "the good input is still reported");

    let out = run(flowcli().args(["flows", "/nonexistent/capture.pcap"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/capture.pcap"));

    let cut = samples().join("pcap/suricata-verify-http-mime-truncated-input.pcap");
    let out = run(flowcli().args(["flows", "--format", "ndjson"]).arg(&cut));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "damage is a warning");
    assert!(
        stderr.contains("warning") && stderr.contains("at byte 2715459"),
        "{stderr}"
    );
    assert_eq!(
        ndjson(&out)[0]["rev_packets"].as_u64().unwrap()
            + ndjson(&out)[0]["fwd_packets"].as_u64().unwrap(),
        2696
    );

    let out = run(flowcli()
        .args(["flows", "--idle-timeout", "tcp=abc"])
        .arg(&good));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn timeouts_from_the_command_line() {
    let f = repo_root().join(OWN_SAMPLE);
    // The sample spans 18 s; a 0.5 s idle timeout splits the slow SYN retries apart.
    let short = ndjson(&run(flowcli()
        .args(["flows", "--format", "ndjson", "--idle-timeout", "0.5"])
        .arg(&f)));
    let none = ndjson(&run(flowcli()
        .args(["flows", "--format", "ndjson"])
        .args(NO_TIMEOUTS)
        .arg(&f)));
    assert_eq!(none.len(), 26);
    assert!(short.len() > none.len());
    let total = |v: &[Value]| {
        v.iter()
            .map(|f| f["fwd_packets"].as_u64().unwrap() + f["rev_packets"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(total(&short), total(&none));
    assert!(short.iter().any(|f| f["end_reason"] == "idle"));
}

fn analyze(site: &str, extra: &[&str]) -> Output {
    run(flowcli()
        .current_dir(repo_root())
        .args(["analyze", "--ruleset", site])
        .args(extra)
        .arg(OWN_SAMPLE))
}

#[test]
fn every_rule_fires_where_it_should_and_nowhere_else() {
    let out = analyze("rulesets/ome-city.toml", &["--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "violations exit 1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut got: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or("").to_string();
            format!(
                "{} {} {}>{} {}",
                s("rule_id"),
                s("severity"),
                s("src_ip"),
                s("dst_ip"),
                s("service")
            )
        })
        .collect();
    got.sort();
    let mut want = vec![
        "DH-01 critical 10.1.30.3>10.3.30.3 -",
        "INV-01 medium 192.168.77.5>10.2.5.25 tcp/445",
        "LG-01 high 10.3.6.10>10.2.10.21 tcp/3389",
        "LG-01 high fd00:2::15>fd00:3::80 tcp/443",
        "LG-01 high 10.3.8.8>10.2.8.9 udp/514",
        "LG-01 high 10.3.9.9>10.2.5.25 tcp/25",
        "LG-02 critical 10.2.10.30>198.51.100.7 tcp/443",
        "LG-03 critical 10.2.10.30>203.0.113.5 tcp/8080",
        "MN-01 critical 10.1.20.7>10.3.20.15 tcp/445",
        "MN-02 critical 10.1.20.7>8.8.8.8 udp/53",
        "MN-03 critical 10.1.20.7>203.0.113.5 tcp/8080",
        "MN-04 high 10.2.10.21>10.1.9.5 tcp/22",
        "MN-05 high 10.1.9.5>172.20.1.5 tcp/80",
        "MN-05 high 10.1.9.6>172.20.1.6 tcp/443",
        "NET-02 high 10.3.20.15>93.184.216.34 tcp/443",
        "NET-03 high 10.3.20.15>172.20.40.2 tcp/443",
    ];
    want.sort();
    assert_eq!(got, want);
    // The allow rules and permits decided the rest: see the matrix.
    let matrix = v["summary"]["matrix"].as_array().unwrap();
    let cell = |s: &str, d: &str| {
        matrix
            .iter()
            .find(|c| c["src_class"] == s && c["dst_class"] == d)
            .unwrap()
            .clone()
    };
    assert_eq!(cell("internet", "lgwan")["permitted"], 1); // mail sanitizer
    assert_eq!(cell("lgwan", "internet")["permitted"], 1); // screen transfer
    assert_eq!(cell("mynumber", "lgwan_wan")["permitted"], 1); // EX-001
    assert_eq!(cell("lgwan", "lgwan_wan")["violations"], 0); // LG-04
    assert_eq!(cell("internet", "security_cloud")["violations"], 0); // NET-01
                                                                     // Each finding carries its evidence and what was considered.
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["dst_port"] == 3389)
        .unwrap();
    assert_eq!(f["clause"], "基本方針 6(3)イ");
    assert!(f["message_ja"]
        .as_str()
        .unwrap()
        .contains("インターネット接続系"));
    assert!(f["considered"][0]
        .as_str()
        .unwrap()
        .contains("wrong direction"));
    assert!(
        f["first_packet_index"].as_u64().unwrap() > 0
            && f["community_id"].as_str().unwrap().starts_with("1:")
    );
    let expired = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["src_ip"] == "10.1.9.6")
        .unwrap();
    assert!(expired["considered"][0]
        .as_str()
        .unwrap()
        .contains("EX-002 expired"));
    // Inputs are identified by hash.
    let sha = run(Command::new("sha256sum").arg(repo_root().join(OWN_SAMPLE)));
    let sha = String::from_utf8_lossy(&sha.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(v["summary"]["inputs"][0]["sha256"], sha);
    assert_eq!(v["summary"]["ruleset"]["policy"], "mic-alpha");
}

#[test]
fn the_example_site_is_accepted_as_written_and_reports_the_undeclared_router() {
    let check = run(flowcli().current_dir(repo_root()).args([
        "ruleset",
        "check",
        "rulesets/example-site.toml",
    ]));
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let out = analyze("rulesets/example-site.toml", &["--format", "ndjson"]);
    assert_eq!(out.status.code(), Some(1));
    let findings = ndjson(&out);
    assert!(findings
        .iter()
        .any(|f| f["rule_id"] == "DH-01" && f["mac"] == "02:00:5e:00:00:fe"));
    // Without EX-002 declared, the old tax upload is a plain MN-05 with nothing considered.
    let f = findings.iter().find(|f| f["src_ip"] == "10.1.9.6").unwrap();
    assert_eq!(
        (
            f["rule_id"].as_str(),
            f["considered"].as_array().unwrap().len()
        ),
        (Some("MN-05"), 0)
    );
}

#[test]
fn analyze_reports_are_deterministic_and_written_atomically() {
    let a = analyze("rulesets/ome-city.toml", &["--format", "json"]);
    let b = analyze("rulesets/ome-city.toml", &["--format", "json"]);
    assert!(a.stdout == b.stdout);
    let dir = temp_dir("out");
    let path = dir.join("report.json");
    let out = analyze(
        "rulesets/ome-city.toml",
        &["--format", "json", "--output", path.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "nothing but the report, and it went to the file"
    );
    // The same report but for the command line it names.
    let strip = |b: &[u8]| {
        let mut v: Value = serde_json::from_slice(b).unwrap();
        let cl = v["summary"]["command_line"].take();
        (v, cl)
    };
    let (file, file_cl) = strip(&std::fs::read(&path).unwrap());
    let (stdout, _) = strip(&a.stdout);
    assert_eq!(file, stdout);
    assert!(file_cl.as_array().unwrap().iter().any(|a| a == "--output"));
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no temporary file left behind"
    );
    let bad = dir.join("missing-dir/report.json");
    let out = analyze(
        "rulesets/ome-city.toml",
        &["--output", bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!bad.exists());
}

#[test]
fn analyze_exit_status_and_ruleset_errors() {
    // No violations: two public hosts talking.
    let clean = samples().join("pcap/tcpdump-tcp-handshake-nano.pcap");
    let out = run(flowcli()
        .current_dir(repo_root())
        .args([
            "analyze",
            "--ruleset",
            "rulesets/ome-city.toml",
            "--format",
            "json",
        ])
        .arg(&clean));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No ruleset: refuse, and say how to write one.
    let out = run(flowcli()
        .current_dir(repo_root())
        .args(["analyze", OWN_SAMPLE]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rulesets/example-site.toml"));
    // A broken site file: every error at file:line:column with its key.
    let dir = temp_dir("badsite");
    let site = dir.join("site.toml");
    let text = std::fs::read_to_string(repo_root().join("rulesets/example-site.toml")).unwrap();
    std::fs::write(
        &site,
        text.replace("\"10.2.0.0/16\"", "\"10.2.0.0/33\"")
            .replace("tcp/25", "tcp/2x5"),
    )
    .unwrap();
    let sample = repo_root().join(OWN_SAMPLE);
    let check: Vec<std::ffi::OsString> =
        vec!["ruleset".into(), "check".into(), site.clone().into()];
    let analyze: Vec<std::ffi::OsString> = vec![
        "analyze".into(),
        "--ruleset".into(),
        site.clone().into(),
        sample.into(),
    ];
    for args in [check, analyze] {
        let out = run(flowcli().args(&args));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(err.contains("site.toml:8:12: segments.lgwan:"), "{err}");
        assert!(
            err.contains("site.toml:20:13: gateway[0].services:"),
            "{err}"
        );
    }
}

#[test]
fn policy_tests_and_explain() {
    let out =
        run(flowcli()
            .current_dir(repo_root())
            .args(["ruleset", "test", "rulesets/ome-city.toml"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("policy tests: 13 passed, 0 failed"), "{text}");
    // A wrong expectation fails the run.
    let dir = temp_dir("ptest");
    let tests = dir.join("t.toml");
    std::fs::write(&tests, "[[test]]\nname = \"wrong\"\nsrc = \"10.3.6.10\"\ndst = \"10.2.10.21:3389\"\nexpect = \"allow\"\n").unwrap();
    let out = run(flowcli()
        .current_dir(repo_root())
        .args(["ruleset", "test", "rulesets/ome-city.toml"])
        .arg(&tests));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("FAIL  wrong: expected allow, got deny LG-01"));

    let out = run(flowcli().current_dir(repo_root()).args([
        "explain",
        "--ruleset",
        "rulesets/ome-city.toml",
        "10.3.6.10:3389",
        "10.2.5.25",
        "8.8.8.8",
        "192.168.1.1",
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("10.3.6.10: segment internet (declared prefix 10.3.0.0/16)"),
        "{text}"
    );
    assert!(
        text.contains("host of gateway virtual-browser (screen_transfer)"),
        "{text}"
    );
    assert!(
        text.contains("declared peer of gateway mail-sanitizer"),
        "{text}"
    );
    assert!(text.contains("8.8.8.8: public"), "{text}");
    assert!(text.contains("192.168.1.1: unknown"), "{text}");
}

#[test]
fn completions_manual_pages_and_csv_bom() {
    for (shell, marker) in [
        ("bash", "complete"),
        ("zsh", "#compdef"),
        ("fish", "complete -c flowcli"),
    ] {
        let o = run(flowcli().args(["completions", shell]));
        assert_eq!(o.status.code(), Some(0), "{shell}");
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(s.contains(marker), "{shell}");
        for sub in ["analyze", "extract", "flows", "explain"] {
            assert!(s.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let dir = temp_dir("man");
    let o = run(flowcli().arg("manpage").arg(&dir));
    assert_eq!(o.status.code(), Some(0));
    for page in [
        "flowcli.1",
        "flowcli-analyze.1",
        "flowcli-extract.1",
        "flowcli-ruleset-test.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page} is not roff"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    // --csv-bom: the same CSV after a UTF-8 byte order mark.
    let sample = repo_root().join("samples/ome-city-sample.pcap");
    let plain = run(flowcli()
        .args(["flows", "-q", "--format", "csv"])
        .arg(&sample));
    let bom = run(flowcli()
        .args(["flows", "-q", "--format", "csv", "--csv-bom"])
        .arg(&sample));
    assert_eq!(&bom.stdout[..3], b"\xEF\xBB\xBF");
    assert_eq!(&bom.stdout[3..], &plain.stdout[..]);
}

#[test]
fn the_table_speaks_japanese_when_asked() {
    let table = |lang: &str| {
        let o = run(flowcli()
            .current_dir(repo_root())
            .args(["analyze", "-q", "--format", "table", "--lang", lang])
            .args([
                "--ruleset",
                "rulesets/ome-city.toml",
                "samples/ome-city-sample.pcap",
            ]));
        assert_eq!(o.status.code(), Some(1));
        String::from_utf8(o.stdout).unwrap()
    };
    let (en, ja) = (table("en"), table("ja"));
    for want in [
        "マイナンバー利用事務系",
        "LGWAN接続系",
        "インターネット接続系",
        "セグメント間の通信",
        "検出事項",
        "[重大]",
        "+09:00",
    ] {
        assert!(ja.contains(want), "ja lacks {want}");
    }
    // Rule messages lead in the chosen language (the other follows on the next line).
    let first_rule = |t: &str| t.lines().find(|l| l.starts_with('[')).unwrap().to_string();
    assert!(
        first_rule(&ja).contains("一つのMACアドレス"),
        "{}",
        first_rule(&ja)
    );
    assert!(
        first_rule(&en).contains("One MAC address"),
        "{}",
        first_rule(&en)
    );
    assert!(en.contains("My Number segment -> "));
    for want in ["Segment matrix", "[CRITICAL]", "packets read"] {
        assert!(en.contains(want) && !ja.contains(want), "{want}");
    }
}
