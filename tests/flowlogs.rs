//! Flow logs as input, checked against the tools that write them: nfdump CSV made by the
//! real nfpcapd and nfdump from the project's sample capture gives the same findings as
//! the capture itself.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{analyze_ndjson, flowcli, repo_root, report_j, run, run_j};

fn temp(name: &str) -> PathBuf {
    common::scratch("flowlogs").join(name)
}

/// `nfpcapd -r capture` then `nfdump -o csv`: the CSV, or `None` (and a loud skip) without
/// nfdump.
fn nfdump_csv(capture: &Path, name: &str) -> Option<PathBuf> {
    if !common::have("nfdump", "-V", "nfdump") {
        return None;
    }
    let dir = temp(&format!("{name}.nfcapd"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = run(std::process::Command::new("nfpcapd")
        .arg("-r")
        .arg(capture)
        .arg("-w")
        .arg(&dir));
    assert!(
        out.status.success(),
        "nfpcapd: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = temp(&format!("{name}.csv"));
    // nfdump prints local time: make it UTC.
    let out = run(std::process::Command::new("nfdump")
        .env("TZ", "UTC")
        .arg("-R")
        .arg(&dir)
        .args(["-o", "csv"]));
    assert!(
        out.status.success(),
        "nfdump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&csv, &out.stdout).unwrap();
    Some(csv)
}

fn findings(input: &Path, extra: &[&str]) -> Vec<Value> {
    let out = analyze_ndjson("rulesets/ome-city.toml", extra, input);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    common::ndjson(&out.stdout)
}

/// A finding as `RULE a b service`, endpoints as an unordered pair (a record's direction
/// is not always its initiator's).
fn unordered(f: &Value) -> String {
    let (a, b) = (
        f["src_ip"].as_str().unwrap().to_string(),
        f["dst_ip"].as_str().unwrap().to_string(),
    );
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    format!("{} {a} {b}", f["rule_id"].as_str().unwrap())
}

#[test]
fn nfdump_csv_gives_the_findings_of_the_capture() {
    let pcap = repo_root().join("samples/ome-city-sample.pcap");
    let Some(csv) = nfdump_csv(&pcap, "sample") else {
        return;
    };
    let text = std::fs::read_to_string(&csv).unwrap();
    // What nfdump says, read here independently: records and address pairs.
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (sa, da, ipkt, ibyt) = (col("sa"), col("da"), col("ipkt"), col("ibyt"));
    let mut pairs = BTreeSet::new();
    let (mut records, mut packets, mut bytes) = (0u64, 0u64, 0u64);
    for l in lines.take_while(|l| !l.is_empty() && *l != "Summary") {
        let f: Vec<&str> = l.split(',').collect();
        let (a, b) = (f[sa].to_string(), f[da].to_string());
        pairs.insert(if a <= b { (a, b) } else { (b, a) });
        records += 1;
        packets += f[ipkt].parse::<u64>().unwrap();
        bytes += f[ibyt].parse::<u64>().unwrap();
    }
    assert!(records > 20, "{records} records");

    // Every record read, with its counts, and nothing skipped.
    let out = run(flowcli().args(["flows", "--format", "json"]).arg(&csv));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let flows = doc["flows"].as_array().unwrap();
    assert_eq!(flows.len() as u64, records);
    let sum = |k: &str| flows.iter().map(|f| f[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!((sum("fwd_packets"), sum("fwd_bytes")), (packets, bytes));
    let input = &doc["inputs"][0];
    assert_eq!(input["format"], "nfdump-csv");
    assert!(
        input["packets_skipped"]
            .as_object()
            .unwrap()
            .values()
            .all(|n| n == 0),
        "{input}"
    );
    assert_eq!(input["packets_read"].as_u64(), Some(records));
    assert!(flows.iter().all(|f| f["source"] == "nfdump"));

    // The same findings as the capture, for the conversations nfdump reports (nfpcapd
    // leaves out what it does not assemble, e.g. fragments) and except DH-01, which needs
    // the MAC addresses a flow log does not carry.
    let from_log: BTreeSet<String> = findings(&csv, &["--pair-exports"])
        .iter()
        .map(unordered)
        .collect();
    let mut left_out = Vec::new();
    let from_pcap: BTreeSet<String> = findings(&pcap, &[])
        .iter()
        .filter(|f| {
            let (a, b) = (
                f["src_ip"].as_str().unwrap().to_string(),
                f["dst_ip"].as_str().unwrap().to_string(),
            );
            let key = if a <= b { (a, b) } else { (b, a) };
            let keep = f["rule_id"] != "DH-01" && pairs.contains(&key);
            if !keep {
                left_out.push(unordered(f));
            }
            keep
        })
        .map(unordered)
        .collect();
    assert_eq!(from_log, from_pcap);
    assert!(
        left_out.len() <= 2,
        "too many findings not comparable: {left_out:?}"
    );
    eprintln!(
        "nfdump CSV: {records} records, {} findings equal the capture's; not comparable: {left_out:?}",
        from_log.len()
    );
}

#[test]
fn nfdump_local_times_with_log_offset() {
    let pcap = repo_root().join("samples/ome-city-sample.pcap");
    let Some(csv) = nfdump_csv(&pcap, "offset") else {
        return;
    };
    // The same log as if nfdump had run at -09:00: times shifted by nine hours, told back.
    let text = std::fs::read_to_string(&csv).unwrap();
    let shifted: String = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(3, ',').collect();
            match (f.len(), f[0].len()) {
                (3, 19) if f[0].starts_with("20") => {
                    let shift = |t: &str| {
                        let h: u32 = t[11..13].parse().unwrap();
                        // The sample is at 15:00 UTC: the same day at -09:00.
                        assert!(h >= 9);
                        format!("{}{:02}{}", &t[..11], h - 9, &t[13..])
                    };
                    format!("{},{},{}\n", shift(f[0]), shift(f[1]), f[2])
                }
                _ => format!("{l}\n"),
            }
        })
        .collect();
    let local = temp("local.csv");
    std::fs::write(&local, shifted).unwrap();
    let flows = |input: &Path, extra: &[&str]| {
        let out = run(flowcli()
            .args(["flows", "--format", "csv"])
            .args(extra)
            .arg(input));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.rsplitn(4, ',').last().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(flows(&local, &["--log-offset", "-09:00"]), flows(&csv, &[]));
    assert_ne!(flows(&local, &[]), flows(&csv, &[]));
}

#[test]
fn flowcore_csv_reads_back_as_the_same_findings() {
    let pcap = repo_root().join("samples/ome-city-sample.pcap");
    let csv = temp("flows.csv");
    let out = run(flowcli()
        .args(["flows", "--format", "csv", "--output"])
        .arg(&csv)
        .arg(&pcap));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = |f: &Value| {
        format!(
            "{} {} {} {} {}",
            f["rule_id"], f["src_ip"], f["dst_ip"], f["service"], f["initiator"]
        )
    };
    let from_csv: BTreeSet<String> = findings(&csv, &[]).iter().map(key).collect();
    let from_pcap: BTreeSet<String> = findings(&pcap, &[])
        .iter()
        .filter(|f| f["rule_id"] != "DH-01")
        .map(key)
        .collect();
    assert_eq!(from_csv, from_pcap);
}

/// A flow log on two cores is read with a second thread: a Zeek conn.log is split (parsing
/// on one thread, judging on the other), its hash being light next to its parsing; an
/// eve.json has its lines parsed in blocks by a helper as well (and is split too on three
/// cores). The report, the warnings and the exit status are those of one thread, bad lines
/// included.
#[test]
fn a_flow_log_gives_the_same_report_on_one_thread_or_two() {
    let (mut eve, mut conn) = (String::new(), String::new());
    conn.push_str("#separator \\x09\n#unset_field\t-\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\thistory\n");
    for i in 0..20_000u32 {
        let src = format!("10.{}.{}.{}", 1 + i % 3, 10 + (i >> 8) % 16, i % 250 + 1);
        let dst = format!("10.{}.1.{}", 1 + (i / 3) % 3, i % 7 + 1);
        let (sp, dp) = (40_000 + i % 20_000, [80, 445, 25, 53][(i % 4) as usize]);
        let t = 1_795_532_400 + u64::from(i);
        eve.push_str(&format!(
            "{{\"timestamp\":\"2026-11-25T00:00:00.000000+0000\",\"event_type\":\"flow\",\"src_ip\":\"{src}\",\"src_port\":{sp},\"dest_ip\":\"{dst}\",\"dest_port\":{dp},\"proto\":\"TCP\",\"flow\":{{\"pkts_toserver\":{},\"pkts_toclient\":2,\"bytes_toserver\":600,\"bytes_toclient\":900,\"start\":{t}.5,\"end\":{t}.9}},\"tcp\":{{\"tcp_flags_ts\":\"1b\",\"tcp_flags_tc\":\"1a\"}}}}\n",
            i % 9 + 1
        ));
        conn.push_str(&format!(
            "{t}.25\tC{i}\t{src}\t{sp}\t{dst}\t{dp}\ttcp\t0.5\t{}\t600\t2\t900\tShADadFf\n",
            i % 9 + 1
        ));
        if i % 997 == 0 {
            eve.push_str("{\"event_type\":\"dns\",\"src_ip\":\"10.1.1.1\"}\n{\"event_type\":\"flow\",\"src_ip\":5}\n{not json\n");
            conn.push_str("1795532400\tbad\tline\n");
        }
    }
    let dir = temp("threads");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in [("eve.json", &eve), ("conn.log", &conn)] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let report = |j| report_j("rulesets/ome-city.toml", j, &path);
        let one = report("1");
        let input = &one.1["summary"]["inputs"][0];
        assert_eq!(input["sha256"].as_str().map(str::len), Some(64), "{name}");
        assert!(
            input["export_records"].as_u64() >= Some(20_000),
            "{name}: {input}"
        );
        assert!(
            one.2.contains("warning"),
            "{name}: the bad lines are reported"
        );
        assert!(one.1["findings"].as_array().unwrap().len() > 100, "{name}");
        for j in ["2", "3"] {
            assert!(report(j) == one, "{name}: analyze -j {j}");
        }
        let flows = ["flows", "--format", "ndjson"];
        let one = run_j(&flows, "1", &path);
        assert!(one.1.len() > 100_000, "{name}");
        assert!(run_j(&flows, "2", &path) == one, "{name}: flows -j 2");
    }
}
