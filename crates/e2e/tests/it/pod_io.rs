//! `kubectl exec`, `run -it`, `attach` and `port-forward` against knet: the WebSocket channel
//! protocol for exec and attach, SPDY tunnelled in a WebSocket for port-forward, terminals for
//! `tty` containers, and kubectl's usual errors.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::{Knet, eventually};

const DONE: &str = "apiVersion: v1
kind: Pod
metadata:
  name: done
spec:
  restartPolicy: Never
  containers:
  - {name: once, image: busybox, command: [sh, -c, 'exit 0']}
";

#[test]
fn kubectl_exec_and_port_forward_reach_the_pods() -> anyhow::Result<()> {
    let seed = e2e::workspace().join("examples/seed").display().to_string();
    let k = Knet::up(&["-f", &seed])?;
    let f = k.dir.path().join("done.yaml");
    std::fs::write(&f, DONE)?;
    k.kubectl(&["apply", "-f", &f.display().to_string()])?;
    k.kubectl(&["rollout", "status", "deploy/nginx-for-svc", "--timeout=60s"])?;

    // The tutorial's check: the pod's environment, through the Deployment.
    let env = k.kubectl(&["exec", "deploy/nginx-for-svc", "--", "env"])?;
    let ip = env
        .lines()
        .find_map(|l| l.strip_prefix("POD_IP="))
        .unwrap_or_default()
        .to_owned();
    assert!(ip.starts_with("127."), "{env}");

    // Exit codes come back as the command's, with kubectl's words.
    let out = k.kubectl_output(&[
        "exec",
        "deploy/nginx-for-svc",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ])?;
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("err\n") && stderr.contains("command terminated with exit code 3"),
        "{stderr}"
    );
    let out = k.kubectl_output(&["exec", "deploy/nginx-for-svc", "--", "no-such-command"])?;
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("executable file not found"),
        "{out:?}"
    );

    // 1 MiB through stdin and back, byte for byte.
    let data: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut cat = client(&k, "kubectl")
        .args(["exec", "-i", "deploy/nginx-for-svc", "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = cat.stdin.take().expect("piped");
    let sent = data.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&sent));
    let out = cat.wait_with_output()?;
    writer.join().expect("writer")?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "the bytes came back changed");

    // Bad input: kubectl's errors and a non-zero exit.
    let pod = k.kubectl(&[
        "get",
        "pods",
        "-l",
        "app=nginx-for-svc",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ])?;
    let err = k.kubectl_fails(&["exec", &pod, "-c", "nope", "--", "env"])?;
    assert!(
        err.contains(&format!("container nope is not valid for pod {pod}")),
        "{err}"
    );
    let err = k.kubectl_fails(&["exec", "nosuch", "--", "env"])?;
    assert!(err.contains("pods \"nosuch\" not found"), "{err}");
    eventually(Duration::from_secs(20), || {
        let phase = k.kubectl(&["get", "pod", "done", "-o", "jsonpath={.status.phase}"])?;
        Ok((phase == "Succeeded").then_some(()))
    })?;
    let err = k.kubectl_fails(&["exec", "done", "--", "env"])?;
    assert!(err.contains("completed pod"), "{err}");

    // port-forward: a local port to the echo server in the pod (the seed declares port 80).
    let port = e2e::free_port()?;
    let mut pf = client(&k, "kubectl")
        .args(["port-forward", &format!("pod/{pod}"), &format!("{port}:80")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let url = format!("http://127.0.0.1:{port}/through");
    let answer = eventually(Duration::from_secs(15), || {
        let out = Command::new("curl")
            .args(["-s", "-m", "5", &url])
            .output()?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
    });
    // Several connections through one session.
    let again = Command::new("curl")
        .args(["-s", "-m", "5", &url, &url])
        .output()?;
    let _ = pf.kill();
    let _ = pf.wait();
    let answer: serde_json::Value = serde_json::from_str(&answer?)?;
    assert_eq!(answer["pod"], pod.as_str());
    assert_eq!(answer["path"], "/through");
    assert_eq!(
        String::from_utf8_lossy(&again.stdout)
            .matches("\"path\":\"/through\"")
            .count(),
        2
    );
    Ok(())
}

/// `program` in the instance's namespace with its kubeconfig and a private home.
fn client(k: &Knet, program: &str) -> Command {
    let mut cmd = k.command(program);
    cmd.env("KUBECONFIG", k.kubeconfig())
        .env("HOME", k.dir.path().join("home"));
    cmd
}

/// Runs `script` so kubectl sees a terminal; `input` is typed with pauses.
fn on_terminal(
    k: &Knet,
    command: &str,
    input: &[(&str, u64)],
) -> anyhow::Result<std::process::Child> {
    let mut child = client(k, "script")
        .args(["-qfec", command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let steps: Vec<(String, u64)> = input.iter().map(|(s, d)| ((*s).to_owned(), *d)).collect();
    std::thread::spawn(move || {
        for (text, pause) in steps {
            std::thread::sleep(Duration::from_millis(pause));
            if stdin.write_all(text.as_bytes()).is_err() {
                return;
            }
            let _ = stdin.flush();
        }
        // Keep the terminal open (no end of input) until the test kills it.
        std::thread::sleep(Duration::from_secs(60));
    });
    Ok(child)
}

/// What the terminal showed, without carriage returns and escape sequences (bash's
/// bracketed-paste switches and the like).
fn read_all(child: &mut std::process::Child) -> String {
    use std::io::Read as _;
    let mut raw = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {}
            '\x1b' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() || c == '~' {
                            break;
                        }
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The number a line `NAME=<n>` shows (not the echoed command that printed it).
fn shown(text: &str, name: &str) -> String {
    text.lines()
        .filter_map(|l| l.split(name).nth(1))
        .map(str::trim)
        .find(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn netns_run_it_attach_exec_and_port_forward_work_inside_the_pod() -> anyhow::Result<()> {
    e2e::require_root()?;
    e2e::require("script")?;
    e2e::require("dig")?;
    let seed = e2e::workspace().join("examples/seed").display().to_string();
    let k = Knet::up_netns(&["-f", &seed])?;
    k.kubectl(&["rollout", "status", "deploy/nginx-for-svc", "--timeout=60s"])?;

    let mut run = on_terminal(
        &k,
        "kubectl run -it --image nicolaka/netshoot testnet -- bash",
        &[
            ("\n", 3000),
            ("echo SHELL=$$\n", 300),
            (
                "dig +noall +answer externalname-service.default.svc.cluster.local\n",
                300,
            ),
            (
                "dig +short headless-service.default.svc.cluster.local; echo END-OF-DIG\n",
                500,
            ),
        ],
    )?;
    std::thread::sleep(Duration::from_secs(7));
    // Detach: kubectl goes, the shell stays.
    let _ = run.kill();
    let _ = run.wait();
    let text = read_all(&mut run);
    let shell = shown(&text, "SHELL=");
    assert!(!shell.is_empty(), "no shell answered: {text}");
    assert!(
        text.contains("CNAME"),
        "no CNAME from dig at the pod's prompt: {text}"
    );
    let a: Vec<&str> = text
        .lines()
        .filter(|l| l.trim().parse::<std::net::Ipv4Addr>().is_ok())
        .collect();
    assert_eq!(a.len(), 2, "one A record per ready pod: {text}");

    let mut attach = on_terminal(
        &k,
        "kubectl attach testnet -c testnet -i -t",
        &[("\n", 2000), ("echo AGAIN=$$\n", 300)],
    )?;
    std::thread::sleep(Duration::from_secs(4));
    let _ = attach.kill();
    let _ = attach.wait();
    let text = read_all(&mut attach);
    let again = shown(&text, "AGAIN=");
    assert_eq!(again, shell, "attach should find the same shell: {text}");

    // exec and port-forward run inside the pod's namespaces in this mode.
    let env = k.kubectl(&["exec", "deploy/nginx-for-svc", "--", "env"])?;
    let prefix = k.pod_cidr.trim_end_matches("0/24").to_owned();
    assert!(
        env.lines()
            .any(|l| l.starts_with(&format!("POD_IP={prefix}"))),
        "{env}"
    );
    let resolv = k.kubectl(&[
        "exec",
        "deploy/nginx-for-svc",
        "--",
        "cat",
        "/etc/resolv.conf",
    ])?;
    assert!(resolv.contains("svc.cluster.local"), "{resolv}");
    let port = e2e::free_port()?;
    let mut pf = k
        .command("kubectl")
        .args([
            "port-forward",
            "deploy/nginx-for-svc",
            &format!("{port}:80"),
        ])
        .env("KUBECONFIG", k.kubeconfig())
        .env("HOME", k.dir.path().join("home"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let url = format!("http://127.0.0.1:{port}/netns");
    let answer = eventually(Duration::from_secs(15), || {
        let out = k.command("curl").args(["-s", "-m", "5", &url]).output()?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
    });
    let _ = pf.kill();
    let _ = pf.wait();
    let answer: serde_json::Value = serde_json::from_str(&answer?)?;
    assert_eq!(answer["path"], "/netns");
    assert!(
        answer["pod_ip"]
            .as_str()
            .is_some_and(|ip| ip.starts_with(&prefix)),
        "{answer}"
    );
    Ok(())
}
