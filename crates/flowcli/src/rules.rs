//! `flowcli ruleset check|test` and `flowcli explain`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Subcommand;
use flowcore::policy::testing::run_tests;

use crate::analyze::load_ruleset;
use crate::{EXIT_INPUT, EXIT_OK, EXIT_OUTPUT};

#[derive(Subcommand)]
pub(crate) enum RulesetCmd {
    /// Validate a site file and its policy model; errors point at file:line:column.
    #[command(after_help = "Example:\n  flowcli ruleset check rulesets/example-site.toml")]
    Check {
        /// The site file.
        #[arg(value_name = "SITE.toml")]
        site: PathBuf,
    },
    /// Run policy tests (expected verdicts for given flows) against a site file.
    #[command(after_help = "\
The tests file defaults to the site file's name with .tests.toml, e.g. rulesets/ome-city.tests.toml:
  [[test]]
  name = \"screen transfer opened from the Internet side\"
  src = \"10.3.6.10\"            # the initiator
  dst = \"10.2.10.21:3389\"      # the responder, IP or IP:PORT
  proto = \"tcp\"                # optional (default tcp)
  at = 2026-11-25T09:00:00+09:00 # optional, for exception expiry
  expect = \"LG-01\"             # allow, deny, or the rule id that must be violated

Example:
  flowcli ruleset test rulesets/ome-city.toml")]
    Test {
        /// The site file.
        #[arg(value_name = "SITE.toml")]
        site: PathBuf,
        /// The tests file (default: SITE.tests.toml).
        #[arg(value_name = "TESTS.toml")]
        tests: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
pub(crate) struct ExplainArgs {
    /// The site file.
    #[arg(long, value_name = "SITE.toml", required = true)]
    ruleset: PathBuf,
    /// Addresses, optionally with a port (IP, IP:PORT, [IPv6]:PORT).
    #[arg(required = true, value_name = "IP|IP:PORT")]
    addresses: Vec<String>,
}

pub(crate) fn run(cmd: RulesetCmd) -> io::Result<u8> {
    match cmd {
        RulesetCmd::Check { site } => {
            let Some(rs) = load_ruleset(&site) else {
                return Ok(EXIT_INPUT);
            };
            let classes: Vec<String> = rs
                .inventory
                .classes()
                .skip(3)
                .map(|(_, n, k)| {
                    format!(
                        "{n} ({})",
                        if k == flowcore::segment::ClassKind::Segment {
                            "segment"
                        } else {
                            "zone"
                        }
                    )
                })
                .collect();
            println!(
                "{}: ok — site {:?}, policy {} ({} rules); {}; {} gateways, {} exceptions, {} routers",
                site.display(),
                rs.site_name,
                rs.policy_id,
                rs.rules.len(),
                classes.join(", "),
                rs.gateways.len(),
                rs.exceptions.len(),
                rs.routers.len()
            );
            Ok(EXIT_OK)
        }
        RulesetCmd::Test { site, tests } => {
            let Some(rs) = load_ruleset(&site) else {
                return Ok(EXIT_INPUT);
            };
            let tests = tests.unwrap_or_else(|| {
                let stem = site
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default();
                site.with_file_name(format!("{stem}.tests.toml"))
            });
            match run_tests(&rs, &tests) {
                Err(errs) => {
                    for e in errs {
                        eprintln!("flowcli: test file error: {e}");
                    }
                    Ok(EXIT_INPUT)
                }
                Ok(outcomes) => {
                    let failed = outcomes.iter().filter(|o| !o.passed).count();
                    for o in &outcomes {
                        if o.passed {
                            println!("ok    {}: {}", o.name, o.got);
                        } else {
                            println!("FAIL  {}: expected {}, got {}", o.name, o.expected, o.got);
                        }
                    }
                    println!(
                        "policy tests: {} passed, {failed} failed",
                        outcomes.len() - failed
                    );
                    Ok(if failed == 0 { EXIT_OK } else { EXIT_OUTPUT })
                }
            }
        }
    }
}

pub(crate) fn explain(args: ExplainArgs) -> io::Result<u8> {
    let Some(rs) = load_ruleset(&args.ruleset) else {
        return Ok(EXIT_INPUT);
    };
    let mut code = EXIT_OK;
    for a in &args.addresses {
        let parsed = a
            .parse::<SocketAddr>()
            .map(|s| (s.ip(), Some(s.port())))
            .or_else(|_| a.parse::<IpAddr>().map(|ip| (ip, None)));
        match parsed {
            Ok((ip, port)) => {
                for line in rs.explain(ip, port) {
                    println!("{line}");
                }
            }
            Err(_) => {
                eprintln!("flowcli: {a:?} is not an address (IP, IP:PORT or [IPv6]:PORT)");
                code = EXIT_INPUT;
            }
        }
    }
    Ok(code)
}
