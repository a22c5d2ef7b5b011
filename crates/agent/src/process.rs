//! Containers as processes: the command line and environment kubelet would give a container,
//! a process group per container (so signals reach everything it started), and logs appended
//! to one file per container.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Kubernetes' `$(VAR)` expansion: a defined variable is replaced, an undefined reference is
/// left as written, and `$$` escapes a `$`.
pub fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(end) => {
                    let name = &body[..end];
                    match env.get(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &body[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = body;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Everything needed to start one container's process.
#[derive(Debug, Clone)]
pub struct Spec {
    /// argv[0] and the rest.
    pub argv: Vec<String>,
    /// The environment, in order.
    pub env: Vec<(String, String)>,
    /// `workingDir`.
    pub cwd: Option<String>,
    /// Where stdout and stderr go, as the kubelet writes container logs (CRI format: one
    /// `<RFC 3339 time> <stream> <F|P> <text>` line per line of output). The previous run's
    /// log is kept beside it (see [`previous_log`]).
    pub log: PathBuf,
    /// The pod's namespaces (netns network mode); `None` runs on the node.
    pub sandbox: Option<crate::netns::Sandbox>,
}

/// Where the log of a container's previous run is kept: `<name>.previous.log` beside
/// `<name>.log`.
pub fn previous_log(log: &std::path::Path) -> PathBuf {
    log.with_extension("previous.log")
}

/// The longest line written whole; longer output is split into `P` (partial) lines, as the
/// kubelet does.
const MAX_LINE: usize = 16 * 1024;

/// Copies one output stream into the log, one CRI-format line per line of output.
async fn copy_lines(
    from: impl tokio::io::AsyncRead + Unpin,
    stream: &'static str,
    log: std::sync::Arc<std::sync::Mutex<std::fs::File>>,
) {
    use std::io::Write as _;
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _};
    let mut reader = tokio::io::BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        // At most MAX_LINE bytes per record, up to and including a newline.
        let mut limited = (&mut reader).take(MAX_LINE as u64);
        match limited.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (text, tag) = match line.strip_suffix(b"\n") {
            Some(text) => (text, "F"),
            None if line.len() >= MAX_LINE => (line.as_slice(), "P"),
            // The last output, without a newline.
            None => (line.as_slice(), "F"),
        };
        // RFC 3339 with nanoseconds (trailing zeros dropped), as the kubelet's RFC3339Nano.
        let mut record = format!("{} {stream} {tag} ", jiff::Timestamp::now()).into_bytes();
        record.extend_from_slice(text);
        record.push(b'\n');
        let mut f = log.lock().unwrap_or_else(|p| p.into_inner());
        if f.write_all(&record).is_err() {
            return;
        }
    }
}

/// Starts the process in a new process group, its output copied into its log (the previous
/// run's log, if any, moved aside first).
pub fn spawn(spec: &Spec) -> std::io::Result<tokio::process::Child> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty command",
        ));
    };
    if std::fs::metadata(&spec.log).is_ok_and(|m| m.len() > 0) {
        std::fs::rename(&spec.log, previous_log(&spec.log))?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&spec.log)?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    if let Some(dir) = spec.cwd.as_deref().filter(|d| !d.is_empty()) {
        cmd.current_dir(dir);
    }
    if let Some(sandbox) = &spec.sandbox {
        crate::netns::enter(&mut cmd, sandbox)?;
    }
    let mut child = cmd.spawn()?;
    let log = std::sync::Arc::new(std::sync::Mutex::new(log));
    if let Some(out) = child.stdout.take() {
        tokio::spawn(copy_lines(out, "stdout", log.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(copy_lines(err, "stderr", log));
    }
    Ok(child)
}

/// Records a running container's process group in `dir`, so a later agent can end it if
/// this one dies without doing so.
pub fn record(dir: &std::path::Path, name: &str, pid: u32) {
    let _ = std::fs::write(dir.join(format!("{name}.pgid")), pid.to_string());
}

/// Forgets a recorded process group (its container ended).
pub fn forget(dir: &std::path::Path, name: &str) {
    let _ = std::fs::remove_file(dir.join(format!("{name}.pgid")));
}

/// Kills every process group recorded in `dir` and forgets them all.
pub fn reap_recorded(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("pgid") {
            continue;
        }
        if let Some(pid) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        {
            tracing::info!(
                pgid = pid,
                "ending a process group left by an earlier agent"
            );
            signal_group(pid, Signal::SIGKILL);
        }
        let _ = std::fs::remove_file(&path);
    }
}

/// Sends `signal` to the whole process group led by `pid`.
pub fn signal_group(pid: u32, signal: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = killpg(Pid::from_raw(pid), signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_follows_kubernetes() {
        let env: BTreeMap<String, String> =
            [("POD_IP".to_owned(), "127.244.0.2".to_owned())].into();
        let cases = [
            ("--listen=$(POD_IP):80", "--listen=127.244.0.2:80"),
            ("$(MISSING)", "$(MISSING)"),
            ("$$(POD_IP)", "$(POD_IP)"),
            ("cost $5", "cost $5"),
            ("$(unclosed", "$(unclosed"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, &env), want, "{input}");
        }
    }
}
