//! The three-tier separation policy: a site's inventory plus a policy model, compiled into a
//! [`Ruleset`]; each flow's endpoints are attributed to segments or zones and judged; findings
//! aggregate per rule, endpoints and service.

pub mod model;
pub mod site;
pub mod testing;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use hashbrown::HashMap;
use ipnet::IpNet;
use sha2::{Digest, Sha256};

use crate::decode::proto;
use crate::flow::{export_initiator_known, from_export, FlowRecord, FlowSink};
use crate::input::export::ExportRecord;
use crate::segment::{Attribution, ClassId, ClassKind, Inventory, MacObservations, MacSighting};
use crate::time::{TimestampNs, NS_PER_SEC};
use model::{Direction, Permit, PolicyModel, RuleKind};
use site::Locator;
pub use site::RulesetError;

/// How serious a finding is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Informational.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// A service: protocol and optionally a responder port range (`tcp/25`, `udp/3389`,
/// `tcp/8530-8531`, `icmp`, `any`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// IP protocol; `None` for any.
    pub proto: Option<u8>,
    /// Inclusive responder port range; `None` for any.
    pub ports: Option<(u16, u16)>,
}

impl Service {
    /// Parses `proto[/port[-port]]`.
    pub fn parse(s: &str) -> Result<Service, String> {
        let s = s.trim();
        if s == "any" {
            return Ok(Service {
                proto: None,
                ports: None,
            });
        }
        let (p, ports) = match s.split_once('/') {
            Some((p, r)) => (p, Some(r)),
            None => (s, None),
        };
        let proto = match p {
            "tcp" => proto::TCP,
            "udp" => proto::UDP,
            "icmp" => proto::ICMP,
            "icmp6" | "icmpv6" => proto::ICMPV6,
            "gre" => proto::GRE,
            "esp" => 50,
            "sctp" => 132,
            n => n
                .parse::<u8>()
                .map_err(|_| format!("unknown protocol {n:?} in service {s:?} (tcp, udp, icmp, icmp6, gre, esp, sctp or a number)"))?,
        };
        let ports = match ports {
            None => None,
            Some(r) => {
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                let a: u16 = a
                    .parse()
                    .map_err(|_| format!("bad port {a:?} in service {s:?}"))?;
                let b: u16 = b
                    .parse()
                    .map_err(|_| format!("bad port {b:?} in service {s:?}"))?;
                if a > b {
                    return Err(format!("port range {a}-{b} is reversed in service {s:?}"));
                }
                if !matches!(proto, proto::TCP | proto::UDP | 132) {
                    return Err(format!("service {s:?}: only tcp, udp and sctp have ports"));
                }
                Some((a, b))
            }
        };
        Ok(Service {
            proto: Some(proto),
            ports,
        })
    }

    /// Whether a flow of `ip_proto` to responder port `port` is this service.
    pub fn matches(&self, ip_proto: u8, port: u16) -> bool {
        self.proto.is_none_or(|p| p == ip_proto)
            && self.ports.is_none_or(|(a, b)| (a..=b).contains(&port))
    }
}

/// The service of a flow as people write it: `tcp/25`, `udp/53`, `icmp`, `gre`.
pub fn flow_service(f: &FlowRecord) -> String {
    service_of(f.proto, f.dst_port)
}

/// Records a reason, formatting it only when reasons are wanted.
fn push(considered: &mut Option<&mut Vec<String>>, reason: impl FnOnce() -> String) {
    if let Some(c) = considered {
        c.push(reason());
    }
}

/// The parts of a flow the rules look at, in one direction.
#[derive(Debug, Clone, Copy)]
struct View {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    proto: u8,
    ts: TimestampNs,
}

impl View {
    fn of(f: &FlowRecord) -> Self {
        View {
            src: f.src_ip,
            dst: f.dst_ip,
            sport: f.src_port,
            dport: f.dst_port,
            proto: f.proto,
            ts: f.first_ts,
        }
    }

    fn reversed(self) -> Self {
        View {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            ..self
        }
    }

    fn service(&self) -> String {
        service_of(self.proto, self.dport)
    }
}

fn service_of(p: u8, port: u16) -> String {
    let name = crate::decode::proto_name(p);
    match p {
        proto::TCP | proto::UDP | 132 => format!("{name}/{port}"),
        _ => name,
    }
}

/// An address pattern of a site file: an address, a prefix, or a segment/zone name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// Address or prefix.
    Net(IpNet),
    /// Everything attributed to this segment or zone.
    Class(ClassId),
}

fn matches_any(set: &[HostMatch], ip: IpAddr, class: ClassId) -> bool {
    set.iter().any(|h| match h {
        HostMatch::Net(n) => n.contains(&ip),
        HostMatch::Class(c) => *c == class,
    })
}

/// A declared sanitizing gateway or screen-transfer service.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// Name.
    pub name: String,
    /// Role (mail_sanitizer, file_sanitizer, screen_transfer, update_relay, ...).
    pub role: String,
    /// The gateway machines.
    pub hosts: Vec<HostMatch>,
    /// Peers the gateway may open connections to.
    pub to: Vec<HostMatch>,
    /// Who may open connections to the gateway.
    pub clients: Vec<HostMatch>,
    /// Services it is declared for.
    pub services: Vec<Service>,
}

/// A declared exception: exact hosts, services and direction, optionally expiring.
#[derive(Debug, Clone)]
pub struct Exception {
    /// Identifier, e.g. `EX-001`.
    pub id: String,
    /// Initiators.
    pub from: Vec<HostMatch>,
    /// Responders.
    pub to: Vec<HostMatch>,
    /// Services.
    pub services: Vec<Service>,
    /// Why it exists.
    pub reason: String,
    /// Last valid day as written (`YYYY-MM-DD`), if any.
    pub expires: Option<String>,
    /// First instant (UTC ns) at which it no longer applies.
    pub expires_at: Option<TimestampNs>,
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule as the model wrote it.
    pub def: model::RuleDef,
    from: Vec<ClassId>,
    to: Vec<ClassId>,
}

/// A site's inventory and policy, ready to judge flows.
#[derive(Debug, Clone)]
pub struct Ruleset {
    /// The site file's path.
    pub path: PathBuf,
    /// SHA-256 of the site file.
    pub sha256: String,
    /// The site's name.
    pub site_name: String,
    /// The policy model's id.
    pub policy_id: String,
    /// The policy model's names (en, ja).
    pub policy_names: (String, String),
    /// The site's UTC offset in seconds.
    pub utc_offset: i32,
    /// The address plan.
    pub inventory: Inventory,
    /// Rules in evaluation order.
    pub rules: Vec<Rule>,
    /// Gateways.
    pub gateways: Vec<Gateway>,
    /// Exceptions.
    pub exceptions: Vec<Exception>,
    /// MACs of routers and firewalls (excluded from dual-homed detection).
    pub routers: HashSet<[u8; 6]>,
    pair_rule: Vec<u16>,
    pair_n: usize,
    /// The exceptions' expiry instants, sorted (computed when the site is loaded).
    expiries: Vec<TimestampNs>,
}

/// The three segment names a site may declare.
pub const SEGMENTS: [&str; 3] = ["mynumber", "lgwan", "internet"];

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Ruleset {
    /// Loads and validates a site file and its policy model. All problems are returned,
    /// each at file:line:column.
    pub fn load(path: &Path) -> Result<Ruleset, Vec<RulesetError>> {
        let text = site::read(path).map_err(|e| vec![e])?;
        let name = crate::text::path_text(path);
        Self::from_str(&name, &text, path.parent())
    }

    /// Compiles a site file's text; `dir` resolves a relative `policy_file`.
    pub fn from_str(
        name: &str,
        text: &str,
        dir: Option<&Path>,
    ) -> Result<Ruleset, Vec<RulesetError>> {
        let loc = Locator { path: name, text };
        let file: site::SiteFile = toml::from_str(text).map_err(|e| vec![loc.toml(&e)])?;
        let mut errs = Vec::new();

        // The policy model: a file next to the site, or a built-in one.
        let policy_id = file.site.policy.get_ref().clone();
        let model_text: Option<(String, String)> = match &file.site.policy_file {
            Some(pf) => {
                let p = dir.unwrap_or(Path::new(".")).join(pf.get_ref());
                match std::fs::read_to_string(&p) {
                    Ok(t) => Some((crate::text::path_text(&p), t)),
                    Err(e) => {
                        errs.push(loc.at(
                            pf.span().start,
                            "site.policy_file",
                            format!("cannot read {}: {e}", crate::text::path_text(&p)),
                        ));
                        None
                    }
                }
            }
            None => match model::BUILTIN.iter().find(|(id, _)| *id == policy_id) {
                Some((id, t)) => Some((format!("rulesets/policies/{id}.toml"), t.to_string())),
                None => {
                    let known: Vec<&str> = model::BUILTIN.iter().map(|(id, _)| *id).collect();
                    errs.push(loc.at(
                        file.site.policy.span().start,
                        "site.policy",
                        format!(
                            "unknown policy model {policy_id:?}; known: {}",
                            known.join(", ")
                        ),
                    ));
                    None
                }
            },
        };
        let model: Option<PolicyModel> = model_text.and_then(|(mname, mtext)| {
            let mloc = Locator {
                path: &mname,
                text: &mtext,
            };
            match toml::from_str::<PolicyModel>(&mtext) {
                Ok(m) => {
                    if m.model.id != policy_id {
                        errs.push(loc.at(
                            file.site.policy.span().start,
                            "site.policy",
                            format!(
                                "the policy file's model id is {:?}, not {policy_id:?}",
                                m.model.id
                            ),
                        ));
                    }
                    Some(m)
                }
                Err(e) => {
                    errs.push(mloc.toml(&e));
                    None
                }
            }
        });

        let utc_offset = match &file.site.timezone {
            None => 0,
            Some(tz) => site::parse_timezone(tz.get_ref()).unwrap_or_else(|| {
                errs.push(loc.at(
                    tz.span().start,
                    "site.timezone",
                    format!("unsupported timezone {:?}: use Asia/Tokyo, UTC or a fixed offset like +09:00", tz.get_ref()),
                ));
                0
            }),
        };

        // Segments and zones.
        let mut inv = Inventory::new();
        let mut spans: Vec<(IpNet, usize, String)> = Vec::new();
        for (table, kind) in [
            (&file.segments, ClassKind::Segment),
            (&file.zones, ClassKind::Zone),
        ] {
            let tname = if kind == ClassKind::Segment {
                "segments"
            } else {
                "zones"
            };
            for (cname, value) in table {
                let key = format!("{tname}.{cname}");
                let at = value.span().start;
                if kind == ClassKind::Segment && !SEGMENTS.contains(&cname.as_str()) {
                    errs.push(loc.at(
                        at,
                        &key,
                        format!("unknown segment; segments are {}", SEGMENTS.join(", ")),
                    ));
                    continue;
                }
                if kind == ClassKind::Zone
                    && (!is_ident(cname)
                        || SEGMENTS.contains(&cname.as_str())
                        || ["public", "unknown", "local"].contains(&cname.as_str()))
                {
                    errs.push(loc.at(at, &key, "zone names are lower_case identifiers other than segment names and public/unknown/local"));
                    continue;
                }
                let class = inv.class(cname, kind);
                let (prefixes, vlans) = match value.get_ref() {
                    toml::Value::Array(a) => (a.clone(), None),
                    toml::Value::Table(t) => {
                        let mut ok = true;
                        for k in t.keys() {
                            if k != "prefixes" && k != "vlans" {
                                errs.push(loc.at(
                                    at,
                                    &key,
                                    format!("unknown key {k:?} (prefixes, vlans)"),
                                ));
                                ok = false;
                            }
                        }
                        let prefixes = t
                            .get("prefixes")
                            .and_then(|v| v.as_array())
                            .cloned()
                            .unwrap_or_default();
                        let vlans: Option<Vec<u16>> =
                            t.get("vlans").and_then(|v| v.as_array()).map(|a| {
                                a.iter()
                                    .filter_map(|v| {
                                        v.as_integer()
                                            .and_then(|i| u16::try_from(i).ok())
                                            .filter(|v| *v < 4096)
                                    })
                                    .collect()
                            });
                        if t.get("vlans").and_then(|v| v.as_array()).map(|a| a.len())
                            != vlans.as_ref().map(|v| v.len())
                        {
                            errs.push(loc.at(at, &key, "vlans must be integers 0..=4095"));
                            ok = false;
                        }
                        if !ok {
                            continue;
                        }
                        (prefixes, vlans)
                    }
                    _ => {
                        errs.push(loc.at(
                            at,
                            &key,
                            "expected a list of prefixes, or { prefixes = [...], vlans = [...] }",
                        ));
                        continue;
                    }
                };
                if prefixes.is_empty() {
                    errs.push(loc.at(at, &key, "no prefixes"));
                }
                for p in prefixes {
                    let Some(s) = p.as_str() else {
                        errs.push(loc.at(at, &key, format!("{p} is not a string prefix")));
                        continue;
                    };
                    match parse_net(s) {
                        Ok(net) => {
                            if let Err(other) = inv.add_prefix(net, vlans.clone(), class) {
                                errs.push(loc.at(
                                    at,
                                    &key,
                                    format!("{net} is already declared for {}", inv.name(other)),
                                ));
                            }
                            spans.push((net, at, key.clone()));
                        }
                        Err(m) => errs.push(loc.at(at, &key, m)),
                    }
                }
            }
        }
        for (wide, narrow, cw, cn) in inv.overlaps() {
            let (at, key) = spans
                .iter()
                .find(|(n, _, _)| *n == narrow)
                .map_or((0, String::new()), |(_, a, k)| (*a, k.clone()));
            errs.push(loc.at(
                at,
                &key,
                format!(
                    "{narrow} ({}) overlaps {wide} ({}): prefixes of different segments or zones may only overlap when VLANs qualify them",
                    inv.name(cn),
                    inv.name(cw)
                ),
            ));
        }

        let hosts = |list: &[toml::Spanned<String>],
                     key: &str,
                     errs: &mut Vec<RulesetError>|
         -> Vec<HostMatch> {
            let mut out = Vec::new();
            for h in list {
                let s = h.get_ref();
                if let Some(c) = inv.class_by_name(s) {
                    out.push(HostMatch::Class(c));
                } else {
                    match parse_net(s) {
                        Ok(n) => out.push(HostMatch::Net(n)),
                        Err(m) => errs.push(loc.at(
                            h.span().start,
                            key,
                            format!("{m}, and not a declared segment or zone"),
                        )),
                    }
                }
            }
            out
        };
        let services = |list: &[toml::Spanned<String>],
                        key: &str,
                        errs: &mut Vec<RulesetError>|
         -> Vec<Service> {
            let mut out = Vec::new();
            for s in list {
                match Service::parse(s.get_ref()) {
                    Ok(v) => out.push(v),
                    Err(m) => errs.push(loc.at(s.span().start, key, m)),
                }
            }
            out
        };

        let mut gateways = Vec::new();
        for (i, g) in file.gateway.iter().enumerate() {
            let key = format!("gateway[{i}]");
            let gw = Gateway {
                name: g.name.get_ref().clone(),
                role: g.role.get_ref().clone(),
                hosts: hosts(&g.hosts, &format!("{key}.hosts"), &mut errs),
                to: hosts(&g.to, &format!("{key}.to"), &mut errs),
                clients: hosts(&g.clients, &format!("{key}.clients"), &mut errs),
                services: services(&g.services, &format!("{key}.services"), &mut errs),
            };
            if gw.hosts.is_empty() || gw.services.is_empty() {
                errs.push(loc.at(
                    g.name.span().start,
                    &key,
                    "a gateway needs hosts and services",
                ));
            }
            if gw.to.is_empty() && gw.clients.is_empty() {
                errs.push(loc.at(
                    g.name.span().start,
                    &key,
                    "a gateway needs `to` (peers it opens connections to) or `clients` (who open connections to it)",
                ));
            }
            if !is_ident(&gw.role) {
                errs.push(loc.at(g.role.span().start, &format!("{key}.role"), "role must be a lower_case identifier (mail_sanitizer, file_sanitizer, screen_transfer, ...)"));
            }
            gateways.push(gw);
        }

        let mut exceptions: Vec<Exception> = Vec::new();
        for (i, x) in file.exception.iter().enumerate() {
            let key = format!("exception[{i}]");
            if exceptions.iter().any(|e| e.id == *x.id.get_ref()) {
                errs.push(loc.at(
                    x.id.span().start,
                    &format!("{key}.id"),
                    "duplicate exception id",
                ));
            }
            let (expires, expires_at) = match &x.expires {
                None => (None, None),
                Some(d) => match (d.get_ref().date, d.get_ref().time) {
                    (Some(date), None) => {
                        // Valid through the end of that day in the site's timezone.
                        let days = days_from_civil(
                            i64::from(date.year),
                            u32::from(date.month),
                            u32::from(date.day),
                        ) + 1;
                        let at = (days * 86_400 - i64::from(utc_offset)) * NS_PER_SEC;
                        (Some(date.to_string()), Some(at))
                    }
                    _ => {
                        errs.push(loc.at(d.span().start, &format!("{key}.expires"), "expires must be a date (YYYY-MM-DD): the last day the exception applies"));
                        (None, None)
                    }
                },
            };
            exceptions.push(Exception {
                id: x.id.get_ref().clone(),
                from: hosts(&x.from, &format!("{key}.from"), &mut errs),
                to: hosts(&x.to, &format!("{key}.to"), &mut errs),
                services: services(&x.services, &format!("{key}.services"), &mut errs),
                reason: x.reason.clone(),
                expires,
                expires_at,
            });
        }

        let mut routers = HashSet::new();
        if let Some(d) = &file.devices {
            for m in &d.routers {
                match site::parse_mac(m.get_ref()) {
                    Some(mac) => {
                        routers.insert(mac);
                    }
                    None => errs.push(loc.at(
                        m.span().start,
                        "devices.routers",
                        format!("{:?} is not a MAC address (aa:bb:cc:dd:ee:ff)", m.get_ref()),
                    )),
                }
            }
        }

        let mut rules = Vec::new();
        let mut names = (String::new(), String::new());
        if let Some(m) = model {
            names = (m.model.name_en.clone(), m.model.name_ja.clone());
            for def in m.rule {
                let resolve = |list: &[String]| -> Vec<ClassId> {
                    list.iter()
                        .filter_map(|n| match n.as_str() {
                            "public" => Some(ClassId::PUBLIC),
                            "unknown" => Some(ClassId::UNKNOWN),
                            // A class the site does not declare never matches.
                            _ => inv.class_by_name(n),
                        })
                        .collect()
                };
                let (from, to) = (resolve(&def.from), resolve(&def.to));
                rules.push(Rule { def, from, to });
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        let pair_rule = Self::pair_table(&inv, &rules);
        let mut expiries: Vec<TimestampNs> =
            exceptions.iter().filter_map(|x| x.expires_at).collect();
        expiries.sort_unstable();
        expiries.dedup();
        Ok(Ruleset {
            expiries,
            pair_rule,
            pair_n: inv.classes().count(),
            path: PathBuf::from(name),
            sha256: crate::text::hex(&Sha256::digest(text.as_bytes())),
            site_name: file.site.name.clone(),
            policy_id,
            policy_names: names,
            utc_offset,
            inventory: inv,
            rules,
            gateways,
            exceptions,
            routers,
        })
    }

    /// Attributes an address.
    pub fn attribute(&self, ip: IpAddr, vlan: Option<u16>) -> Attribution {
        self.inventory.attribute(ip, vlan)
    }

    /// The number of exception expiry instants at or before `ts`: a verdict depends on a
    /// flow's time only through it (an exception is valid before its instant).
    fn expiry_epoch(&self, ts: TimestampNs) -> u32 {
        // Before the first expiry (and without any), the same epoch as at the start.
        match self.expiries.first() {
            Some(&first) if ts >= first => self.expiries.partition_point(|&at| at <= ts) as u32,
            _ => 0,
        }
    }

    /// Judges one flow, with the reasons exceptions and gateways did not permit it.
    pub fn evaluate(&self, f: &FlowRecord) -> Judgement {
        self.judge(f, true)
    }

    /// Judges one flow; `reasons` builds the `considered` texts of a violation (the
    /// analyzer asks for them only when it opens a new finding).
    fn judge(&self, f: &FlowRecord, reasons: bool) -> Judgement {
        let src = self.attribute(f.src_ip, f.vlan);
        let dst = self.attribute(f.dst_ip, f.vlan);
        let (cs, cd) = (src.class, dst.class);
        let verdict = if cs == ClassId::LOCAL || cd == ClassId::LOCAL {
            Verdict::Allowed {
                rule: None,
                permit: None,
            }
        } else if cs == ClassId::UNKNOWN || cd == ClassId::UNKNOWN {
            match self
                .rules
                .iter()
                .position(|r| r.def.kind == RuleKind::UnknownEndpoint)
            {
                Some(i) => Verdict::Violation {
                    rule: i,
                    considered: Vec::new(),
                },
                None => Verdict::Allowed {
                    rule: None,
                    permit: None,
                },
            }
        } else {
            let v = View::of(f);
            let forward = self.first_rule(v, cs, cd, reasons);
            match forward {
                Verdict::Violation { .. } if !f.initiator_known => {
                    // The export does not say who started: if the other direction is allowed
                    // (a permit needs the declared service port on the declared side), the
                    // flow is judged that way, and the permit says it assumed so.
                    match self.first_rule(v.reversed(), cd, cs, false) {
                        Verdict::Allowed { rule, permit } => Verdict::Allowed {
                            rule,
                            permit: permit.map(|p| Permission {
                                assumed_initiator: Some(f.dst_ip),
                                ..p
                            }),
                        },
                        Verdict::Violation { .. } => forward,
                    }
                }
                v => v,
            }
        };
        Judgement { src, dst, verdict }
    }

    fn first_rule(&self, f: View, cs: ClassId, cd: ClassId, reasons: bool) -> Verdict {
        let i = match self
            .pair_rule
            .get(usize::from(cs.0) * self.pair_n + usize::from(cd.0))
        {
            Some(&i) if i != u16::MAX => usize::from(i),
            _ => {
                return Verdict::Allowed {
                    rule: None,
                    permit: None,
                }
            }
        };
        let r = &self.rules[i];
        if r.def.kind == RuleKind::Allow {
            return Verdict::Allowed {
                rule: Some(i),
                permit: None,
            };
        }
        let mut considered = Vec::new();
        let found = if r.def.permit.contains(&Permit::Exception) {
            self.exception_permits(&f, cs, cd, reasons.then_some(&mut considered))
        } else {
            None
        }
        .or_else(|| {
            if r.def.permit.contains(&Permit::Gateway) {
                self.gateway_permits(&f, cs, cd, reasons.then_some(&mut considered))
            } else {
                None
            }
        });
        match found {
            Some(by) => Verdict::Allowed {
                rule: Some(i),
                permit: Some(Permission {
                    by,
                    assumed_initiator: None,
                }),
            },
            None => Verdict::Violation {
                rule: i,
                considered,
            },
        }
    }

    /// The first `deny`/`allow` rule for each (initiator class, responder class) pair,
    /// `u16::MAX` where none applies: rules depend on classes only, so this is fixed.
    fn pair_table(inv: &Inventory, rules: &[Rule]) -> Vec<u16> {
        let ids: Vec<ClassId> = inv.classes().map(|(c, _, _)| c).collect();
        let mut t = Vec::with_capacity(ids.len() * ids.len());
        for &cs in &ids {
            for &cd in &ids {
                let hit = rules.iter().position(|r| {
                    matches!(r.def.kind, RuleKind::Deny | RuleKind::Allow)
                        && ((r.from.contains(&cs) && r.to.contains(&cd))
                            || (r.def.direction == Direction::Either
                                && r.from.contains(&cd)
                                && r.to.contains(&cs)))
                });
                t.push(hit.map_or(u16::MAX, |i| i as u16));
            }
        }
        t
    }

    /// How a permit reads in findings and policy tests.
    pub fn permit_text(&self, p: &Permission) -> String {
        let base = match p.by {
            PermitBy::Exception(i) => {
                let x = &self.exceptions[i];
                format!("exception {} ({})", x.id, x.reason)
            }
            PermitBy::Gateway(i) => {
                let g = &self.gateways[i];
                format!("gateway {} ({})", g.name, g.role)
            }
        };
        match p.assumed_initiator {
            Some(ip) => format!("{base} (assuming {ip} initiated: the export does not say)"),
            None => base,
        }
    }

    fn exception_permits(
        &self,
        f: &View,
        cs: ClassId,
        cd: ClassId,
        mut considered: Option<&mut Vec<String>>,
    ) -> Option<PermitBy> {
        let svc = || f.service();
        for (xi, x) in self.exceptions.iter().enumerate() {
            let fwd = matches_any(&x.from, f.src, cs) && matches_any(&x.to, f.dst, cd);
            let rev = matches_any(&x.from, f.dst, cd) && matches_any(&x.to, f.src, cs);
            let service = x.services.iter().any(|s| s.matches(f.proto, f.dport));
            if fwd && service {
                match x.expires_at {
                    Some(at) if f.ts >= at => push(&mut considered, || {
                        format!(
                            "exception {} expired: valid through {} ({})",
                            x.id,
                            x.expires.as_deref().unwrap_or("?"),
                            x.reason
                        )
                    }),
                    _ => return Some(PermitBy::Exception(xi)),
                }
            } else if fwd {
                push(&mut considered, || {
                    format!("exception {} covers these hosts but not {}", x.id, svc())
                });
            } else if rev && (service || x.services.iter().any(|s| s.matches(f.proto, f.sport))) {
                push(&mut considered, || {
                    format!(
                        "exception {} covers the other direction: {} must initiate",
                        x.id, f.dst
                    )
                });
            }
        }
        None
    }

    fn gateway_permits(
        &self,
        f: &View,
        cs: ClassId,
        cd: ClassId,
        mut considered: Option<&mut Vec<String>>,
    ) -> Option<PermitBy> {
        let svc = || f.service();
        for (gi, g) in self.gateways.iter().enumerate() {
            let src_host = matches_any(&g.hosts, f.src, cs);
            let dst_host = matches_any(&g.hosts, f.dst, cd);
            let dst_peer = matches_any(&g.to, f.dst, cd);
            let src_client = matches_any(&g.clients, f.src, cs);
            let service = g.services.iter().any(|s| s.matches(f.proto, f.dport));
            if !(src_host || dst_host || (service && (dst_peer || src_client))) {
                continue;
            }
            if service && ((src_host && dst_peer) || (dst_host && src_client)) {
                return Some(PermitBy::Gateway(gi));
            }
            if considered.is_none() {
                continue; // not permitted, and no reasons wanted
            }
            let gw = format!("gateway {} ({})", g.name, g.role);
            let svc = svc();
            push(&mut considered, || {
                if !service {
                    format!("{gw} is not declared for {svc}")
                } else if src_host && g.to.is_empty() {
                    format!("{gw} only accepts {svc} from its clients; it may not open it itself (wrong direction)")
                } else if src_host {
                    format!("{gw}: {} is not a declared peer", f.dst)
                } else if dst_host && g.clients.is_empty() {
                    format!(
                        "{gw} accepts no connections; it only opens {svc} to its declared peers"
                    )
                } else if dst_host {
                    format!("{gw}: {} is not a declared client", f.src)
                } else if dst_peer {
                    format!(
                        "{gw}: {} is not the gateway; only its hosts may send {svc} to {}",
                        f.src, f.dst
                    )
                } else {
                    format!("{gw}: {} is not one of its hosts", f.dst)
                }
            });
        }
        None
    }

    /// Human-readable attribution of an address (and optional port) for `flowcli explain`.
    pub fn explain(&self, ip: IpAddr, port: Option<u16>) -> Vec<String> {
        let a = self.attribute(ip, None);
        let mut out = vec![match a.prefix {
            Some(p) => format!(
                "{ip}: {} {} (declared prefix {p})",
                kind_word(self.inventory.kind(a.class)),
                self.inventory.name(a.class)
            ),
            None => format!(
                "{ip}: {} (in no declared segment or zone{})",
                self.inventory.name(a.class),
                match a.class {
                    ClassId::PUBLIC => "; globally routable",
                    ClassId::UNKNOWN => "; not globally routable: the inventory is incomplete",
                    _ => "; loopback, multicast or broadcast: not judged",
                }
            ),
        }];
        let port_ok = |svcs: &[Service]| {
            port.is_none_or(|p| {
                svcs.iter()
                    .any(|s| s.ports.is_none_or(|(x, y)| (x..=y).contains(&p)))
            })
        };
        for g in &self.gateways {
            let svcs: Vec<String> = g.services.iter().map(service_str).collect();
            if matches_any(&g.hosts, ip, a.class) && port_ok(&g.services) {
                out.push(format!(
                    "  host of gateway {} ({}), services {}",
                    g.name,
                    g.role,
                    svcs.join(", ")
                ));
            }
            if matches_any(&g.to, ip, a.class) {
                out.push(format!(
                    "  declared peer of gateway {} ({}): the gateway may open {} to it",
                    g.name,
                    g.role,
                    svcs.join(", ")
                ));
            }
            if matches_any(&g.clients, ip, a.class) {
                out.push(format!(
                    "  declared client of gateway {} ({}): may open {} to it",
                    g.name,
                    g.role,
                    svcs.join(", ")
                ));
            }
        }
        for x in &self.exceptions {
            let expiry = x
                .expires
                .as_deref()
                .map_or(String::new(), |d| format!(", valid through {d}"));
            if matches_any(&x.from, ip, a.class) {
                out.push(format!(
                    "  may initiate under exception {} ({}{expiry})",
                    x.id, x.reason
                ));
            }
            if matches_any(&x.to, ip, a.class) {
                out.push(format!(
                    "  may be reached under exception {} ({}{expiry})",
                    x.id, x.reason
                ));
            }
        }
        out
    }
}

fn kind_word(k: ClassKind) -> &'static str {
    match k {
        ClassKind::Segment => "segment",
        ClassKind::Zone => "zone",
        _ => "",
    }
}

fn service_str(s: &Service) -> String {
    let p = s.proto.map_or("any".to_string(), crate::decode::proto_name);
    match s.ports {
        None => p,
        Some((a, b)) if a == b => format!("{p}/{a}"),
        Some((a, b)) => format!("{p}/{a}-{b}"),
    }
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    if let Ok(n) = s.parse::<IpNet>() {
        if n.trunc() != n {
            return Err(format!(
                "{s} has host bits set (did you mean {}?)",
                n.trunc()
            ));
        }
        return Ok(n);
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{s:?} is not an address or prefix"))
}

/// What permitted a flow that a `deny` rule matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermitBy {
    /// The exception at this index of [`Ruleset::exceptions`].
    Exception(usize),
    /// The gateway at this index of [`Ruleset::gateways`].
    Gateway(usize),
}

/// A permit, and whether it assumed who initiated (exports that do not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// The exception or gateway.
    pub by: PermitBy,
    /// Set when the export did not say who started and this side was assumed.
    pub assumed_initiator: Option<IpAddr>,
}

/// What the policy says of one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed: by an `allow` rule, by a permit (exception or gateway) of a `deny` rule, or
    /// because no rule covers the pair (e.g. within one segment).
    Allowed {
        /// Index of the deciding rule.
        rule: Option<usize>,
        /// What permitted it, if a `deny` rule matched ([`Ruleset::permit_text`] says it).
        permit: Option<Permission>,
    },
    /// A violation of the rule at this index.
    Violation {
        /// Index of the rule.
        rule: usize,
        /// Exceptions and gateways that were considered and why they did not apply.
        considered: Vec<String>,
    },
}

/// Endpoint attributions and the verdict for one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// The initiator.
    pub src: Attribution,
    /// The responder.
    pub dst: Attribution,
    /// The verdict.
    pub verdict: Verdict,
}

/// One side of a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingEndpoint {
    /// Address.
    pub ip: IpAddr,
    /// Port (0 where none).
    pub port: u16,
    /// Segment or zone name, or public/unknown.
    pub class: String,
    /// The matching declared prefix.
    pub prefix: Option<IpNet>,
}

/// Where a finding's first flow came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// Input file.
    pub file: String,
    /// 1-based packet number of the first packet.
    pub first_packet_index: u64,
    /// Byte offset of that packet's record.
    pub first_packet_offset: u64,
}

/// The stable identifier of a finding: 16 hex digits of the SHA-256 of its rule id,
/// initiator and responder addresses and service (for dual-homed findings, the MAC address
/// in place of the service). The same violation gets the same id in every run, so it can be
/// named to `flowcli extract --finding` or compared with an earlier report.
pub fn finding_id(rule_id: &str, src: IpAddr, dst: IpAddr, service: &str) -> String {
    use sha2::{Digest, Sha256};
    // `rule_id|src|dst|service`, addresses as `IpAddr` displays them.
    let mut s = String::with_capacity(rule_id.len() + service.len() + 2 * 39 + 3);
    s.push_str(rule_id);
    s.push('|');
    crate::text::push_ip(&mut s, src);
    s.push('|');
    crate::text::push_ip(&mut s, dst);
    s.push('|');
    s.push_str(service);
    crate::text::hex(&Sha256::digest(s.as_bytes())[..8])
}

/// The [`finding_id`] of `f`.
fn id_of(f: &Finding) -> String {
    let service = f.mac.as_deref().unwrap_or(&f.service);
    finding_id(&f.rule_id, f.src.ip, f.dst.ip, service)
}

/// A policy finding: one rule, one pair of endpoints and one service, aggregated over flows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Stable identifier ([`finding_id`]).
    pub id: String,
    /// Rule id.
    pub rule_id: String,
    /// Severity.
    pub severity: Severity,
    /// Policy clause.
    pub clause: String,
    /// English message.
    pub message_en: String,
    /// Japanese message.
    pub message_ja: String,
    /// The initiator.
    pub src: FindingEndpoint,
    /// The responder.
    pub dst: FindingEndpoint,
    /// Service (`tcp/25`, `icmp`, ...).
    pub service: String,
    /// IP protocol.
    pub proto: u8,
    /// Whether the initiator is known (packet captures: always).
    pub initiator_known: bool,
    /// MAC address (dual-homed findings).
    pub mac: Option<String>,
    /// First packet time over the aggregated flows.
    pub first_ts: TimestampNs,
    /// Last packet time.
    pub last_ts: TimestampNs,
    /// Flows aggregated.
    pub flows: u64,
    /// Packets, both directions.
    pub packets: u64,
    /// Bytes, both directions.
    pub bytes: u64,
    /// Community ID of the first flow.
    pub community_id: String,
    /// Evidence of the first flow.
    pub evidence: Evidence,
    /// Exceptions and gateways considered and why they did not permit.
    pub considered: Vec<String>,
}

impl Finding {
    /// A finding of rule `r` between `src` and `dst` with nothing else known or counted
    /// yet: the rule's identity, severity, clause and messages, the rest empty or zero.
    fn of_rule(r: &model::RuleDef, src: FindingEndpoint, dst: FindingEndpoint) -> Finding {
        Finding {
            id: String::new(),
            rule_id: r.id.clone(),
            severity: r.severity,
            clause: r.clause.clone(),
            message_en: r.message_en.clone(),
            message_ja: r.message_ja.clone(),
            src,
            dst,
            service: String::new(),
            proto: 0,
            initiator_known: false,
            mac: None,
            first_ts: 0,
            last_ts: 0,
            flows: 0,
            packets: 0,
            bytes: 0,
            community_id: String::new(),
            evidence: Evidence {
                file: String::new(),
                first_packet_index: 0,
                first_packet_offset: 0,
            },
            considered: Vec::new(),
        }
    }
}

/// Flows, bytes and violations between two classes (initiator → responder).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatrixCell {
    /// Flows.
    pub flows: u64,
    /// Bytes.
    pub bytes: u64,
    /// Flows that were violations.
    pub violations: u64,
    /// Flows allowed by a permit (exception or gateway).
    pub permitted: u64,
}

/// The result of analysing a set of flows.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// (initiator class, responder class) → counts, sorted by class names.
    pub matrix: Vec<(String, String, MatrixCell)>,
    /// Flows judged.
    pub flows: u64,
    /// Flows that were violations.
    pub violating_flows: u64,
    /// MAC addresses not tracked because the limit was reached.
    pub macs_untracked: u64,
    /// Violating flows counted in a rule's overflow finding because the number of distinct
    /// findings reached the limit (a scan or flood must not exhaust memory).
    pub findings_overflowed: u64,
    /// The comparison with an earlier report, when one was given.
    pub baseline: Option<BaselineDiff>,
    /// Violating flows by the UTC hour their first packet fell in (hours since the epoch).
    pub violations_by_hour: Vec<(i64, u64)>,
}

/// A finding of an earlier report that this run no longer has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoneFinding {
    /// Its id.
    pub id: String,
    /// Rule id.
    pub rule_id: String,
    /// Severity as the earlier report gave it.
    pub severity: String,
    /// Initiator address.
    pub src_ip: String,
    /// Responder address.
    pub dst_ip: String,
    /// Service.
    pub service: String,
}

/// How this run's findings compare with an earlier report's (by [`finding_id`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaselineDiff {
    /// The earlier report's path.
    pub path: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Ids of this run's findings the earlier report did not have.
    pub new: std::collections::BTreeSet<String>,
    /// Findings of the earlier report this run does not have, in its order.
    pub disappeared: Vec<GoneFinding>,
}

impl BaselineDiff {
    /// Whether the finding with this id is new (not in the earlier report).
    pub fn is_new(&self, id: &str) -> bool {
        self.new.contains(id)
    }
}

impl Analysis {
    /// The counts and the matrix without the findings (for writers that stream them).
    pub fn clone_counts(&self) -> Analysis {
        Analysis {
            findings: Vec::new(),
            matrix: self.matrix.clone(),
            flows: self.flows,
            violating_flows: self.violating_flows,
            macs_untracked: self.macs_untracked,
            findings_overflowed: self.findings_overflowed,
            baseline: self.baseline.clone(),
            violations_by_hour: self.violations_by_hour.clone(),
        }
    }
}

type AggKey = (usize, IpAddr, IpAddr, u8, u16);

/// Rearranges `v` so that its `k`-th element is the one that was at `order[k]` (`order`
/// is a permutation of `v`'s indices), in place: cycle by cycle, with swaps. Moving the
/// findings out and into a vector grown one by one had cost a large report's end a fifth
/// of its page faults and as many copies of every finding as the vector doubled.
fn take_in_order<T>(v: &mut [T], mut order: Vec<usize>) {
    const DONE: usize = usize::MAX;
    for start in 0..order.len() {
        let mut k = start;
        // Position `k` takes what is at `order[k]`; what was at `start` travels along the
        // cycle and lands where the cycle closes.
        while let Some(&from) = order.get(k) {
            if from == DONE {
                break;
            }
            order[k] = DONE;
            if from == start || from >= v.len() {
                break;
            }
            v.swap(k, from);
            k = from;
        }
    }
}

/// Sorts findings into the report's order: severity (highest first), rule id, first
/// time, initiator, responder, service; stable. Each finding's key is packed into
/// integers first (the rule id and service by their ranks among the findings'), with its
/// index last, and the keys are sorted side by side: comparing strings and addresses of
/// findings reached through their indices took most of a large report's sorting.
fn sort_for_report(findings: &mut [Finding]) {
    /// Each distinct string's rank in byte order.
    fn ranks<'a>(all: impl Iterator<Item = &'a str>) -> HashMap<&'a str, u32> {
        let mut distinct: Vec<&str> = all.collect();
        distinct.sort_unstable();
        distinct.dedup();
        distinct.into_iter().zip(0..).collect()
    }
    /// An address as `IpAddr` orders them: IPv4 first, then by bits.
    fn ip_key(ip: IpAddr) -> (u8, u128) {
        match ip {
            IpAddr::V4(a) => (0, u128::from(a.to_bits())),
            IpAddr::V6(a) => (1, a.to_bits()),
        }
    }
    let mut keys: Vec<_> = {
        let rules = ranks(findings.iter().map(|f| f.rule_id.as_str()));
        let services = ranks(findings.iter().map(|f| f.service.as_str()));
        let rank = |m: &HashMap<&str, u32>, s: &str| m.get(s).copied().unwrap_or(u32::MAX);
        findings
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let (sf, s) = ip_key(f.src.ip);
                let (df, d) = ip_key(f.dst.ip);
                (
                    u64::from(u8::MAX - f.severity as u8) << 32
                        | u64::from(rank(&rules, &f.rule_id)),
                    (f.first_ts as u64) ^ (1 << 63),
                    sf,
                    s,
                    df,
                    d,
                    rank(&services, &f.service),
                    // Last: equal keys keep their order, as a stable sort would.
                    i,
                )
            })
            .collect()
    };
    keys.sort_unstable();
    take_in_order(findings, keys.into_iter().map(|k| k.7).collect());
}

/// What a verdict without reasons depends on: the endpoints (and VLAN, for attribution),
/// the service, the source port when the initiator is unknown (the other direction is
/// tried), and which exceptions have expired. Packed into five words and the epoch, so
/// that comparing two keys is comparing words: the addresses' bits (an IPv4 address in
/// the low word), then VLAN (`0x1_0000` for none), protocol, service port, source port,
/// whether the initiator is known and each address's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct JudgeKey {
    words: [u64; 5],
    epoch: u32,
}

impl JudgeKey {
    fn of(f: &FlowRecord, epoch: u32) -> JudgeKey {
        JudgeKey::new(
            (f.src_ip, f.src_port),
            (f.dst_ip, f.dst_port),
            f.proto,
            f.vlan,
            f.initiator_known,
            epoch,
        )
    }

    fn new(
        (src, src_port): (IpAddr, u16),
        (dst, dst_port): (IpAddr, u16),
        proto: u8,
        vlan: Option<u16>,
        initiator_known: bool,
        epoch: u32,
    ) -> JudgeKey {
        fn bits(ip: IpAddr) -> (u128, u64) {
            match ip {
                IpAddr::V4(a) => (u128::from(a.to_bits()), 0),
                IpAddr::V6(a) => (a.to_bits(), 1),
            }
        }
        let ((s, s6), (d, d6)) = (bits(src), bits(dst));
        let sport = if initiator_known { 0 } else { src_port };
        let rest = u64::from(vlan.map_or(0x1_0000, u32::from))
            | u64::from(proto) << 17
            | u64::from(dst_port) << 25
            | u64::from(sport) << 41
            | u64::from(initiator_known) << 57
            | s6 << 58
            | d6 << 59;
        JudgeKey {
            words: [s as u64, (s >> 64) as u64, d as u64, (d >> 64) as u64, rest],
            epoch,
        }
    }

    /// The cache slot's hash: the key's words mixed by two folded multiplies. Fixed
    /// constants are enough: a crafted collision only costs a fresh judgement.
    fn slot_hash(&self) -> u64 {
        fn mix(a: u64, b: u64) -> u64 {
            let r = u128::from(a) * u128::from(b);
            (r as u64) ^ ((r >> 64) as u64)
        }
        let [s0, s1, d0, d1, rest] = self.words;
        let a = s0 ^ s1.rotate_left(29);
        let b = d0 ^ d1.rotate_left(29);
        mix(a ^ 0x243f_6a88_85a3_08d3, b ^ 0x1319_8a2e_0370_7344)
            ^ mix(
                rest ^ 0xa409_3822_299f_31d0,
                u64::from(self.epoch) ^ 0x082e_fa98_ec4e_6c89,
            )
    }
}

/// Flows per thread below which [`Analyzer::observe_all`] does not start another: a
/// thread, a fresh judgement cache and the merge cost more than judging them here.
const SPLIT_MIN: usize = 2048;

/// Slots of the judgement cache, in sets of [`JUDGE_CACHE_WAYS`].
const JUDGE_CACHE_SLOTS: usize = 1 << 14;

/// Slots per set of the judgement cache, most recently used first: a fifth key whose
/// hash falls in the set replaces the least recently used. With two, three conversations
/// of one set taking turns (as traffic cycling over a thousand conversations has a few)
/// evicted each other at every flow.
const JUDGE_CACHE_WAYS: usize = 4;

/// A verdict as the cache keeps it: judged without reasons, so nothing to allocate, and
/// small ([`NONE`] for no index; an assumed initiator is always the flow's responder),
/// so that a slot fills few cache lines.
#[derive(Debug, Clone, Copy)]
enum Short {
    Allowed {
        rule: u32,
        /// 0 none, 1 exception, 2 gateway.
        permit: u8,
        by: u32,
        assumed: bool,
    },
    Violation {
        rule: u32,
    },
}

/// No index. Rules, exceptions and gateways are counted in `u32` here: a ruleset with
/// four billion of them would not fit in memory.
const NONE: u32 = u32::MAX;

/// An index as [`Short`] keeps it.
fn short_index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(NONE)
}

impl Short {
    fn of(v: &Verdict) -> Short {
        match v {
            Verdict::Allowed { rule, permit } => {
                let (kind, by) = match permit.map(|p| p.by) {
                    None => (0, NONE),
                    Some(PermitBy::Exception(i)) => (1, short_index(i)),
                    Some(PermitBy::Gateway(i)) => (2, short_index(i)),
                };
                Short::Allowed {
                    rule: rule.map_or(NONE, short_index),
                    permit: kind,
                    by,
                    assumed: permit.is_some_and(|p| p.assumed_initiator.is_some()),
                }
            }
            Verdict::Violation { rule, .. } => Short::Violation {
                rule: short_index(*rule),
            },
        }
    }

    /// The verdict for a flow (whose key this was) to responder `dst`.
    fn verdict(self, dst: IpAddr) -> Verdict {
        match self {
            Short::Allowed {
                rule,
                permit,
                by,
                assumed,
            } => Verdict::Allowed {
                rule: (rule != NONE).then_some(rule as usize),
                permit: match permit {
                    1 => Some(PermitBy::Exception(by as usize)),
                    2 => Some(PermitBy::Gateway(by as usize)),
                    _ => None,
                }
                .map(|by| Permission {
                    by,
                    assumed_initiator: assumed.then_some(dst),
                }),
            },
            Short::Violation { rule } => Verdict::Violation {
                rule: rule as usize,
                considered: Vec::new(),
            },
        }
    }
}

/// One judgement of the cache, and the open finding its violations go to.
/// 64 bytes, aligned: a lookup touches one cache line per way.
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
struct Slot {
    words: [u64; 5],
    epoch: u32,
    /// Index of the finding in [`Open`] ([`NO_FINDING`] until the first violation is
    /// aggregated); [`OVERFLOWED`] set when that is the rule's overflow finding.
    finding: u32,
    src: ClassId,
    dst: ClassId,
    verdict: Short,
}

// An empty slot costs no more than a full one: `None` is a niche of the verdict.
const _: () = assert!(std::mem::size_of::<Option<Slot>>() == 64);

impl Slot {
    fn holds(&self, key: &JudgeKey) -> bool {
        // Word by word, without a branch: `==` on the arrays calls `bcmp`, which cost
        // more than the rest of the lookup.
        let differ = self
            .words
            .iter()
            .zip(key.words)
            .fold(u64::from(self.epoch ^ key.epoch), |acc, (a, b)| {
                acc | (a ^ b)
            });
        differ == 0
    }
}

/// Distinct findings an [`Analyzer`] keeps apart unless told otherwise
/// ([`Analyzer::max_findings`]).
pub const DEFAULT_MAX_FINDINGS: usize = 100_000;

const NO_FINDING: u32 = u32::MAX;
const OVERFLOWED: u32 = 1 << 31;

/// Open findings by key, in the order they were opened. An index stays valid until the
/// findings are taken (sealing), so the judgement cache can point at one.
#[derive(Default)]
struct Open {
    index: HashMap<AggKey, u32>,
    list: Vec<(AggKey, OpenFinding)>,
    /// What each flow updates, apart from the rest of its finding: a flow touches 40
    /// bytes instead of a 200-byte finding (copied back by [`Open::take`]).
    hot: Vec<Hot>,
    /// The inputs findings' first flows came from, numbered by [`OpenFinding::file`].
    files: Vec<String>,
    /// The number of each name in `files` (a run may have thousands of inputs).
    file_numbers: HashMap<String, u32>,
}

/// An endpoint of an open finding: its class by number, named when the finding is made
/// a [`Finding`].
#[derive(Debug, Clone, Copy)]
struct OpenEndpoint {
    ip: IpAddr,
    class: ClassId,
    prefix: Option<IpNet>,
}

/// What a finding shows of its first flow (the earliest; of two at the same time, the one
/// observed first): its Community ID and initiator's port, and where it is.
#[derive(Debug, Clone, Copy)]
struct FirstFlow {
    /// Addresses, protocol and ports, as the Community ID takes them.
    tuple: (IpAddr, IpAddr, u8, u16, u16),
    /// Input, numbered in [`Open::files`].
    file: u32,
    /// When its analyzer observed it (its count of flows then).
    seq: u64,
    packet_index: u64,
    packet_offset: u64,
}

impl FirstFlow {
    /// Flow `f`, of input `file`, observed as number `seq`.
    fn of(f: &FlowRecord, file: u32, seq: u64) -> Self {
        FirstFlow {
            tuple: (f.src_ip, f.dst_ip, f.proto, f.src_port, f.dst_port),
            file,
            seq,
            packet_index: f.first_packet_index,
            packet_offset: f.first_packet_offset,
        }
    }
}

/// A finding while it is open: what its [`Finding`] is made of at the end
/// ([`Analyzer::finish`]), with nothing allocated but its reasons (usually none). The
/// rule's texts, class names, service, id and Community ID are written once per finding
/// of the report, not once per analyzer that saw it (an input's, a helper thread's), and
/// absorbing moves and drops these instead of a dozen strings each.
#[derive(Debug, Clone)]
struct OpenFinding {
    src: OpenEndpoint,
    dst: OpenEndpoint,
    /// The responder's port (the initiator's is the first flow's).
    dst_port: u16,
    proto: u8,
    initiator_known: bool,
    /// The bound on distinct findings that this rule's overflow finding counts past.
    overflow: Option<usize>,
    first_ts: TimestampNs,
    last_ts: TimestampNs,
    flows: u64,
    packets: u64,
    bytes: u64,
    first: FirstFlow,
    /// The exceptions and gateways judging considered when the finding opened.
    considered: Vec<String>,
}

/// A finding's counters while it is open.
#[derive(Debug, Clone, Copy)]
struct Hot {
    flows: u64,
    packets: u64,
    bytes: u64,
    first_ts: TimestampNs,
    last_ts: TimestampNs,
}

impl Open {
    fn len(&self) -> usize {
        self.list.len()
    }

    fn position(&self, key: &AggKey) -> Option<u32> {
        self.index.get(key).copied()
    }

    fn contains_key(&self, key: &AggKey) -> bool {
        self.index.contains_key(key)
    }

    /// The number of input `file` in [`Open::files`], adding it if new. The input being
    /// judged is nearly always the last one added.
    fn file_id(&mut self, file: &str) -> u32 {
        if self.files.last().is_some_and(|f| f == file) {
            return self.files.len() as u32 - 1;
        }
        if let Some(&i) = self.file_numbers.get(file) {
            return i;
        }
        // Each name comes with a finding (or an earlier flow of one): far below 2^32.
        let i = u32::try_from(self.files.len()).unwrap_or(u32::MAX);
        self.files.push(file.to_string());
        self.file_numbers.insert(file.to_string(), i);
        i
    }

    /// Adds flow `f` (first seen in `file`, observed as number `seq`) to finding `i`.
    fn add(&mut self, i: u32, f: &impl Observed, file: &str, seq: u64) {
        let i = i as usize;
        let Some(h) = self.hot.get_mut(i) else {
            return;
        };
        h.flows += 1;
        h.packets = h.packets.saturating_add(f.packets());
        h.bytes = h.bytes.saturating_add(f.bytes());
        h.last_ts = h.last_ts.max(f.last_ts());
        if f.first_ts() < h.first_ts {
            h.first_ts = f.first_ts();
            let file = self.file_id(file);
            if let Some((_, e)) = self.list.get_mut(i) {
                e.first = FirstFlow::of(&f.record(), file, seq);
            }
        }
    }

    /// Adds what another analyzer aggregated into the same finding (its input and its
    /// first flow's number as here); false when no finding of that key is open.
    fn merge(&mut self, key: &AggKey, f: &OpenFinding) -> bool {
        let Some(i) = self.position(key) else {
            return false;
        };
        let i = i as usize;
        if let (Some(h), Some((_, e))) = (self.hot.get_mut(i), self.list.get_mut(i)) {
            h.flows += f.flows;
            h.packets = h.packets.saturating_add(f.packets);
            h.bytes = h.bytes.saturating_add(f.bytes);
            h.last_ts = h.last_ts.max(f.last_ts);
            if (f.first_ts, f.first.seq) < (h.first_ts, e.first.seq) {
                h.first_ts = f.first_ts;
                e.first = f.first;
            }
        }
        true
    }

    /// Opens a finding (its key is not open: callers look it up first).
    fn insert(&mut self, key: AggKey, f: OpenFinding) -> u32 {
        // Findings are bounded by `max_findings` (at most 2^30).
        let i = u32::try_from(self.list.len()).unwrap_or(NO_FINDING & !OVERFLOWED);
        self.index.insert(key, i);
        self.hot.push(Hot {
            flows: f.flows,
            packets: f.packets,
            bytes: f.bytes,
            first_ts: f.first_ts,
            last_ts: f.last_ts,
        });
        self.list.push((key, f));
        i
    }

    /// The findings, counters included, in opening order; leaves none open (their inputs
    /// stay numbered in [`Open::files`]).
    fn take(&mut self) -> Vec<(AggKey, OpenFinding)> {
        self.index = HashMap::new();
        let mut list = std::mem::take(&mut self.list);
        for ((_, e), h) in list.iter_mut().zip(std::mem::take(&mut self.hot)) {
            (e.flows, e.packets, e.bytes) = (h.flows, h.packets, h.bytes);
            (e.first_ts, e.last_ts) = (h.first_ts, h.last_ts);
        }
        list
    }
}

/// What [`Analyzer`]'s common path reads of a flow: its judgement key, counters and
/// times. The whole [`FlowRecord`] only when a judgement or a finding is made.
trait Observed {
    fn key(&self, epoch: u32) -> JudgeKey;
    fn first_ts(&self) -> TimestampNs;
    fn last_ts(&self) -> TimestampNs;
    fn packets(&self) -> u64;
    fn bytes(&self) -> u64;
    fn has_macs(&self) -> bool;
    fn dst_ip(&self) -> IpAddr;
    fn record(&self) -> Cow<'_, FlowRecord>;
}

impl Observed for FlowRecord {
    fn key(&self, epoch: u32) -> JudgeKey {
        JudgeKey::of(self, epoch)
    }
    fn first_ts(&self) -> TimestampNs {
        self.first_ts
    }
    fn last_ts(&self) -> TimestampNs {
        self.last_ts
    }
    fn packets(&self) -> u64 {
        FlowRecord::packets(self)
    }
    fn bytes(&self) -> u64 {
        FlowRecord::bytes(self)
    }
    fn has_macs(&self) -> bool {
        self.src_mac.is_some() || self.dst_mac.is_some()
    }
    fn dst_ip(&self) -> IpAddr {
        self.dst_ip
    }
    fn record(&self) -> Cow<'_, FlowRecord> {
        Cow::Borrowed(self)
    }
}

/// An export record as the flow record [`from_export`] makes of it.
struct Export<'a> {
    r: &'a ExportRecord,
    input: u32,
}

impl Observed for Export<'_> {
    fn key(&self, epoch: u32) -> JudgeKey {
        let r = self.r;
        JudgeKey::new(
            (r.src, r.src_port),
            (r.dst, r.dst_port),
            r.proto,
            r.vlan,
            export_initiator_known(r),
            epoch,
        )
    }
    fn first_ts(&self) -> TimestampNs {
        self.r.start
    }
    fn last_ts(&self) -> TimestampNs {
        self.r.end
    }
    fn packets(&self) -> u64 {
        self.r
            .packets
            .saturating_add(self.r.reverse.map_or(0, |(p, _, _)| p))
    }
    fn bytes(&self) -> u64 {
        self.r
            .bytes
            .saturating_add(self.r.reverse.map_or(0, |(_, b, _)| b))
    }
    fn has_macs(&self) -> bool {
        self.r.src_mac.is_some() || self.r.dst_mac.is_some()
    }
    fn dst_ip(&self) -> IpAddr {
        self.r.dst
    }
    fn record(&self) -> Cow<'_, FlowRecord> {
        Cow::Owned(from_export(self.r, self.input))
    }
}

/// Recent judgements. Traffic repeats: the same clients reach the same services all night,
/// so most flows are judged by one hash and one comparison instead of two prefix lookups
/// and a walk over the gateways and exceptions.
struct JudgeCache {
    slots: Vec<Option<Slot>>,
    /// Slots − 1 (a power of two less one).
    mask: usize,
}

impl JudgeCache {
    fn new() -> Self {
        JudgeCache {
            // Allocated at the first flow: an analyzer of an empty input costs nothing.
            slots: Vec::new(),
            mask: JUDGE_CACHE_SLOTS - 1,
        }
    }

    /// Forgets every judgement (and so every pointer into the findings).
    fn clear(&mut self) {
        self.slots = Vec::new();
    }

    /// Allocates the slots if they are not (before the first judgement, and after
    /// [`JudgeCache::clear`]).
    fn ready(&mut self) {
        if self.slots.is_empty() {
            self.slots = vec![None; self.mask + 1];
        }
    }

    /// The set (its first slot) where key `key` would be ([`JudgeCache::ready`] first).
    fn set_of(&self, key: &JudgeKey) -> usize {
        (key.slot_hash() as usize) & self.mask & !(JUDGE_CACHE_WAYS - 1)
    }

    /// Asks the processor to fetch set `at` (as [`JudgeCache::set_of`] returned it).
    fn prefetch(&self, at: usize) {
        if let Some(s) = self.slots.get(at) {
            crate::prefetch::prefetch(s);
        }
    }

    /// The slot holding the judgement of flow `f`, of key `key` in set `at` (judged now
    /// if it was not there), and what it holds.
    fn judge_in(
        &mut self,
        rs: &Ruleset,
        f: &impl Observed,
        key: &JudgeKey,
        at: usize,
    ) -> (usize, Slot) {
        // The ways of the set, the most recently used first: keys whose hashes collide
        // do not evict each other at every flow.
        let Some(set) = self.slots.get_mut(at..at + JUDGE_CACHE_WAYS) else {
            unreachable!("the set index is masked to the cache's size, at least one set");
        };
        if let Some(s) = set[0].filter(|s| s.holds(key)) {
            return (at, s);
        }
        for way in 1..JUDGE_CACHE_WAYS {
            if let Some(s) = set[way].filter(|s| s.holds(key)) {
                set[..=way].rotate_right(1);
                return (at, s);
            }
        }
        let j = rs.judge(&f.record(), false);
        let s = Slot {
            words: key.words,
            epoch: key.epoch,
            src: j.src.class,
            dst: j.dst.class,
            verdict: Short::of(&j.verdict),
            finding: NO_FINDING,
        };
        set.rotate_right(1);
        set[0] = Some(s);
        (at, s)
    }

    /// Remembers that slot `at`'s violations go to finding `i`.
    fn point(&mut self, at: usize, i: u32) {
        if let Some(Some(s)) = self.slots.get_mut(at) {
            s.finding = i;
        }
    }
}

/// An [`Analyzer`] as a [`FlowSink`] (see [`Analyzer::sink`]).
pub struct Judging<'a, 'r> {
    analyzer: &'a mut Analyzer<'r>,
    file: &'a str,
    threads: usize,
}

impl Judging<'_, '_> {
    /// Judges the flows held at the end of an input on up to `threads` threads (see
    /// [`Analyzer::observe_all`]); the default is one.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }
}

impl FlowSink for Judging<'_, '_> {
    fn flow(&mut self, f: FlowRecord) {
        self.analyzer.observe(&f, self.file);
    }

    fn flows(&mut self, records: Vec<FlowRecord>) {
        self.analyzer.observe_all(&records, self.file, self.threads);
    }

    fn exports(&mut self, records: &[ExportRecord], input: u32) {
        self.analyzer.observe_exports(records, input, self.file);
    }
}

/// Judges flows one by one (streaming) and aggregates findings.
pub struct Analyzer<'r> {
    rs: &'r Ruleset,
    cache: JudgeCache,
    findings: Open,
    /// Counts per (initiator class, responder class), dense: `cs × classes + cd`.
    matrix: Vec<MatrixCell>,
    macs: MacObservations,
    flows: u64,
    violating: u64,
    by_hour: BTreeMap<i64, u64>,
    /// The current hour's count, not yet in `by_hour`.
    hour: (i64, u64),
    max_findings: usize,
    overflowed: u64,
    /// Findings moved out of `findings` by [`Analyzer::seal`], in the order absorbing wants.
    sealed: Vec<(AggKey, OpenFinding)>,
}

impl<'r> Analyzer<'r> {
    /// An analyzer for `rs`.
    pub fn new(rs: &'r Ruleset) -> Self {
        Analyzer {
            rs,
            cache: JudgeCache::new(),
            findings: Open::default(),
            matrix: vec![MatrixCell::default(); rs.pair_n * rs.pair_n],
            macs: MacObservations::new(1 << 20),
            flows: 0,
            violating: 0,
            by_hour: BTreeMap::new(),
            hour: (i64::MIN, 0),
            max_findings: DEFAULT_MAX_FINDINGS,
            overflowed: 0,
            sealed: Vec::new(),
        }
    }

    /// Prepares this analyzer to be [absorbed](Analyzer::absorb) by another: takes its
    /// findings out of their index and frees its judgement cache. Call it on the worker
    /// thread that judged, so that the thread merging the results does less; absorbing
    /// works without it.
    pub fn seal(&mut self) {
        self.flush_hour();
        self.cache.clear();
        let mut theirs = std::mem::take(&mut self.sealed);
        theirs.append(&mut self.findings.take());
        self.sealed = theirs;
    }

    /// Undoes [`Analyzer::seal`] (for an analyzer that goes on judging, or finishes).
    #[cold]
    fn unseal(&mut self) {
        // Sealing took every open finding and reset the cache's pointers into them.
        self.cache.clear();
        for (key, f) in std::mem::take(&mut self.sealed) {
            if !self.findings.merge(&key, &f) {
                self.findings.insert(key, f);
            }
        }
    }

    /// At most `n` MACs tracked for dual-homing (tests reach the bound with a few).
    #[cfg(test)]
    pub(crate) fn max_macs(mut self, n: usize) -> Self {
        self.macs = MacObservations::new(n);
        self
    }

    /// A judgement cache of `n` slots (rounded up to a power of two, at least one set):
    /// the smallest makes nearly every flow a fresh judgement, the reference the cached
    /// path is tested against.
    #[cfg(test)]
    pub(crate) fn judge_cache_slots(mut self, n: usize) -> Self {
        self.cache.mask = n.next_power_of_two().max(JUDGE_CACHE_WAYS) - 1;
        self.cache.clear();
        self
    }

    /// Most distinct findings kept ([`DEFAULT_MAX_FINDINGS`] unless set, at least 1, at
    /// most 2^30); beyond it, each rule's further violations are aggregated into one
    /// overflow finding per rule.
    pub fn max_findings(mut self, n: usize) -> Self {
        self.max_findings = n.clamp(1, 1 << 30);
        self
    }

    /// The id of the finding a flow judged a violation of rule number `rule` (as in
    /// [`Verdict::Violation`]) is aggregated into.
    pub fn finding_id_of(&self, rule: usize, f: &FlowRecord) -> String {
        finding_id(
            &self.rs.rules[rule].def.id,
            f.src_ip,
            f.dst_ip,
            &flow_service(f),
        )
    }

    /// Whether [absorbing](Analyzer::absorb) `other` gives exactly what judging its flows
    /// here, after this one's, would: unless `other` reached its own bound on findings
    /// (what it then counted together cannot be told apart again), or the MACs of both
    /// could reach the bound on MACs (which ones are dropped would depend on an order the
    /// MAC table does not keep). Past the bound on findings, absorbing in the order
    /// `other` opened its findings lists apart the same ones as judging here.
    pub fn absorbs_exactly(&self, other: &Analyzer<'r>) -> bool {
        // Had the other dropped MACs, it tracks as many as the bound allows: there is room
        // for them only if this one tracks none, and then its drops are this one's too.
        other.overflowed == 0 && self.macs.has_room_for(other.macs.len())
    }

    /// Adds what another analyzer of the same ruleset judged (the flows that follow this
    /// one's: later inputs, in a parallel run). The result equals judging those flows here,
    /// in order, when [`Analyzer::absorbs_exactly`] says so; otherwise it can differ in
    /// which findings are listed apart past the bound on findings, and which MACs are
    /// tracked past the bound on MACs.
    pub fn absorb(&mut self, other: Analyzer<'r>) {
        if !self.sealed.is_empty() {
            self.unseal();
        }
        // The cache's pointers into this analyzer's findings stay true: absorbing adds to
        // findings where they are and opens others after them (an overflow pointer means
        // the bound was reached here, and absorbing sends new keys to the overflow
        // finding too). Unsealing, above, cleared them.
        // The other's flows follow this one's, and are numbered so.
        let shift = self.flows;
        self.flows += other.flows;
        self.violating += other.violating;
        let mut other = other;
        other.flush_hour();
        self.flush_hour();
        for (h, n) in std::mem::take(&mut other.by_hour) {
            *self.by_hour.entry(h).or_insert(0) += n;
        }
        self.overflowed += other.overflowed;
        for (m, c) in self.matrix.iter_mut().zip(other.matrix) {
            m.flows += c.flows;
            m.bytes = m.bytes.saturating_add(c.bytes);
            m.violations += c.violations;
            m.permitted += c.permitted;
        }
        self.macs.absorb(other.macs);
        // In the order the other analyzer opened them, as judging here would open them
        // (one of the two is empty: observing again unseals).
        let mut theirs = std::mem::take(&mut other.sealed);
        theirs.append(&mut other.findings.take());
        // The other analyzer's inputs, numbered as here.
        let files: Vec<u32> = other
            .findings
            .files
            .iter()
            .map(|name| self.findings.file_id(name))
            .collect();
        let any = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        for (mut key, mut f) in theirs {
            f.first.file = files
                .get(f.first.file as usize)
                .copied()
                .unwrap_or(u32::MAX);
            f.first.seq += shift;
            if !self.findings.contains_key(&key) && self.findings.len() >= self.max_findings {
                key = (key.0, any, any, 0, 0);
                if f.overflow.is_none() {
                    self.overflowed += f.flows;
                }
            }
            if !self.findings.merge(&key, &f) {
                if key.1 == any && f.overflow.is_none() {
                    f.overflow = Some(self.max_findings);
                }
                self.findings.insert(key, f);
            }
        }
    }

    fn flush_hour(&mut self) {
        if self.hour.1 > 0 {
            *self.by_hour.entry(self.hour.0).or_insert(0) += self.hour.1;
        }
        self.hour = (i64::MIN, 0);
    }

    /// The id (e.g. `LG-01`) of rule number `rule` (as in [`Verdict::Violation`]).
    pub fn rule_id(&self, rule: usize) -> &str {
        &self.rs.rules[rule].def.id
    }

    /// Judges one flow whose first packet is in `file`.
    pub fn observe(&mut self, f: &FlowRecord, file: &str) -> Verdict {
        self.observe_any(f, file)
    }

    /// Judges one flow export record of input number `input` (named `file`): the same as
    /// [`Analyzer::observe`] of [`from_export`]`(r, input)`, without building the flow
    /// record unless a judgement or a new finding needs it (the cache holds most
    /// judgements), which makes it the faster way for a collector to judge exports.
    pub fn observe_export(&mut self, r: &ExportRecord, input: u32, file: &str) -> Verdict {
        self.observe_any(&Export { r, input }, file)
    }

    /// This analyzer as a pipeline's output: flows are [observed](Analyzer::observe),
    /// export records that go out as they are [judged a batch at a time](Analyzer::observe_exports),
    /// all as first seen in `file`.
    pub fn sink<'a>(&'a mut self, file: &'a str) -> Judging<'a, 'r> {
        Judging {
            analyzer: self,
            file,
            threads: 1,
        }
    }

    /// Judges export records `records` of input number `input` (named `file`), as
    /// [`Analyzer::observe_export`] of each in turn, but a few at a time: the judgement
    /// cache's sets of the next records are fetched while one is judged, so that their
    /// cache misses overlap.
    pub fn observe_exports(&mut self, records: &[ExportRecord], input: u32, file: &str) {
        self.ready();
        const AHEAD: usize = 8;
        let none = (
            JudgeKey {
                words: [0; 5],
                epoch: 0,
            },
            0,
        );
        for chunk in records.chunks(AHEAD) {
            let mut keys = [none; AHEAD];
            for (k, r) in keys.iter_mut().zip(chunk) {
                *k = self.locate(&Export { r, input });
                self.cache.prefetch(k.1);
            }
            for ((key, at), r) in keys.iter().zip(chunk) {
                self.observe_in(&Export { r, input }, key, *at, file);
            }
        }
    }

    /// Judges `flows`, all first seen in `file`, as [`Analyzer::observe`] of each in turn,
    /// on up to `threads` threads: helper threads judge the later parts of a large batch
    /// into analyzers of their own, which this one absorbs in order. That is done only when
    /// the result is certain to be the same: when the batch cannot reach the bound on
    /// distinct findings ([`Analyzer::max_findings`]) or on tracked MACs, whose overflow
    /// would depend on the order. A helper that cannot be started leaves its part to the
    /// calling thread.
    ///
    /// This is what the flows still held at the end of an input go through: all of them,
    /// on the one thread that assembles flows, while the reading thread waits.
    pub fn observe_all(&mut self, flows: &[FlowRecord], file: &str, threads: usize) {
        let parts = threads.clamp(1, 1 + flows.len() / SPLIT_MIN);
        let fits = self.findings.len().saturating_add(flows.len()) <= self.max_findings
            && self.macs.has_room_for(flows.len().saturating_mul(2));
        if parts < 2 || !fits {
            for f in flows {
                self.observe_any(f, file);
            }
            return;
        }
        // This thread also absorbs what the helpers judged, so it takes a smaller part.
        let mine = flows.len() / (2 * parts - 1);
        let (first, rest) = flows.split_at(mine);
        let size = rest.len().div_ceil(parts - 1).max(1);
        let (rs, max) = (self.rs, self.max_findings);
        std::thread::scope(|s| {
            let helpers: Vec<_> = rest
                .chunks(size)
                .map(|part| {
                    let started = std::thread::Builder::new().spawn_scoped(s, move || {
                        let mut a = Analyzer::new(rs).max_findings(max);
                        for f in part {
                            a.observe_any(f, file);
                        }
                        a
                    });
                    (part, started)
                })
                .collect();
            for f in first {
                self.observe_any(f, file);
            }
            for (part, started) in helpers {
                match started.map(std::thread::ScopedJoinHandle::join) {
                    Ok(Ok(other)) => self.absorb(other),
                    Ok(Err(panic)) => std::panic::resume_unwind(panic),
                    Err(_) => {
                        for f in part {
                            self.observe_any(f, file);
                        }
                    }
                }
            }
        });
    }

    fn observe_any(&mut self, f: &impl Observed, file: &str) -> Verdict {
        self.ready();
        let (key, at) = self.locate(f);
        self.observe_in(f, &key, at, file).verdict(f.dst_ip())
    }

    /// Before judging: the findings open again if sealed, the cache allocated.
    fn ready(&mut self) {
        if !self.sealed.is_empty() {
            self.unseal();
        }
        self.cache.ready();
    }

    /// Flow `f`'s judgement key and the cache set it belongs in.
    #[inline]
    fn locate(&self, f: &impl Observed) -> (JudgeKey, usize) {
        let key = f.key(self.rs.expiry_epoch(f.first_ts()));
        let at = self.cache.set_of(&key);
        (key, at)
    }

    /// Judges flow `f`, whose judgement key and cache set are known (and whose analyzer
    /// is not sealed); the verdict as the cache keeps it.
    fn observe_in(&mut self, f: &impl Observed, key: &JudgeKey, at: usize, file: &str) -> Short {
        let (slot, j) = self.cache.judge_in(self.rs, f, key, at);
        let (short, cached) = (j.verdict, j.finding);
        self.flows += 1;
        // Every class an attribution returns is one of the inventory's.
        let n = self.rs.pair_n;
        let at = usize::from(j.src.0) * n + usize::from(j.dst.0);
        let Some(cell) = self.matrix.get_mut(at) else {
            unreachable!("class ids are below the inventory's class count");
        };
        cell.flows += 1;
        cell.bytes = cell.bytes.saturating_add(f.bytes());
        // Flow exports rarely carry MACs: nothing to look at when neither side has one.
        if f.has_macs() {
            let f = f.record();
            for (mac, class, ip) in [(f.src_mac, j.src, f.src_ip), (f.dst_mac, j.dst, f.dst_ip)] {
                if let Some(mac) = mac {
                    if self.rs.inventory.kind(class) == ClassKind::Segment
                        && !self.rs.routers.contains(&mac)
                    {
                        self.macs.observe(
                            mac,
                            MacSighting {
                                ip,
                                class,
                                evidence: (f.input, f.first_packet_index, f.first_packet_offset),
                                ts: f.first_ts,
                            },
                        );
                    }
                }
            }
        }
        match short {
            Short::Allowed { permit: 1.., .. } => cell.permitted += 1,
            Short::Allowed { .. } => {}
            Short::Violation { rule } => {
                cell.violations += 1;
                self.violating += 1;
                // Violations come hour after hour: count in place until the hour changes.
                let hour = f.first_ts().div_euclid(3600 * NS_PER_SEC);
                if self.hour.0 == hour {
                    self.hour.1 += 1;
                } else {
                    self.flush_hour();
                    self.hour = (hour, 1);
                }
                // The common case: the cache knows the finding.
                if cached != NO_FINDING {
                    if cached & OVERFLOWED != 0 {
                        self.overflowed += 1;
                    }
                    self.findings.add(cached & !OVERFLOWED, f, file, self.flows);
                } else {
                    self.file_violation(slot, rule as usize, &f.record(), file);
                }
            }
        }
        short
    }

    /// Adds a violation whose judgement does not yet point at a finding to its finding,
    /// opening it (with its reasons) when new, and points the judgement at it. Kept out
    /// of [`Analyzer::observe`], whose common path is the cached one.
    #[inline(never)]
    fn file_violation(&mut self, slot: usize, rule: usize, f: &FlowRecord, file: &str) {
        let mut key = (rule, f.src_ip, f.dst_ip, f.proto, f.dst_port);
        if let Some(i) = self.findings.position(&key) {
            self.findings.add(i, f, file, self.flows);
            self.cache.point(slot, i);
            return;
        }
        let overflow = self.findings.len() >= self.max_findings;
        if overflow {
            let any = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
            key = (rule, any, any, 0, 0);
            self.overflowed += 1;
        }
        // Reasons (and the prefixes that attributed the endpoints) are worked out
        // once, when the finding opens.
        let full = self.rs.judge(f, !overflow);
        let endpoint = |ip, a: Attribution| OpenEndpoint {
            ip,
            class: a.class,
            prefix: a.prefix,
        };
        let i = match self.findings.position(&key) {
            Some(i) => i,
            None => {
                let open = OpenFinding {
                    src: endpoint(f.src_ip, full.src),
                    dst: endpoint(f.dst_ip, full.dst),
                    dst_port: f.dst_port,
                    proto: f.proto,
                    initiator_known: f.initiator_known,
                    overflow: overflow.then_some(self.max_findings),
                    first_ts: f.first_ts,
                    last_ts: f.last_ts,
                    // Counted by `add`, below.
                    flows: 0,
                    packets: 0,
                    bytes: 0,
                    first: FirstFlow::of(f, self.findings.file_id(file), self.flows),
                    considered: match full.verdict {
                        Verdict::Violation { considered, .. } if !overflow => considered,
                        _ => Vec::new(),
                    },
                };
                self.findings.insert(key, open)
            }
        };
        self.findings.add(i, f, file, self.flows);
        self.cache
            .point(slot, if overflow { i | OVERFLOWED } else { i });
    }

    /// Dual-homed findings, sorted findings and the matrix. `files` maps input numbers to names.
    pub fn finish(self, files: &[String]) -> Analysis {
        self.finish_on(files, 1)
    }

    /// [`Analyzer::finish`], writing the findings' texts, ids and Community IDs on up to
    /// `threads` threads (a helper that cannot start leaves its part to this one). The
    /// result is the same for any number.
    pub fn finish_on(mut self, files: &[String], threads: usize) -> Analysis {
        self.unseal();
        self.flush_hour();
        let open = self.findings.take();
        let names = std::mem::take(&mut self.findings.files);
        let mut findings = findings_of(self.rs, &open, &names, threads);
        // Not held through the sort and the report.
        drop(open);
        if let Some(ri) = self
            .rs
            .rules
            .iter()
            .position(|r| r.def.kind == RuleKind::DualHomed)
        {
            let r = &self.rs.rules[ri].def;
            for (mac, mut sightings) in self.macs.multi_segment() {
                sightings.sort_by_key(|s| (s.ts, s.evidence));
                let (a, b) = (&sightings[0], &sightings[1]);
                let ep = |s: &MacSighting| FindingEndpoint {
                    ip: s.ip,
                    port: 0,
                    class: self.rs.inventory.name(s.class).to_string(),
                    prefix: self.rs.attribute(s.ip, None).prefix,
                };
                let first = a;
                let macs = crate::decode::mac_str(mac);
                let mut considered: Vec<String> = sightings
                    .iter()
                    .map(|s| {
                        format!(
                            "{macs} sourced {} ({})",
                            s.ip,
                            self.rs.inventory.name(s.class)
                        )
                    })
                    .collect();
                considered.push("not declared in [devices] routers".to_string());
                findings.push(Finding {
                    service: "-".into(),
                    mac: Some(macs),
                    first_ts: sightings.iter().map(|s| s.ts).min().unwrap_or(0),
                    last_ts: sightings.iter().map(|s| s.ts).max().unwrap_or(0),
                    flows: sightings.len() as u64,
                    evidence: Evidence {
                        file: files
                            .get(first.evidence.0 as usize)
                            .cloned()
                            .unwrap_or_default(),
                        first_packet_index: first.evidence.1,
                        first_packet_offset: first.evidence.2,
                    },
                    considered,
                    ..Finding::of_rule(r, ep(a), ep(b))
                });
            }
        }
        // Flows' findings have their ids; the dual-homed ones are given theirs here.
        for f in &mut findings {
            if f.id.is_empty() {
                f.id = id_of(f);
            }
        }
        sort_for_report(&mut findings);
        let inv = &self.rs.inventory;
        let n = self.rs.pair_n;
        let mut matrix: Vec<(String, String, MatrixCell)> = self
            .matrix
            .into_iter()
            .enumerate()
            .filter(|(_, c)| c.flows > 0)
            .map(|(i, c)| {
                let (s, d) = (ClassId((i / n) as u16), ClassId((i % n) as u16));
                (inv.name(s).to_string(), inv.name(d).to_string(), c)
            })
            .collect();
        matrix.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Analysis {
            findings,
            matrix,
            flows: self.flows,
            violating_flows: self.violating,
            macs_untracked: self.macs.dropped,
            findings_overflowed: self.overflowed,
            baseline: None,
            violations_by_hour: self.by_hour.into_iter().collect(),
        }
    }
}

/// The [`Finding`]s of open findings `open` (ids included), in their order, written on up
/// to `threads` threads; `files` names their inputs.
fn findings_of(
    rs: &Ruleset,
    open: &[(AggKey, OpenFinding)],
    files: &[String],
    threads: usize,
) -> Vec<Finding> {
    let one = |(key, f): &(AggKey, OpenFinding)| {
        let mut f = finding_of(rs, key.0, f, files);
        f.id = id_of(&f);
        f
    };
    let parts = threads.clamp(1, 1 + open.len() / SPLIT_MIN);
    if parts < 2 {
        return open.iter().map(one).collect();
    }
    let mut chunks = open.chunks(open.len().div_ceil(parts));
    let mine = chunks.next().unwrap_or_default();
    std::thread::scope(|s| {
        let one = &one;
        let helpers: Vec<_> = chunks
            .map(|part| {
                let started = std::thread::Builder::new()
                    .spawn_scoped(s, move || part.iter().map(one).collect::<Vec<_>>());
                (part, started)
            })
            .collect();
        let mut all: Vec<Finding> = Vec::with_capacity(open.len());
        all.extend(mine.iter().map(one));
        for (part, started) in helpers {
            match started.map(std::thread::ScopedJoinHandle::join) {
                Ok(Ok(done)) => all.extend(done),
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                Err(_) => all.extend(part.iter().map(one)),
            }
        }
        all
    })
}

/// The [`Finding`] of open finding `f` of rule number `rule` (its id left empty); `files`
/// names its inputs.
fn finding_of(rs: &Ruleset, rule: usize, f: &OpenFinding, files: &[String]) -> Finding {
    let endpoint = |e: OpenEndpoint, port| FindingEndpoint {
        ip: e.ip,
        port,
        class: rs.inventory.name(e.class).to_string(),
        prefix: e.prefix,
    };
    let considered = match f.overflow {
        Some(limit) => vec![format!(
            "more than {limit} distinct findings: further violations of this rule are counted here; the first is shown"
        )],
        None if f.initiator_known => f.considered.clone(),
        None => {
            let mut c = vec![format!(
                "initiator unknown: the exporter's record runs {} -> {}; no TCP flags or reverse record tell who started",
                f.src.ip, f.dst.ip
            )];
            c.extend(f.considered.iter().cloned());
            c
        }
    };
    let (a, b, p, sp, dp) = f.first.tuple;
    Finding {
        service: service_of(f.proto, f.dst_port),
        proto: f.proto,
        initiator_known: f.initiator_known,
        first_ts: f.first_ts,
        last_ts: f.last_ts,
        flows: f.flows,
        packets: f.packets,
        bytes: f.bytes,
        community_id: crate::flow::community_id_v1(0, a, b, p, sp, dp),
        evidence: Evidence {
            file: files
                .get(f.first.file as usize)
                .cloned()
                .unwrap_or_default(),
            first_packet_index: f.first.packet_index,
            first_packet_offset: f.first.packet_offset,
        },
        considered,
        ..Finding::of_rule(
            &rs.rules[rule].def,
            endpoint(f.src, sp),
            endpoint(f.dst, f.dst_port),
        )
    }
}

#[cfg(test)]
mod tests;
