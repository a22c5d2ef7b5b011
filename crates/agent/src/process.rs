//! Containers as processes: the command line and environment kubelet would give a container,
//! a process group per container (so signals reach everything it started), and logs appended
//! to one file per container.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use podio::Stream;
use tokio::sync::broadcast;

use crate::pty::Pty;
use crate::streams::Console;

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
    /// `stdin`: the container's standard input stays open for `kubectl attach`.
    pub stdin: bool,
    /// `stdinOnce`: standard input closes when the first attached client closes it.
    pub stdin_once: bool,
    /// `tty`: the container runs on a pseudo-terminal.
    pub tty: bool,
}

/// Where the log of a container's previous run is kept: `<name>.previous.log` beside
/// `<name>.log`.
pub fn previous_log(log: &std::path::Path) -> PathBuf {
    log.with_extension("previous.log")
}

/// The longest line written whole; longer output is split into `P` (partial) lines, as the
/// kubelet does.
const MAX_LINE: usize = 16 * 1024;

/// Copies one output stream into the log, one CRI-format line per line of output, and hands
/// every chunk as it comes to whoever is attached.
async fn copy_lines(
    mut from: impl tokio::io::AsyncRead + Unpin,
    stream: Stream,
    log: Arc<Mutex<std::fs::File>>,
    live: broadcast::Sender<(Stream, Bytes)>,
) {
    use tokio::io::AsyncReadExt as _;
    let mut buf = vec![0u8; MAX_LINE];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Nobody attached is the usual case; the send then fails, which is fine.
        let _ = live.send((stream, Bytes::copy_from_slice(&buf[..n])));
        pending.extend_from_slice(&buf[..n]);
        loop {
            let newline = pending.iter().take(MAX_LINE).position(|&b| b == b'\n');
            let (len, skip, tag) = match newline {
                Some(i) => (i, i + 1, "F"),
                None if pending.len() >= MAX_LINE => (MAX_LINE, MAX_LINE, "P"),
                None => break,
            };
            if !write_record(&log, stream, tag, &pending[..len]) {
                return;
            }
            pending.drain(..skip);
        }
    }
    // The last output, without a newline.
    if !pending.is_empty() {
        write_record(&log, stream, "F", &pending);
    }
}

/// Appends one CRI-format record; false when the log cannot be written.
fn write_record(log: &Mutex<std::fs::File>, stream: Stream, tag: &str, text: &[u8]) -> bool {
    use std::io::Write as _;
    let name = match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    };
    // RFC 3339 with nanoseconds (trailing zeros dropped), as the kubelet's RFC3339Nano.
    let mut record = format!("{} {name} {tag} ", jiff::Timestamp::now()).into_bytes();
    record.extend_from_slice(text);
    record.push(b'\n');
    let mut f = log.lock().unwrap_or_else(|p| p.into_inner());
    f.write_all(&record).is_ok()
}

/// Starts the process in a new process group (on a terminal of its own for `tty: true`), its
/// output copied into its log (the previous run's log, if any, moved aside first) and to
/// attached clients through the returned [`Console`].
pub fn spawn(spec: &Spec) -> std::io::Result<(tokio::process::Child, Console)> {
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
        .kill_on_drop(false);
    if let Some(dir) = spec.cwd.as_deref().filter(|d| !d.is_empty()) {
        cmd.current_dir(dir);
    }
    if let Some(sandbox) = &spec.sandbox {
        crate::netns::enter(&mut cmd, sandbox)?;
    }
    let pty = if spec.tty {
        Some(Pty::attach(&mut cmd)?)
    } else {
        cmd.stdin(if spec.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
        None
    };
    let mut child = cmd.spawn()?;
    // Our copies of the terminal's slave side must go, or its end of file never comes.
    drop(cmd);
    let log = Arc::new(Mutex::new(log));
    let (live, _) = broadcast::channel(256);
    let input = match (&pty, child.stdin.take()) {
        (Some(p), _) if spec.stdin => Some(crate::streams::feed(p.clone())),
        (None, Some(stdin)) => Some(crate::streams::feed(stdin)),
        _ => None,
    };
    match &pty {
        Some(p) => {
            tokio::spawn(copy_lines(p.clone(), Stream::Stdout, log, live.clone()));
        }
        None => {
            if let Some(out) = child.stdout.take() {
                tokio::spawn(copy_lines(out, Stream::Stdout, log.clone(), live.clone()));
            }
            if let Some(err) = child.stderr.take() {
                tokio::spawn(copy_lines(err, Stream::Stderr, log, live.clone()));
            }
        }
    }
    let console = Console {
        live: live.downgrade(),
        input: Mutex::new(input),
        pty,
        stdin_once: spec.stdin_once,
    };
    Ok((child, console))
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
