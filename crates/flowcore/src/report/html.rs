//! One self-contained HTML page of an analysis, for people who open a file rather than a
//! terminal (the auditor, the on-call officer's mail): summary, the segment × segment matrix
//! as a coloured grid, a timeline of violations by hour, the findings with filters, and the
//! inputs with their SHA-256. No external resources: styles, script and chart are inline.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{self, Write};

use crate::policy::{Analysis, Ruleset, Severity};
use crate::report::analysis::{class_label, local_time, AnalysedInput, Lang};
use crate::report::RunContext;
use crate::time::{format_rfc3339, NS_PER_SEC};

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:system-ui,'Noto Sans CJK JP',sans-serif;margin:24px;color:#222}\
h1{font-size:22px}h2{font-size:18px;margin-top:28px}table{border-collapse:collapse;font-size:13px}\
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}th{background:#f3f3f3;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}.grid td{text-align:center;min-width:90px}\
.sev-critical{background:#7a0010;color:#fff}.sev-high{background:#d9534f;color:#fff}\
.sev-medium{background:#f0ad4e}.sev-low{background:#ffe08a}.sev-info{background:#ddd}\
.new{font-weight:bold;color:#b00}.muted{color:#777}.filters{margin:8px 0}\
.filters input,.filters select{margin-right:8px;padding:3px}code{font-size:12px}";

const SCRIPT: &str = "function flt(){var q=document.getElementById('q').value.toLowerCase();\
var s=document.getElementById('sev').value;var n=0;\
document.querySelectorAll('#findings tbody tr').forEach(function(r){\
var ok=(!q||r.textContent.toLowerCase().indexOf(q)>=0)&&(!s||r.dataset.sev===s);\
r.style.display=ok?'':'none';if(ok)n++;});document.getElementById('shown').textContent=n;}\
document.addEventListener('DOMContentLoaded',function(){flt();document.body.dataset.ready='1';});";

/// Writes the analysis as one HTML page.
pub fn analysis_html(
    rs: &Ruleset,
    inputs: &[AnalysedInput],
    errors: &[String],
    a: &Analysis,
    ctx: &RunContext,
    lang: Lang,
    out: &mut impl Write,
) -> io::Result<()> {
    let mut h = String::with_capacity(64 * 1024 + a.findings.len() * 600);
    let title = format!("{} — flowcore analysis", rs.site_name);
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        if lang == Lang::Ja { "ja" } else { "en" },
        esc(&title)
    );
    let _ = write!(
        h,
        "<h1>{}</h1><p>Policy <b>{}</b> ({} / {}). Ruleset <code>{}</code> sha256 <code>{}</code>. flowcore {}.</p>",
        esc(&rs.site_name),
        esc(&rs.policy_id),
        esc(&rs.policy_names.0),
        esc(&rs.policy_names.1),
        esc(&crate::text::path_text(&rs.path)),
        esc(&rs.sha256),
        env!("CARGO_PKG_VERSION")
    );
    if let Some(t) = ctx.generated_at {
        let _ = write!(h, "<p class=\"muted\">Generated {}</p>", format_rfc3339(t));
    }

    // Summary.
    let count = |s: Severity| a.findings.iter().filter(|f| f.severity == s).count();
    let _ = write!(
        h,
        "<h2>Summary</h2><table><tr><th>flows judged</th><th>in violation</th><th>findings</th>\
         <th class=\"sev-critical\">critical</th><th class=\"sev-high\">high</th><th class=\"sev-medium\">medium</th><th class=\"sev-low\">low</th></tr>\
         <tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr></table>",
        a.flows,
        a.violating_flows,
        a.findings.len(),
        count(Severity::Critical),
        count(Severity::High),
        count(Severity::Medium),
        count(Severity::Low)
    );
    if let Some(d) = &a.baseline {
        let _ = write!(
            h,
            "<p>Compared with <code>{}</code>: <span class=\"new\">{} new</span>, {} disappeared.</p>",
            esc(&d.path),
            d.new.len(),
            d.disappeared.len()
        );
    }

    // The matrix as a grid: rows initiators, columns responders.
    let classes: BTreeSet<&str> = a
        .matrix
        .iter()
        .flat_map(|(s, d, _)| [s.as_str(), d.as_str()])
        .collect();
    let cells: BTreeMap<(&str, &str), _> = a
        .matrix
        .iter()
        .map(|(s, d, c)| ((s.as_str(), d.as_str()), c))
        .collect();
    let max_v = a
        .matrix
        .iter()
        .map(|(_, _, c)| c.violations)
        .max()
        .unwrap_or(0)
        .max(1);
    h.push_str("<h2>Segment matrix</h2><p class=\"muted\">Rows start the flow, columns answer. Each cell: flows / violations; red where the policy was violated.</p><table class=\"grid\"><tr><th></th>");
    for c in &classes {
        let _ = write!(h, "<th>{}</th>", esc(&class_label(c, lang)));
    }
    h.push_str("</tr>");
    for r in &classes {
        let _ = write!(h, "<tr><th>{}</th>", esc(&class_label(r, lang)));
        for c in &classes {
            match cells.get(&(*r, *c)) {
                None => h.push_str("<td class=\"muted\">·</td>"),
                Some(cell) => {
                    let style = if cell.violations > 0 {
                        let alpha = 0.25 + 0.75 * cell.violations as f64 / max_v as f64;
                        format!("background:rgba(217,83,79,{alpha:.2})")
                    } else {
                        "background:#dff0d8".to_string()
                    };
                    let _ = write!(
                        h,
                        "<td style=\"{style}\" title=\"{} bytes, {} permitted\">{} / {}</td>",
                        cell.bytes, cell.permitted, cell.flows, cell.violations
                    );
                }
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");

    // Violations by hour (site time), as an inline SVG bar chart.
    h.push_str("<h2>Violations by hour</h2>");
    if a.violations_by_hour.is_empty() {
        h.push_str("<p>No violations.</p>");
    } else {
        let (first, last) = (
            a.violations_by_hour[0].0,
            a.violations_by_hour[a.violations_by_hour.len() - 1].0,
        );
        let hours = ((last - first + 1) as usize).min(24 * 31);
        let max_n = a
            .violations_by_hour
            .iter()
            .map(|x| x.1)
            .max()
            .unwrap_or(1)
            .max(1);
        let (bw, ch) = (24usize, 120usize);
        let _ = write!(
            h,
            "<svg role=\"img\" aria-label=\"violations by hour\" width=\"{}\" height=\"{}\">",
            hours * bw + 40,
            ch + 40
        );
        for (hour, n) in &a.violations_by_hour {
            let i = (hour - first) as usize;
            if i >= hours {
                break;
            }
            let bh = (*n as f64 / max_n as f64 * ch as f64).max(1.0);
            let label = local_time(hour * 3600 * NS_PER_SEC, rs.utc_offset);
            let _ = write!(
                h,
                "<rect x=\"{}\" y=\"{:.1}\" width=\"{}\" height=\"{bh:.1}\" fill=\"#d9534f\"><title>{} : {n}</title></rect><text x=\"{}\" y=\"{}\" font-size=\"10\">{}</text>",
                20 + i * bw,
                10.0 + ch as f64 - bh,
                bw - 4,
                esc(&label),
                20 + i * bw,
                ch + 25,
                &label[11..13]
            );
        }
        let _ = write!(
            h,
            "<text x=\"0\" y=\"10\" font-size=\"10\">{max_n}</text></svg><p class=\"muted\">Hours in the site's time ({}); bars count violating flows by their first packet.</p>",
            esc(&local_time(first * 3600 * NS_PER_SEC, rs.utc_offset)[19..])
        );
    }

    // Findings with filters.
    let _ = write!(
        h,
        "<h2>Findings</h2><div class=\"filters\"><input id=\"q\" placeholder=\"filter: address, rule, text\" oninput=\"flt()\">\
         <select id=\"sev\" onchange=\"flt()\"><option value=\"\">all severities</option><option>critical</option><option>high</option><option>medium</option><option>low</option><option>info</option></select>\
         <span id=\"shown\">{}</span> / {} shown</div>\
         <table id=\"findings\"><thead><tr><th>severity</th><th>rule</th><th>initiator</th><th>responder</th><th>service</th><th>time ({})</th><th>flows</th><th>packets</th><th>bytes</th><th>message</th><th>evidence</th></tr></thead><tbody>",
        a.findings.len(),
        a.findings.len(),
        esc(&local_time(0, rs.utc_offset)[19..])
    );
    for f in &a.findings {
        let (msg, other) = match lang {
            Lang::En => (&f.message_en, &f.message_ja),
            Lang::Ja => (&f.message_ja, &f.message_en),
        };
        let new = match &a.baseline {
            Some(d) if d.is_new(&f.id) => " <span class=\"new\">NEW</span>",
            _ => "",
        };
        let sev = f.severity.as_str();
        let _ = write!(
            h,
            "<tr data-sev=\"{sev}\" id=\"f-{}\"><td class=\"sev-{sev}\">{sev}{new}</td><td>{}<br><span class=\"muted\">{}</span></td>\
             <td>{}<br><span class=\"muted\">{}</span></td><td>{}<br><span class=\"muted\">{}</span></td><td>{}</td>\
             <td>{}<br>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td>{}<br><span class=\"muted\">{}</span></td><td><code>{}</code><br>packet {} at byte {}<br><code>{}</code><br><code>{}</code></td></tr>",
            esc(&f.id),
            esc(&f.rule_id),
            esc(&f.clause),
            esc(&f.src.ip.to_string()),
            esc(&class_label(&f.src.class, lang)),
            esc(&f.dst.ip.to_string()),
            esc(&class_label(&f.dst.class, lang)),
            esc(&f.service),
            esc(&local_time(f.first_ts, rs.utc_offset)),
            esc(&local_time(f.last_ts, rs.utc_offset)),
            f.flows,
            f.packets,
            f.bytes,
            esc(msg),
            esc(other),
            esc(&f.evidence.file),
            f.evidence.first_packet_index,
            f.evidence.first_packet_offset,
            esc(&f.community_id),
            esc(&f.id)
        );
    }
    h.push_str("</tbody></table>");
    if let Some(d) = &a.baseline {
        if !d.disappeared.is_empty() {
            h.push_str("<h2>Disappeared since the baseline</h2><table><tr><th>id</th><th>severity</th><th>rule</th><th>initiator</th><th>responder</th><th>service</th></tr>");
            for g in &d.disappeared {
                let _ = write!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&g.id),
                    esc(&g.severity),
                    esc(&g.rule_id),
                    esc(&g.src_ip),
                    esc(&g.dst_ip),
                    esc(&g.service)
                );
            }
            h.push_str("</table>");
        }
    }

    // Inputs with their hashes and accounting.
    h.push_str("<h2>Inputs</h2><table><tr><th>file</th><th>size</th><th>sha256</th><th>packets read</th><th>decoded</th><th>skipped</th><th>flows</th><th>first packet</th><th>last packet</th><th>damage</th></tr>");
    for i in inputs {
        let s = &i.summary;
        let d = i.digest.as_ref().or(s.digest.as_ref());
        let ts = |t: Option<i64>| t.map_or(String::from("–"), |t| local_time(t, rs.utc_offset));
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.name),
            d.map_or(String::from("–"), |d| d.size.to_string()),
            d.map_or(String::from("–"), |d| d.sha256.clone()),
            s.packets_read,
            s.packets_decoded,
            s.packets_skipped(),
            s.flows.records,
            ts(s.first_ts),
            ts(s.last_ts),
            s.damage.as_ref().map_or(String::new(), |d| esc(&d.to_string()))
        );
    }
    h.push_str("</table>");
    for e in errors {
        let _ = write!(h, "<p class=\"sev-high\">Error: {}</p>", esc(e));
    }
    let _ = writeln!(
        h,
        "<p class=\"muted\">Command: <code>{}</code></p><script>{SCRIPT}</script></body></html>",
        esc(&ctx.command_line.join(" "))
    );
    out.write_all(h.as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
