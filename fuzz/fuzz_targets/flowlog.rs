//! Any bytes as a flow log: the first byte picks a header (nfdump CSV, Zeek TSV, Zeek JSON,
//! Suricata eve, flowcore CSV, a mapped space-separated log), the rest is the log's body,
//! through the whole pipeline. Must never panic; accounting must reconcile. A JSON log's
//! lines parsed on a helper thread as well must give the same items as on one thread.
#![no_main]
use libfuzzer_sys::fuzz_target;

use flowcore::flow::{FlowConfig, FlowRecord};
use flowcore::input::flowlog::ColumnMap;
use flowcore::input::{CaptureReader, OpenOptions};
use flowcore::pipeline::Pipeline;

const HEADS: [&str; 6] = [
    "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out\n",
    "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\thistory\n",
    "{\"ts\":1.5,\"id.orig_h\":\"10.0.0.1\"}\n",
    "{\"event_type\":\"flow\"}\n",
    "src_ip,dst_ip,src_port,dst_port,proto,first_ts,last_ts,fwd_packets,fwd_bytes,rev_packets,rev_bytes\n",
    "srcaddr dstaddr srcport dstport protocol packets bytes start end\n",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let mut text = HEADS[usize::from(pick) % HEADS.len()].as_bytes().to_vec();
    text.extend_from_slice(body);
    let columns = ColumnMap::from_pairs(
        "src_ip=srcaddr,dst_ip=dstaddr,src_port=srcport,dst_port=dstport,proto=protocol,\
         start=start,end=end,packets=packets,bytes=bytes,separator=space",
    )
    .ok();
    let opts = OpenOptions {
        hash: false,
        hash_thread: false,
        inflate_thread: false,
        parse_thread: false,
        columns,
    };
    let open = |opts: &OpenOptions| {
        let cursor = Box::new(std::io::Cursor::new(text.clone()));
        CaptureReader::from_reader_opts("fuzz".into(), cursor, opts)
    };
    let Ok(mut r) = open(&opts) else {
        return;
    };
    // One thread against a parsing helper: the same items, other lines and damage.
    let ahead = OpenOptions {
        parse_thread: true,
        ..opts.clone()
    };
    if let (Ok(mut one), Ok(mut two)) = (open(&opts), open(&ahead)) {
        let all = |r: &mut CaptureReader| {
            let mut items = Vec::new();
            let end = loop {
                match r.next_log_item() {
                    Ok(Some(i)) => items.push(i),
                    Ok(None) => break None,
                    Err(d) => break Some(d),
                }
            };
            (items, end, r.skipped_blocks())
        };
        assert!(all(&mut one) == all(&mut two));
    }
    let mut p = Pipeline::new(FlowConfig::default()).pair_exports(60, 1024);
    let s = p.run(&mut r, 0, &mut |_: FlowRecord| {});
    p.finish(&mut |_: FlowRecord| {});
    assert_eq!(s.packets_read, s.packets_decoded + s.packets_skipped());
});
