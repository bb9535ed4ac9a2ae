use super::*;
use crate::input::{CaptureFormat, CaptureReader, OpenOptions};

fn open(text: &str, columns: Option<ColumnMap>) -> CaptureReader {
    CaptureReader::from_reader_opts(
        "log".into(),
        Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
        &OpenOptions {
            hash: false,
            hash_thread: false,
            inflate_thread: false,
            parse_thread: false,
            columns,
        },
    )
    .unwrap()
}

fn items(r: &mut CaptureReader) -> (Vec<ExportRecord>, Vec<ExportWarning>) {
    let (mut recs, mut bad) = (Vec::new(), Vec::new());
    while let Some(i) = r.next_log_item().unwrap() {
        match i {
            LogItem::Record(x) => recs.push(x),
            LogItem::Bad(w) => bad.push(w),
        }
    }
    (recs, bad)
}

const NFDUMP: &str = "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr
2026-11-24 15:00:13,2026-11-24 15:00:13,0.000,10.2.10.21,10.2.1.1,0,2048,ICMP,........,0,0,1,60,0,0,0,0,0,0,0,0,0,0,0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,    0.000,    0.000,    0.000,0.0.0.0,17/1,0,2026-11-25 23:27:32.140
2026-11-24 15:00:00,2026-11-24 15:00:01,1.000,10.3.5.25,10.2.5.25,40001,25,TCP,...AP.SF,0,0,7,787,0,0,3,4,0,0,0,0,0,0,0.0.0.0,0.0.0.0,30,0,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,    0.000,    0.000,    0.000,0.0.0.0,17/1,0,2026-11-25 23:27:32.140

Summary
flows,bytes,packets,avg_bps,avg_pps,avg_bpp
2,847,8,6776,8,105
";

#[test]
fn nfdump_csv_records_with_icmp_type_and_flag_letters() {
    let mut r = open(NFDUMP, None);
    assert_eq!(r.format(), CaptureFormat::FlowLog(LogFormat::NfdumpCsv));
    let (recs, bad) = items(&mut r);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(recs.len(), 2);
    let icmp = &recs[0];
    assert_eq!((icmp.proto, icmp.src_port, icmp.dst_port), (1, 8, 0));
    assert_eq!((icmp.packets, icmp.bytes, icmp.reverse), (1, 60, None));
    assert!(!icmp.initiator_known);
    assert_eq!(icmp.datagram_index, 2);
    assert_eq!(icmp.datagram_offset, NFDUMP.find("\n").unwrap() as u64 + 1);
    let tcp = &recs[1];
    assert_eq!(tcp.tcp_flags, Some(0x1b), "ACK PSH SYN FIN");
    assert_eq!((tcp.in_if, tcp.out_if, tcp.vlan), (3, 4, Some(30)));
    assert_eq!(
        tcp.end - tcp.start,
        NS_PER_SEC,
        "te is a second after ts, in UTC"
    );
    assert_eq!(
        crate::time::format_rfc3339(tcp.start),
        "2026-11-24T15:00:00.000000000Z"
    );
    assert_eq!(
        r.skipped_blocks(),
        5,
        "the header, a blank line and the summary"
    );
}

#[test]
fn nfdump_local_time_at_a_given_offset() {
    let map = ColumnMap::from_toml(
        "src_ip='x'\ndst_ip='y'\nproto='p'\nstart='s'\npackets='k'\nbytes='b'\ntime_offset='+09:00'",
    )
    .unwrap();
    assert_eq!(map.naive_offset_s, 9 * 3600);
    let mut r = open(NFDUMP, Some(map));
    let (recs, _) = items(&mut r);
    // nfdump's own format is recognised first; the map's offset applies to its times.
    assert_eq!(
        crate::time::format_rfc3339(recs[1].start),
        "2026-11-24T06:00:00.000000000Z"
    );
}

const ZEEK_TSV: &str = "#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]
1300475167.096535\tCRJuHdVW0XPVINV8a\t141.142.220.202\t5353\t224.0.0.251\t5353\tudp\tdns\t-\t-\t-\tS0\t-\t-\t0\tD\t1\t73\t0\t0\t(empty)
1300475168.853899\tCJ3xTn1c4Zw9TmAE05\t141.142.220.118\t43927\t141.142.2.2\t53\tudp\tdns\t0.000435\t38\t89\tSF\t-\t-\t0\tDd\t1\t66\t1\t117\t(empty)
1300475168.892913\tC0LAHyvtKSQHyJxIl\t141.142.220.118\t49999\t208.80.152.3\t80\ttcp\thttp\t0.220961\t1137\t733\tS1\t-\t-\t0\tShADad\t6\t1457\t4\t949\t(empty)
1300475169.780331\tCwjjYJ2WqgTbAqiHl6\tfe80::217:f2ff:fed7:cf65\t134\tff02::2\t0\ticmp\t-\t-\t-\t-\tOTH\t-\t-\t0\t-\t1\t52\t0\t0\t(empty)
#close\t2011-03-18-19-06-13
";

#[test]
fn zeek_tsv_conn_log() {
    let mut r = open(ZEEK_TSV, None);
    assert_eq!(r.format(), CaptureFormat::FlowLog(LogFormat::ZeekTsv));
    let (recs, bad) = items(&mut r);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(recs.len(), 4);
    assert_eq!(recs[0].end, recs[0].start, "unset duration");
    assert_eq!((recs[0].packets, recs[0].bytes), (1, 73));
    assert_eq!(recs[1].reverse, Some((1, 117, 0)));
    assert_eq!(recs[1].end - recs[1].start, 435_000);
    let http = &recs[2];
    assert!(http.initiator_known);
    assert_eq!(http.tcp_flags, Some(0x1a), "S, A, D from the originator");
    assert_eq!(http.reverse, Some((4, 949, 0x1a)), "h (SYN-ACK), a, d");
    assert_eq!(
        (recs[3].proto, recs[3].src_port),
        (58, 134),
        "icmp over IPv6"
    );
    assert_eq!(r.skipped_blocks(), 8, "7 header lines and #close");
}

#[test]
fn zeek_json_and_suricata_eve() {
    let zeek = r#"{"ts":1300475168.892913,"uid":"C0LAHyvtKSQHyJxIl","id.orig_h":"141.142.220.118","id.orig_p":49999,"id.resp_h":"208.80.152.3","id.resp_p":80,"proto":"tcp","duration":0.220961,"orig_bytes":1137,"resp_bytes":733,"conn_state":"S1","history":"ShADad","orig_pkts":6,"orig_ip_bytes":1457,"resp_pkts":4,"resp_ip_bytes":949}"#;
    let mut r = open(&format!("{zeek}\n"), None);
    assert_eq!(r.format(), CaptureFormat::FlowLog(LogFormat::ZeekJson));
    let (recs, bad) = items(&mut r);
    assert!(bad.is_empty());
    assert_eq!(
        (recs[0].packets, recs[0].bytes, recs[0].dst_port),
        (6, 1457, 80)
    );
    assert_eq!(recs[0].end - recs[0].start, 220_961_000);

    let eve = r#"{"timestamp":"2026-11-24T15:00:05.000000+0000","event_type":"alert","src_ip":"10.1.1.1","dest_ip":"10.2.2.2"}
{"timestamp":"2026-11-25T00:00:10.000000+0900","flow_id":1,"event_type":"flow","src_ip":"10.3.20.15","src_port":50000,"dest_ip":"10.1.5.5","dest_port":445,"proto":"TCP","flow":{"pkts_toserver":5,"pkts_toclient":4,"bytes_toserver":600,"bytes_toclient":900,"start":"2026-11-25T00:00:00.500000+0900","end":"2026-11-25T00:00:10.000000+0900","state":"closed"},"tcp":{"tcp_flags":"1b","tcp_flags_ts":"1b","tcp_flags_tc":"1a"},"vlan":[20]}
{"timestamp":"2026-11-24T15:00:11.000000+0000","event_type":"flow","src_ip":"10.3.20.15","dest_ip":"10.1.5.5","proto":"ICMP","icmp_type":8,"icmp_code":0,"flow":{"pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":98,"bytes_toclient":98,"start":"2026-11-24T15:00:11.000000+0000","end":"2026-11-24T15:00:11.000000+0000"}}
{"event_type":"flow","src_ip":"10.3.20.15"
"#;
    let mut r = open(eve, None);
    assert_eq!(r.format(), CaptureFormat::FlowLog(LogFormat::SuricataEve));
    let (recs, bad) = items(&mut r);
    assert_eq!(recs.len(), 2);
    let t = &recs[0];
    assert_eq!(
        crate::time::format_rfc3339(t.start),
        "2026-11-24T15:00:00.500000000Z"
    );
    assert_eq!((t.packets, t.bytes, t.tcp_flags), (5, 600, Some(0x1b)));
    assert_eq!(t.reverse, Some((4, 900, 0x1a)));
    assert_eq!((t.vlan, t.initiator_known), (Some(20), true));
    assert_eq!(
        (recs[1].proto, recs[1].src_port, recs[1].dst_port),
        (1, 8, 0)
    );
    assert_eq!(bad.len(), 1);
    assert!(
        bad[0].what.starts_with("line 4: not JSON"),
        "{}",
        bad[0].what
    );
    assert_eq!(bad[0].offset as usize, eve.rfind("{\"event_type").unwrap());
    assert_eq!(r.skipped_blocks(), 1, "the alert");
}

#[test]
fn delimited_with_a_column_map_aws_vpc_style() {
    let map = ColumnMap::from_toml(
        r#"
src_ip = "srcaddr"
dst_ip = "dstaddr"
src_port = "srcport"
dst_port = "dstport"
proto = "protocol"
start = "start"
end = "end"
packets = "packets"
bytes = "bytes"
separator = " "
"#,
    )
    .unwrap();
    let log = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status
2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK
2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 x 4249 1418530010 1418530070 REJECT OK
2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA
";
    // The same map inline.
    let inline = ColumnMap::from_pairs(
        "src_ip=srcaddr, dst_ip=dstaddr, src_port=srcport, dst_port=dstport, proto=protocol, \
         start=start, end=end, packets=packets, bytes=bytes, separator=space",
    )
    .unwrap();
    assert_eq!(inline, map);
    assert!(ColumnMap::from_pairs("src_ip").is_err());
    assert!(
        ColumnMap::from_pairs("src_ip=a,nonsense=b").is_err(),
        "unknown keys are refused"
    );
    // Without the map this is not a flow log at all.
    assert!(CaptureReader::from_reader("log".into(), Box::new(std::io::Cursor::new(log))).is_err());
    let mut r = open(log, Some(map));
    assert_eq!(r.format(), CaptureFormat::FlowLog(LogFormat::Delimited));
    let (recs, bad) = items(&mut r);
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (recs[0].dst_port, recs[0].packets, recs[0].bytes),
        (22, 20, 4249)
    );
    assert_eq!(recs[0].end - recs[0].start, 60 * NS_PER_SEC);
    assert_eq!(bad.len(), 2);
    assert!(
        bad[0].what.contains("line 3: packets \"x\""),
        "{}",
        bad[0].what
    );
    assert!(bad[1].what.contains("line 4"), "{}", bad[1].what);
}

#[test]
fn flowcore_csv_reads_back_and_damage_is_named() {
    let csv = "src_ip,dst_ip,src_port,dst_port,proto,vlan,first_ts,last_ts,fwd_packets,fwd_bytes,rev_packets,rev_bytes,fwd_tcp_flags,rev_tcp_flags,initiator_known
10.3.5.25,10.2.5.25,40001,25,6,30,2026-11-24T15:00:00.000000000Z,2026-11-24T15:00:00.082000000Z,7,787,5,3023,27,27,true
\"10.3.5.26\",10.2.5.25,40001,70000,6,,2026-11-24T15:00:00Z,2026-11-24T15:00:01Z,1,60,0,0,2,0,false
10.3.5.27,10.2.5.25,40001,25,6,,2026-11-24T15:00:00Z";
    let mut r = open(csv, None);
    assert_eq!(r.format(), CaptureFormat::FlowLog(LogFormat::Delimited));
    let (recs, bad) = items(&mut r);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].reverse, Some((5, 3023, 27)));
    assert!(recs[0].initiator_known);
    assert_eq!(bad.len(), 2);
    assert!(
        bad[0].what.contains("port 70000 out of range"),
        "{}",
        bad[0].what
    );
    assert!(
        bad[1].what.contains("line 4: 7 fields, the header has 15"),
        "{}",
        bad[1].what
    );
}

#[test]
fn hostile_lines_never_panic() {
    let mut long = String::from("src_ip,dst_ip,proto,first_ts,fwd_packets,fwd_bytes\n");
    long.push_str(&"9".repeat(MAX_LINE + 10));
    long.push_str("\n1.1.1.1,2.2.2.2,6,5,1,1\n");
    let mut r = open(&long, None);
    let (recs, bad) = items(&mut r);
    assert_eq!(recs.len(), 1);
    assert!(bad[0].what.contains("longer than"), "{}", bad[0].what);
    // Data before Zeek's #fields, odd bytes, negative and huge numbers.
    let mut seed = 7u64;
    for _ in 0..300 {
        let mut text = String::from(match seed % 4 {
            0 => "#separator \\x09\n",
            1 => "ts,te,td,sa,da,sp,dp,pr,flg,ipkt,ibyt\n",
            2 => "{\"event_type\":\"flow\"}\n",
            _ => "src_ip,dst_ip,proto,first_ts,fwd_packets,fwd_bytes\n",
        });
        for _ in 0..20 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let pick = [
                "1.1.1.1",
                "::1",
                "-",
                "",
                "-1",
                "1e400",
                "99999999999999999999",
                "\t",
                ",",
                "\"",
                "{",
                "tcp",
                "2026-13-40 99:99:99",
                "1.5",
                "#fields\tts",
                "\u{feff}",
            ];
            text.push_str(pick[(seed >> 33) as usize % pick.len()]);
            if seed.is_multiple_of(5) {
                text.push('\n');
            }
        }
        let Ok(mut r) = CaptureReader::from_reader(
            "fuzz".into(),
            Box::new(std::io::Cursor::new(text.into_bytes())),
        ) else {
            continue;
        };
        while let Ok(Some(_)) = r.next_log_item() {}
    }
}

#[test]
fn compressed_logs_are_recognised_inside_their_wrapper() {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(NFDUMP.as_bytes()).unwrap();
    let data = gz.finish().unwrap();
    let mut r =
        CaptureReader::from_reader("log.csv.gz".into(), Box::new(std::io::Cursor::new(data)))
            .unwrap();
    assert_eq!(r.format(), CaptureFormat::FlowLog(LogFormat::NfdumpCsv));
    assert_eq!(r.compression(), crate::input::Compression::Gzip);
    let (recs, bad) = items(&mut r);
    assert_eq!((recs.len(), bad.len()), (2, 0));
    let z = zstd::encode_all(ZEEK_TSV.as_bytes(), 1).unwrap();
    let mut r =
        CaptureReader::from_reader("conn.log.zst".into(), Box::new(std::io::Cursor::new(z)))
            .unwrap();
    assert_eq!(r.format(), CaptureFormat::FlowLog(LogFormat::ZeekTsv));
    assert_eq!(items(&mut r).0.len(), 4);
}

#[test]
fn counts_must_be_counts() {
    let csv = "src_ip,dst_ip,proto,first_ts,fwd_packets,fwd_bytes
1.1.1.1,2.2.2.2,6,5,12.0,1500
1.1.1.1,2.2.2.2,6,5,-1,1500
1.1.1.1,2.2.2.2,6,5,1,1e400
1.1.1.1,2.2.2.2,6,5,1,NaN
";
    let mut r = open(csv, None);
    let (recs, bad) = items(&mut r);
    assert_eq!(recs.len(), 1, "12.0 is a count");
    assert_eq!(recs[0].packets, 12);
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert!(
        bad.iter().all(|w| w.what.contains("is not a count")),
        "{bad:?}"
    );
}

#[test]
fn split_on_cuts_where_str_split_does() {
    for line in [
        "",
        "\t",
        "a",
        "a\tb",
        "\ta\t\tb\t",
        "日本\t語\t\tカ",
        "x,\"y,z\",",
        ",,,",
    ] {
        for sep in [b'\t', b','] {
            let want: Vec<&str> = line.split(sep as char).collect();
            assert_eq!(split_on(line, sep), want, "{line:?} {sep}");
        }
    }
}

#[test]
fn trim_is_str_trim() {
    for s in [
        "",
        " ",
        "a",
        " a",
        "a ",
        "\ta\t",
        "10.1.1.1",
        "\u{3000}x\u{3000}",
        "x\u{a0}",
        "-",
        "é",
        " é ",
        "a b",
    ] {
        assert_eq!(trim(s), s.trim(), "{s:?}");
    }
}

/// Every item and the count of other lines, then how reading ended.
type Read = (Vec<LogItem>, u64, Option<Damage>);

fn read_all(r: &mut CaptureReader) -> Read {
    let mut out = Vec::new();
    loop {
        match r.next_log_item() {
            Ok(Some(i)) => out.push(i),
            Ok(None) => return (out, r.skipped_blocks(), None),
            Err(d) => return (out, r.skipped_blocks(), Some(d)),
        }
    }
}

/// Gives its bytes, then fails.
struct FailsAfter(std::io::Cursor<Vec<u8>>);
impl std::io::Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(70_000);
        match self.0.read(&mut buf[..n])? {
            0 => Err(std::io::Error::other("disk gone")),
            n => Ok(n),
        }
    }
}

#[test]
fn json_lines_parsed_ahead_are_the_lines_read_on_one_thread() {
    // Blocks close at 1 024 lines or 1 MiB: thousands of lines of every kind, a line over
    // the longest read, lines near a megabyte, then a last line without its newline.
    let flow = r#"{"timestamp":"2026-11-24T15:00:00.000000+0000","flow_id":1,"event_type":"flow","src_ip":"10.2.10.21","src_port":50000,"dest_ip":"10.3.6.10","dest_port":443,"proto":"TCP","flow":{"pkts_toserver":3,"pkts_toclient":2,"bytes_toserver":300,"bytes_toclient":200,"start":"2026-11-24T15:00:00.000000+0000","end":"2026-11-24T15:00:01.000000+0000"}}"#;
    let zeek = r#"{"ts":1764000000.5,"id.orig_h":"10.2.10.21","id.orig_p":50000,"id.resp_h":"10.3.6.10","id.resp_p":443,"proto":"tcp","duration":1.0,"orig_pkts":3,"resp_pkts":2}"#;
    let lines: [&[u8]; 8] = [
        b"",
        b"{\"event_type\":\"dns\",\"src_ip\":\"10.0.0.1\"}",
        b"{\"event_type\":\"flow\",\"src_ip\":",
        b"\xff\xfe not text",
        b"   \r",
        b"{\"event_type\":\"flow\",\"src_ip\":\"10.0.0.1\",\"x\":1e400}",
        b"[1,2,3]\r",
        b"{\"event_type\" : \"flow\", \"src_ip\":\"10.9.9.9\"}",
    ];
    for (good, format) in [(flow, LogFormat::SuricataEve), (zeek, LogFormat::ZeekJson)] {
        let mut text = "\u{feff}".as_bytes().to_vec();
        for i in 0..5_000 {
            text.extend_from_slice(if i % 3 == 0 {
                good.as_bytes()
            } else {
                lines[i % 8]
            });
            text.push(b'\n');
            if i == 2_500 {
                text.extend(std::iter::repeat_n(b' ', MAX_LINE + 10));
                text.push(b'\n');
            }
            if i % 1_000 == 999 {
                text.extend(std::iter::repeat_n(b' ', MAX_LINE - 100));
                text.extend_from_slice(good.as_bytes());
                text.push(b'\n');
            }
        }
        text.extend_from_slice(&good.as_bytes()[..good.len() - 3]);
        let open = |parse_thread: bool, r: Box<dyn std::io::Read + Send>| {
            let opts = OpenOptions {
                parse_thread,
                ..OpenOptions::default()
            };
            CaptureReader::from_reader_opts("log".into(), r, &opts).unwrap()
        };
        let cursor = || Box::new(std::io::Cursor::new(text.clone()));
        let mut one = open(false, cursor());
        assert_eq!(one.format(), CaptureFormat::FlowLog(format));
        assert!(!one.parses_ahead());
        let want = read_all(&mut one);
        let records = want
            .0
            .iter()
            .filter(|i| matches!(i, LogItem::Record(_)))
            .count();
        let bad = want.0.len() - records;
        assert!(
            records > 1_600 && bad > 1_000 && want.1 > 500,
            "{records} {bad} {}",
            want.1
        );
        let mut two = open(true, cursor());
        assert!(two.parses_ahead());
        assert!(read_all(&mut two) == want, "{format:?}");
        // Reading fails partway: the same lines before it, then the same damage.
        let fails = || Box::new(FailsAfter(std::io::Cursor::new(text[..3_000_000].to_vec())));
        let want = read_all(&mut open(false, fails()));
        assert!(want.2.is_some() && want.0.len() > 1_000);
        assert!(
            read_all(&mut open(true, fails())) == want,
            "{format:?}, failing"
        );
    }
    // Other formats are read on one thread.
    let mut r = open(NFDUMP, None);
    assert!(!r.parses_ahead());
    let opts = OpenOptions {
        parse_thread: true,
        ..OpenOptions::default()
    };
    let r2 = CaptureReader::from_reader_opts(
        "log".into(),
        Box::new(std::io::Cursor::new(NFDUMP.as_bytes().to_vec())),
        &opts,
    )
    .unwrap();
    assert!(!r2.parses_ahead());
    assert_eq!(read_all(&mut r), read_all(&mut { r2 }));
}
