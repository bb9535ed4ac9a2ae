//! Helpers shared by the end-to-end test files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `../shared/samples` beside the repository.
pub fn samples() -> PathBuf {
    repo_root().join("../shared/samples")
}

/// The `flowcli` binary under test.
pub fn flowcli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flowcli"))
}

/// `flowcli flows` options that disable every timeout: one record per 5-tuple and input.
pub const NO_TIMEOUTS: [&str; 6] = [
    "--idle-timeout",
    "0",
    "--active-timeout",
    "0",
    "--tcp-close-linger",
    "0",
];

/// `flowcli analyze --ruleset <site> --format ndjson <extra> <input>`, run from the
/// repository root.
pub fn analyze_ndjson(site: &str, extra: &[&str], input: &Path) -> Output {
    run(flowcli()
        .current_dir(repo_root())
        .args(["analyze", "--ruleset", site, "--format", "ndjson"])
        .args(extra)
        .arg(input))
}

/// The JSON objects of NDJSON output, one per line.
pub fn ndjson(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("an NDJSON line"))
        .collect()
}

/// Runs a command with no standard input and collects its output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run command")
}

/// Whether a reference tool runs (`tool probe_arg`). Missing: a loud SKIPPED message
/// locally, a failure under CI (`CI` set), where `.ci/run` installs `package`.
pub fn have(tool: &str, probe_arg: &str, package: &str) -> bool {
    let ok = Command::new(tool)
        .arg(probe_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("{tool} is required under CI (apt-get install -y {package})");
        }
        eprintln!(
            "\n*** SKIPPED: {tool} is not installed; the comparison with it was not run. ***"
        );
        eprintln!("*** Install it with: apt-get install -y {package} ***\n");
    }
    ok
}

/// Cargo's scratch space for integration tests (`target/tmp`). Test files live there, under
/// fixed names, rather than in the system's temporary directory: each run replaces the
/// last one's files instead of adding a directory per process (they piled up by the
/// hundred in `/tmp`), and after a failure they are still there to look at.
fn scratch_root() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// An emptied directory for one test's files (`name` unique across the test files).
pub fn temp_dir(name: &str) -> PathBuf {
    let d = scratch_root().join(format!("e2e-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A directory shared by the tests of one test file (`name`), emptied the first time it is
/// asked for in a run; each test names its files apart.
pub fn scratch(name: &str) -> PathBuf {
    static EMPTIED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let d = scratch_root().join(name);
    let mut emptied = EMPTIED.lock().unwrap_or_else(|p| p.into_inner());
    if !emptied.iter().any(|n| n == name) {
        let _ = std::fs::remove_dir_all(&d);
        emptied.push(name.to_string());
    }
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `flowcli ARGS -q -j J INPUT` run from the repository root: its exit status, standard
/// output and standard error.
pub fn run_j(args: &[&str], j: &str, input: &Path) -> (Option<i32>, Vec<u8>, String) {
    let o = run(flowcli()
        .current_dir(repo_root())
        .args(args)
        .args(["-q", "-j", j])
        .arg(input));
    (
        o.status.code(),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// [`run_j`] of `analyze --ruleset SITE --format json` with its report parsed, the report's
/// command line (which names `-j`) taken out.
pub fn report_j(site: &str, j: &str, input: &Path) -> (Option<i32>, serde_json::Value, String) {
    let args = ["analyze", "--ruleset", site, "--format", "json"];
    let (code, out, err) = run_j(&args, j, input);
    let mut v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    v["summary"]["command_line"].take();
    (code, v, err)
}
