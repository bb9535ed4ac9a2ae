//! Synthetic NetFlow v5, v9 and IPFIX datagrams for the benchmarks (`exports`, `micro`):
//! 30 records per datagram over the example site's segments and the Internet.

fn addr(i: u32, seg: u8) -> [u8; 4] {
    [10, seg, (i >> 8) as u8, i as u8]
}

/// Records spread over the example site's segments and the Internet: about a thousand hosts
/// (a city hall's worth), so violations aggregate into findings as they do in real nights.
pub fn fields(i: u32) -> ([u8; 4], [u8; 4], u16, u16, u8) {
    let segs = [1u8, 2, 3];
    let i = i % 997;
    let src = addr(i, segs[(i % 3) as usize]);
    let dst = if i.is_multiple_of(5) {
        [93, 184, (i >> 8) as u8, i as u8]
    } else {
        addr(i * 7, segs[((i / 3) % 3) as usize])
    };
    (
        src,
        dst,
        1024 + (i % 50000) as u16,
        [25, 443, 3389, 53, 445][(i % 5) as usize],
        if i.is_multiple_of(4) { 17 } else { 6 },
    )
}

pub fn v5(n: u32) -> Vec<Vec<u8>> {
    (0..n.div_ceil(30))
        .map(|d| {
            let count = 30.min(n - d * 30);
            let mut m = vec![0, 5];
            m.extend((count as u16).to_be_bytes());
            m.extend(100_000u32.to_be_bytes());
            m.extend(1_795_532_400u32.to_be_bytes());
            m.extend([0u8; 12]);
            for k in 0..count {
                let (s, dd, sp, dp, p) = fields(d * 30 + k);
                let mut r = [0u8; 48];
                r[0..4].copy_from_slice(&s);
                r[4..8].copy_from_slice(&dd);
                r[16..20].copy_from_slice(&10u32.to_be_bytes());
                r[20..24].copy_from_slice(&4000u32.to_be_bytes());
                r[24..28].copy_from_slice(&90_000u32.to_be_bytes());
                r[28..32].copy_from_slice(&99_000u32.to_be_bytes());
                r[32..34].copy_from_slice(&sp.to_be_bytes());
                r[34..36].copy_from_slice(&dp.to_be_bytes());
                r[37] = 0x1b;
                r[38] = p;
                m.extend(r);
            }
            m
        })
        .collect()
}

/// v9 (`ipfix` false) or IPFIX messages: a template, then data sets of 30 records.
pub fn templated(n: u32, ipfix: bool) -> Vec<Vec<u8>> {
    templated_with(n, ipfix, false)
}

/// IPFIX messages whose template ends in a variable-length field (an application name,
/// as NetScaler and Huawei templates end in such fields).
pub fn templated_var(n: u32) -> Vec<Vec<u8>> {
    templated_with(n, true, true)
}

fn templated_with(n: u32, ipfix: bool, var: bool) -> Vec<Vec<u8>> {
    let f = |id: u16, len: u16| [id.to_be_bytes(), len.to_be_bytes()].concat();
    let tpl_fields = [
        f(8, 4),
        f(12, 4),
        f(7, 2),
        f(11, 2),
        f(4, 1),
        f(6, 1),
        f(2, 4),
        f(1, 4),
        f(22, 4),
        f(21, 4),
        f(10, 4),
        f(14, 4),
    ];
    let tpl_fields = if var {
        [&tpl_fields[..], &[f(96, 65535)]].concat()
    } else {
        tpl_fields.to_vec()
    };
    let mut tpl = vec![1u8, 0, 0, tpl_fields.len() as u8];
    tpl.extend(tpl_fields.concat());
    let set = |id: u16, body: &[u8]| {
        [
            id.to_be_bytes().to_vec(),
            ((4 + body.len()) as u16).to_be_bytes().to_vec(),
            body.to_vec(),
        ]
        .concat()
    };
    let wrap = |count: u16, sets: Vec<u8>| -> Vec<u8> {
        let mut m = if ipfix {
            let mut h = vec![0, 10];
            h.extend(((16 + sets.len()) as u16).to_be_bytes());
            h.extend(1_795_532_400u32.to_be_bytes());
            h.extend([0u8; 8]);
            h
        } else {
            let mut h = vec![0, 9];
            h.extend(count.to_be_bytes());
            h.extend(100_000u32.to_be_bytes());
            h.extend(1_795_532_400u32.to_be_bytes());
            h.extend([0u8; 8]);
            h
        };
        m.extend(sets);
        m
    };
    let mut out = vec![wrap(1, set(if ipfix { 2 } else { 0 }, &tpl))];
    for d in 0..n.div_ceil(30) {
        let count = 30.min(n - d * 30);
        let mut body = Vec::new();
        for k in 0..count {
            let (s, dd, sp, dp, p) = fields(d * 30 + k);
            body.extend(s);
            body.extend(dd);
            body.extend(sp.to_be_bytes());
            body.extend(dp.to_be_bytes());
            body.extend([p, 0x1b]);
            body.extend(10u32.to_be_bytes());
            body.extend(4000u32.to_be_bytes());
            body.extend(90_000u32.to_be_bytes());
            body.extend(99_000u32.to_be_bytes());
            body.extend(3u32.to_be_bytes());
            body.extend(4u32.to_be_bytes());
            if var {
                let name: &[u8] =
                    [&b"https"[..], b"smb", b"rdp", b"dns", b"smtp"][(k % 5) as usize];
                body.push(name.len() as u8);
                body.extend(name);
            }
        }
        out.push(wrap(count as u16, set(256, &body)));
    }
    out
}

/// The datagrams as Ethernet/IPv4/UDP packets from 192.0.2.1:2055 to port 2055 in a pcap
/// capture, a second apart every thousand.
pub fn pcap(datagrams: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(0xa1b2_c3d4u32.to_le_bytes());
    f.extend(2u16.to_le_bytes());
    f.extend(4u16.to_le_bytes());
    f.extend([0u8; 8]);
    f.extend(262_144u32.to_le_bytes());
    f.extend(1u32.to_le_bytes());
    for (i, d) in datagrams.iter().enumerate() {
        let len = 14 + 20 + 8 + d.len();
        f.extend((1_795_532_400 + i as u32 / 1000).to_le_bytes());
        f.extend(0u32.to_le_bytes());
        f.extend((len as u32).to_le_bytes());
        f.extend((len as u32).to_le_bytes());
        f.extend([0u8; 12]);
        f.extend([0x08, 0x00, 0x45, 0]);
        f.extend(((20 + 8 + d.len()) as u16).to_be_bytes());
        f.extend([0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
        f.extend(2055u16.to_be_bytes());
        f.extend(2055u16.to_be_bytes());
        f.extend(((8 + d.len()) as u16).to_be_bytes());
        f.extend([0, 0]);
        f.extend(d);
    }
    f
}
