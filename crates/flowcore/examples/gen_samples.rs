//! Generates the project's own sample capture, `samples/ome-city-sample.pcap`: one night of
//! synthetic traffic in a municipal network laid out like `rulesets/README.md`'s example site
//! (My Number 10.1.0.0/16, LGWAN 10.2.0.0/16, Internet segment 10.3.0.0/16, LGWAN beyond the
//! router 172.20.0.0/16, prefectural security cloud 203.0.113.0/28), with the legitimate
//! crossings and the violations the policy engine must find.
//!
//! Deterministic: the same bytes on every run (a test checks the committed file against it).
//!
//! ```text
//! cargo run -p flowcore --example gen_samples -- samples/
//! ```

use std::io::Write;
use std::net::IpAddr;

use etherparse::{IpHeaders, IpNumber, Ipv4Header, Ipv6FlowLabel, Ipv6Header, PacketBuilder};

/// 2026-11-24T15:00:00Z = 2026-11-25 00:00 JST.
const T0: u64 = 1_795_532_400;

struct Pcap {
    buf: Vec<u8>,
}

impl Pcap {
    fn new() -> Self {
        let mut buf = Vec::new();
        buf.extend(0xa1b2_3c4du32.to_le_bytes()); // nanosecond pcap
        buf.extend(2u16.to_le_bytes());
        buf.extend(4u16.to_le_bytes());
        buf.extend([0u8; 8]);
        buf.extend(262_144u32.to_le_bytes());
        buf.extend(1u32.to_le_bytes()); // Ethernet
        Pcap { buf }
    }

    fn packet(&mut self, ts_ms: u64, frame: &[u8]) {
        let ns = ts_ms * 1_000_000;
        self.buf
            .extend(((T0 + ns / 1_000_000_000) as u32).to_le_bytes());
        self.buf.extend(((ns % 1_000_000_000) as u32).to_le_bytes());
        self.buf.extend((frame.len() as u32).to_le_bytes());
        self.buf.extend((frame.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(frame);
    }
}

#[derive(Clone, Copy)]
struct Host {
    ip: IpAddr,
    mac: [u8; 6],
    vlan: Option<u16>,
}

fn host(ip: &str, mac_last: u8, vlan: Option<u16>) -> Host {
    Host {
        ip: ip.parse().unwrap(),
        mac: [0x02, 0x00, 0x5e, 0x10, vlan.unwrap_or(0) as u8, mac_last],
        vlan,
    }
}

fn link(src: &Host, dst: &Host, ethertype: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(dst.mac);
    f.extend(src.mac);
    if let Some(v) = src.vlan {
        f.extend(0x8100u16.to_be_bytes());
        f.extend(v.to_be_bytes());
    }
    f.extend(ethertype.to_be_bytes());
    f
}

fn ip_headers(src: &Host, dst: &Host) -> IpHeaders {
    match (src.ip, dst.ip) {
        (IpAddr::V4(s), IpAddr::V4(d)) => IpHeaders::Ipv4(
            Ipv4Header::new(0, 64, IpNumber::TCP, s.octets(), d.octets()).unwrap(),
            Default::default(),
        ),
        (IpAddr::V6(s), IpAddr::V6(d)) => IpHeaders::Ipv6(
            Ipv6Header {
                traffic_class: 0,
                flow_label: Ipv6FlowLabel::ZERO,
                payload_length: 0,
                next_header: IpNumber::TCP,
                hop_limit: 64,
                source: s.octets(),
                destination: d.octets(),
            },
            Default::default(),
        ),
        _ => panic!("mixed families"),
    }
}

fn frame(src: &Host, dst: &Host, body: Vec<u8>) -> Vec<u8> {
    let et = if src.ip.is_ipv4() { 0x0800 } else { 0x86dd };
    let mut f = link(src, dst, et);
    f.extend(body);
    f
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;

fn tcp(src: &Host, dst: &Host, sp: u16, dp: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = PacketBuilder::ip(ip_headers(src, dst)).tcp(sp, dp, 1000, 64240);
    if flags & SYN != 0 {
        b = b.syn();
    }
    if flags & ACK != 0 {
        b = b.ack(1);
    }
    if flags & FIN != 0 {
        b = b.fin();
    }
    if flags & RST != 0 {
        b = b.rst();
    }
    if flags & PSH != 0 {
        b = b.psh();
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    frame(src, dst, out)
}

fn udp(src: &Host, dst: &Host, sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ip(ip_headers(src, dst))
        .udp(sp, dp)
        .write(&mut out, payload)
        .unwrap();
    frame(src, dst, out)
}

fn icmp_echo(src: &Host, dst: &Host, reply: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let b = PacketBuilder::ip(ip_headers(src, dst));
    let b = if reply {
        b.icmpv4_echo_reply(id, seq)
    } else {
        b.icmpv4_echo_request(id, seq)
    };
    b.write(&mut out, &[0x61; 32]).unwrap();
    frame(src, dst, out)
}

/// A full TCP conversation: handshake, `exchanges` request/response pairs, FIN close.
fn tcp_session(p: &mut Pcap, t: &mut u64, c: &Host, s: &Host, cp: u16, sp: u16, exchanges: usize) {
    p.packet(*t, &tcp(c, s, cp, sp, SYN, &[]));
    p.packet(*t + 1, &tcp(s, c, sp, cp, SYN | ACK, &[]));
    p.packet(*t + 2, &tcp(c, s, cp, sp, ACK, &[]));
    for i in 0..exchanges {
        let base = *t + 10 + 20 * i as u64;
        p.packet(
            base,
            &tcp(c, s, cp, sp, PSH | ACK, &vec![b'q'; 120 + 7 * i]),
        );
        p.packet(
            base + 5,
            &tcp(s, c, sp, cp, PSH | ACK, &vec![b'r'; 900 + 11 * i]),
        );
    }
    let end = *t + 20 + 20 * exchanges as u64;
    p.packet(end, &tcp(c, s, cp, sp, FIN | ACK, &[]));
    p.packet(end + 1, &tcp(s, c, sp, cp, FIN | ACK, &[]));
    p.packet(end + 2, &tcp(c, s, cp, sp, ACK, &[]));
    *t = end + 1000;
}

/// A 4000-byte IPv4 UDP datagram split into 1480-byte fragments,
/// sent last fragment first (out of order, as reassembly must cope with).
fn udp_fragmented(p: &mut Pcap, t: u64, src: &Host, dst: &Host, sp: u16, dp: u16) {
    let (len, id) = (4000, 0x7a7a);
    let full = udp(src, dst, sp, dp, &vec![b's'; len]);
    let l2 = full.len() - (len + 8 + 20);
    let (hdr, _) = Ipv4Header::from_slice(&full[l2..]).unwrap();
    let payload = &full[l2 + 20..];
    let chunk = 1480;
    let pieces: Vec<(usize, &[u8])> = payload
        .chunks(chunk)
        .enumerate()
        .map(|(i, c)| (i * chunk, c))
        .collect();
    let n = pieces.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.rotate_right(1); // last fragment first
    for (k, i) in order.into_iter().enumerate() {
        let (off, data) = pieces[i];
        let mut h = hdr.clone();
        h.identification = id;
        h.more_fragments = i + 1 < n;
        h.fragment_offset = etherparse::IpFragOffset::try_new((off / 8) as u16).unwrap();
        h.total_len = (20 + data.len()) as u16;
        h.header_checksum = h.calc_header_checksum();
        let mut body = Vec::new();
        h.write(&mut body).unwrap();
        body.extend_from_slice(data);
        p.packet(t + k as u64, &frame(src, dst, body));
    }
}

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "samples".into());
    // VLAN 10: My Number, 20: LGWAN, 30: Internet segment; the routers are untagged.
    let mn_client = host("10.1.20.7", 0x07, Some(10));
    let mn_address_sys = host("10.1.9.5", 0x05, Some(10));
    let lg_client = host("10.2.10.21", 0x21, Some(20));
    let lg_client2 = host("10.2.10.30", 0x30, Some(20));
    let lg_mail = host("10.2.5.25", 0x25, Some(20));
    let lg_gw = host("10.2.1.1", 0x01, Some(20));
    let lg_file = host("10.2.8.9", 0x09, Some(20));
    let net_sanitizer = host("10.3.5.25", 0x25, Some(30));
    let net_vbrowser = host("10.3.6.10", 0x10, Some(30));
    let net_client = host("10.3.20.15", 0x15, Some(30));
    let net_syslog = host("10.3.8.8", 0x08, Some(30));
    let lgwan_wan_server = host("172.20.1.5", 0xa5, None);
    let lgwan_asp = host("172.20.40.2", 0xa2, None);
    let sec_cloud_proxy = host("203.0.113.5", 0xc5, None);
    let public_dns = host("8.8.8.8", 0xd8, None);
    let public_web = host("93.184.216.34", 0xd3, None);
    let public_web2 = host("198.51.100.7", 0xd7, None);
    let unknown = host("192.168.77.5", 0x77, Some(20));
    let lg_v6 = host("fd00:2::15", 0x15, Some(20));
    let net_v6 = host("fd00:3::80", 0x80, Some(30));
    // A bridged machine: one MAC, addresses in two segments.
    let mut dual_a = host("10.1.30.3", 0x33, Some(10));
    let mut dual_b = host("10.3.30.3", 0x33, Some(30));
    dual_a.mac = [0x02, 0x00, 0x5e, 0xdd, 0x00, 0x33];
    dual_b.mac = dual_a.mac;

    let mut p = Pcap::new();
    let mut t = 0u64;
    // Legitimate: the mail sanitizer relays SMTP to the LGWAN mail server (6(3)イ).
    tcp_session(&mut p, &mut t, &net_sanitizer, &lg_mail, 40001, 25, 3);
    // Legitimate: an LGWAN terminal opens a screen-transfer session to the virtual browser.
    tcp_session(&mut p, &mut t, &lg_client, &net_vbrowser, 50123, 3389, 5);
    // Violation: the same port opened from the Internet side, refused.
    p.packet(t, &tcp(&net_vbrowser, &lg_client, 50999, 3389, SYN, &[]));
    p.packet(
        t + 1,
        &tcp(&lg_client, &net_vbrowser, 3389, 50999, RST | ACK, &[]),
    );
    t += 1000;
    // Declared exception: the address system to the intermediate server over LGWAN.
    tcp_session(
        &mut p,
        &mut t,
        &mn_address_sys,
        &lgwan_wan_server,
        41000,
        443,
        2,
    );
    // Violation (critical): a My Number terminal resolves names on the public Internet.
    p.packet(
        t,
        &udp(
            &mn_client,
            &public_dns,
            53001,
            53,
            b"\x12\x34\x01\x00\x00\x01query",
        ),
    );
    p.packet(
        t + 30,
        &udp(
            &public_dns,
            &mn_client,
            53,
            53001,
            b"\x12\x34\x81\x80\x00\x01answer..",
        ),
    );
    t += 1000;
    // Legitimate: Internet segment through the security cloud proxy (6(3)ウ).
    tcp_session(
        &mut p,
        &mut t,
        &net_client,
        &sec_cloud_proxy,
        52000,
        8080,
        4,
    );
    // Violation: Internet segment straight to a public web server, unanswered SYNs.
    for k in 0..3 {
        p.packet(
            t + 1000 * k,
            &tcp(&net_client, &public_web, 52100, 443, SYN, &[]),
        );
    }
    t += 5000;
    // Violation (critical): LGWAN terminal to a public address.
    tcp_session(&mut p, &mut t, &lg_client2, &public_web2, 50300, 443, 1);
    // Normal: LGWAN terminal to an LGWAN-ASP service, and a ping to its gateway.
    tcp_session(&mut p, &mut t, &lg_client, &lgwan_asp, 50400, 443, 2);
    for s in 0..3 {
        p.packet(
            t + 200 * s,
            &icmp_echo(&lg_client, &lg_gw, false, 0x4242, s as u16),
        );
        p.packet(
            t + 200 * s + 1,
            &icmp_echo(&lg_gw, &lg_client, true, 0x4242, s as u16),
        );
    }
    t += 1000;
    // Violation: IPv6 from the LGWAN segment to the Internet segment.
    tcp_session(&mut p, &mut t, &lg_v6, &net_v6, 50500, 443, 1);
    // Incomplete inventory: an address in no segment talks to the LGWAN mail server.
    tcp_session(&mut p, &mut t, &unknown, &lg_mail, 50600, 445, 1);
    // Dual-homed host: one MAC sources addresses of two segments.
    p.packet(t, &udp(&dual_a, &mn_client, 5353, 5353, b"mdns"));
    p.packet(t + 10, &udp(&dual_b, &net_client, 5353, 5353, b"mdns"));
    t += 1000;
    // Violation: a large syslog datagram from the Internet segment into LGWAN, fragmented.
    udp_fragmented(&mut p, t, &net_syslog, &lg_file, 41514, 514);
    t += 1000;
    // Reply first: a DNS answer whose query was not captured (the initiator is flipped).
    p.packet(
        t,
        &udp(&lgwan_wan_server, &lg_client, 53, 61000, b"late answer"),
    );
    t += 1000;
    // Violation: a host that is not the mail sanitizer sends SMTP to the LGWAN mail server.
    let net_rogue = host("10.3.9.9", 0x99, Some(30));
    tcp_session(&mut p, &mut t, &net_rogue, &lg_mail, 40100, 25, 1);
    // Violations of the My Number segment toward every other place.
    p.packet(t, &tcp(&mn_client, &net_client, 50700, 445, SYN, &[]));
    p.packet(
        t + 100,
        &tcp(&mn_client, &sec_cloud_proxy, 50701, 8080, SYN, &[]),
    );
    p.packet(
        t + 101,
        &tcp(&sec_cloud_proxy, &mn_client, 8080, 50701, RST | ACK, &[]),
    );
    p.packet(
        t + 200,
        &tcp(&lg_client, &mn_address_sys, 50702, 22, SYN, &[]),
    );
    // The declared exception, but a service it does not cover.
    p.packet(
        t + 300,
        &tcp(&mn_address_sys, &lgwan_wan_server, 50703, 80, SYN, &[]),
    );
    // An exception that expired before this night (ome-city.toml's EX-002).
    let mn_old_tax = host("10.1.9.6", 0x06, Some(10));
    let lgwan_wan_old = host("172.20.1.6", 0xa6, None);
    p.packet(
        t + 400,
        &tcp(&mn_old_tax, &lgwan_wan_old, 50704, 443, SYN, &[]),
    );
    t += 1000;
    // LGWAN segment to the security cloud, Internet segment to the LGWAN network.
    p.packet(
        t,
        &tcp(&lg_client2, &sec_cloud_proxy, 50800, 8080, SYN, &[]),
    );
    p.packet(t + 100, &tcp(&net_client, &lgwan_asp, 50801, 443, SYN, &[]));
    t += 1000;
    // The core router forwards between segments: one MAC, several segments. ome-city.toml
    // declares it in [devices] routers; the example site does not, and reports it.
    let mut routed_mn = host("10.1.40.4", 0x44, Some(10));
    let mut routed_lg = host("10.2.40.4", 0x44, Some(20));
    routed_mn.mac = [0x02, 0x00, 0x5e, 0x00, 0x00, 0xfe];
    routed_lg.mac = routed_mn.mac;
    p.packet(t, &udp(&routed_mn, &mn_client, 123, 123, b"ntp"));
    p.packet(t + 10, &udp(&routed_lg, &lg_client, 123, 123, b"ntp"));

    let path = std::path::Path::new(&dir).join("ome-city-sample.pcap");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&p.buf).unwrap();
    eprintln!("wrote {} ({} bytes)", path.display(), p.buf.len());
}
